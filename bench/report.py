"""The benchmark's table (Markdown, for the README) and chart (PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def table(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"runnerhub benchmark — {meta['date']}, commit {meta['commit']}, Python "
        f"{meta['python']}, {meta['cpus']} CPUs; server pinned to one core, wrk -c32 on "
        f"the other; median of {meta['rounds']} interleaved rounds of {meta['seconds']} s",
        "",
    ]
    if "read" in results:
        read = results["read"]
        lines += [
            "**Read** `GET /orgs/acme/actions/runners?per_page=30` (30 runners, 4 labels each)",
            "",
            "| server | req/s (min–max) | p50 ms | p99 ms |",
            "|---|---|---|---|",
        ]
        for name in ("runnerhub", "ceiling", "prism"):
            if name in read:
                r = read[name]
                lines.append(
                    f"| {name} | {r['rps']:.0f} ({r['rps_min']:.0f}–{r['rps_max']:.0f}) "
                    f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
                )
        lines.append("")
        lines.append(
            f"runnerhub/ceiling = **{read['runnerhub/ceiling']:.2f}**"
            + (
                f", runnerhub/Prism = **{read['runnerhub/prism']:.2f}**"
                if "runnerhub/prism" in read
                else ""
            )
        )
        lines.append("")
    if "logging" in results:
        lines += _logging_table(results["logging"])
    if "scale" in results:
        lines += _scale_table(
            "**Scale** — the same request with N runners in the organization", results["scale"]
        )
    if "groups" in results:
        lines += _scale_table(
            "**Runner groups** — `GET /orgs/{org}/actions/runner-groups/{id}/runners"
            "?per_page=30` with N runners in the group",
            results["groups"],
        )
    if "writes" in results:
        lines += [
            "**Writes** (req/s, p99 ms)",
            "",
            "| operation | " + " | ".join(results["writes"]) + " |",
            "|---|" + "---|" * len(results["writes"]),
        ]
        first = next(iter(results["writes"].values()))
        for op in first:
            cells = [
                f"{db[op]['rps']:.0f} ({db[op]['p99_ms']:.0f})" for db in results["writes"].values()
            ]
            lines.append(f"| {op} | " + " | ".join(cells) + " |")
        lines.append("")
    if "agents" in results:
        a = results["agents"]
        lines += [
            "**Agents** — simulated agents holding long-poll sessions on one server process",
            "",
            "| agents | peak online | registrations/s | poll p99 beyond the hold, ms "
            "| failures | peak RSS MiB |",
            "|---|---|---|---|---|---|",
            f"| {a['agents']} | {a['peak_online']} | {a['registrations_per_s']:.0f} | "
            f"{a['poll_overhead_p99_ms']:.0f} | {a['failures']} | {a['peak_rss_mib']:.0f} |",
            "",
        ]
    if "jobs" in results:
        lines += _jobs_table(results["jobs"])
    return "\n".join(lines)


def _scale_table(title: str, scale: dict[str, Any]) -> list[str]:
    lines = [title, "", "| runners | page | req/s | p50 ms | p99 ms |", "|---|---|---|---|---|"]
    for key, r in scale.items():
        if ":" in key:
            size, page = key.split(":")
            lines.append(
                f"| {int(size):,} | {page} | {r['rps']:.0f} | {r['p50_ms']:.1f} "
                f"| {r['p99_ms']:.1f} |"
            )
    lines.append("")
    lines += [f"{k} = **{v:.2f}**" for k, v in scale.items() if ":" not in k]
    lines.append("")
    return lines


def _jobs_table(by_db: dict[str, Any]) -> list[str]:
    names = list(by_db)
    head = "| | " + " | ".join(names) + " |"
    rule = "|---|" + "---|" * len(names)
    first = next(iter(by_db.values()))
    lat = first["latency"]
    lines = [
        f"**Jobs: dispatch → started** — `POST .../dispatches` of a one-job no-op workflow, "
        f"one at a time, until a pending long poll of one of {lat['agents']} idle agents "
        f"answers with the job",
        "",
        head,
        rule,
    ]
    rows = (
        ("dispatches started", lambda d: f"{d['started']}/{d['dispatches']}"),
        ("p50 ms", lambda d: f"{d['p50_ms']:.1f}"),
        ("p99 ms", lambda d: f"{d['p99_ms']:.1f}"),
        ("max ms", lambda d: f"{d['max_ms']:.1f}"),
        ("dispatch response p50 ms", lambda d: f"{d['dispatch_response_p50_ms']:.1f}"),
        ("failures", lambda d: str(d["failures"])),
    )
    for label, cell in rows:
        lines.append(
            f"| {label} | " + " | ".join(cell(d["latency"]) for d in by_db.values()) + " |"
        )
    tp = first["throughput"]
    lines += [
        "",
        f"**Jobs: throughput** — {tp['dispatches']} dispatches of a {tp['matrix']}-job matrix "
        f"of no-op jobs, taken by {tp['agents']} agents (poll → start → complete)",
        "",
        head,
        rule,
    ]
    rows = (
        ("jobs completed (agents)", lambda d: f"{d['agent_completed']:,}"),
        ("jobs/s", lambda d: f"{d['jobs_per_s']:.0f}" + (" (time limit)" if d["timed_out"] else "")),
        ("wall s (dispatching s)", lambda d: f"{d['elapsed_s']:.1f} ({d['dispatch_s']:.1f})"),
        ("jobs in db: status", lambda d: _counts(d["db_status"])),
        ("runs in db", lambda d: _counts(d["db_runs"])),
        ("delivered / started twice", lambda d: f"{len(d['delivered_twice'])} / "
                                                 f"{len(d['started_twice'])}"),
        ("runners still holding a job", lambda d: str(d["runners_still_holding_a_job"])),
        ("jobs per agent (min–max)", lambda d: f"{d['idlest_agent']}–{d['busiest_agent']}"),
        ("failures", lambda d: str(d["failures"])),
    )  # fmt: skip
    for label, cell in rows:
        lines.append(
            f"| {label} | " + " | ".join(cell(d["throughput"]) for d in by_db.values()) + " |"
        )
    lines += [
        "",
        "**Runs list** `GET /repos/{o}/{r}/actions/runs?per_page=30` by runs in the repository "
        "(req/s, p50 ms, p99 ms)",
        "",
        head,
        rule,
    ]
    for key in first["runs_list"]:
        cells = []
        for d in by_db.values():
            r = d["runs_list"][key]
            cells.append(
                f"**{r:.2f}**" if isinstance(r, float)
                else f"{r['rps']:.0f}, {r['p50_ms']:.1f}, {r['p99_ms']:.1f}"
            )  # fmt: skip
        label = f"{int(key):,} runs" if key.isdigit() else "p99 100,000/100"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none"


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [key for key in ("read", "scale", "writes") if key in results]
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        if key == "read":
            names = [n for n in ("runnerhub", "ceiling", "prism") if n in results["read"]]
            ax.bar(names, [results["read"][n]["rps"] for n in names], color="#4c72b0")
            ax.set_title("read: req/s (per_page=30)")
        elif key == "scale":
            keys = [k for k in results["scale"] if ":" in k]
            ax.bar(
                [k.replace(":", "\n") for k in keys],
                [results["scale"][k]["p99_ms"] for k in keys],
                color="#55a868",
            )
            ax.set_title("scale: p99 ms by runners and page")
            ax.tick_params(axis="x", labelsize=7)
        else:
            writes = results["writes"]
            ops = list(next(iter(writes.values())))
            width = 0.8 / len(writes)
            for i, (db, runs) in enumerate(writes.items()):
                ax.bar(
                    [x + i * width for x in range(len(ops))],
                    [runs[o]["rps"] for o in ops],
                    width,
                    label=db,
                )
            ax.set_xticks([x + width / 2 for x in range(len(ops))], ops, fontsize=7)
            ax.set_title("writes: req/s")
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _logging_table(logging: dict[str, Any]) -> list[str]:
    lines = [
        "**Access log** — the read above, on three servers side by side: access log off, "
        "JSON lines, text lines (each to a file)",
        "",
        "| access log | req/s (min–max) | p50 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    for name in ("access log off", "json", "text"):
        r = logging[name]
        lines.append(
            f"| {name} | {r['rps']:.0f} ({r['rps_min']:.0f}–{r['rps_max']:.0f}) "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
        )
    lines += [
        "",
        f"json/off = **{logging['json/off']:.3f}**, text/off = **{logging['text/off']:.3f}** "
        f"({logging['log lines']:,} access lines written)",
        "",
    ]
    return lines
