"""What a NOTIFY inside a transaction costs its commit: writers updating rows of their own,
each transaction with nothing more, with one more plain statement, or with a `pg_notify`
(PostgreSQL serializes the commits of notifying transactions). Commits a second, each
variant twice, interleaved; a listener takes the notifications.

    python -m bench.notify_commits --database-url postgresql://... [--writers 8] [--seconds 4]

Measure on a cluster with fsync on (scripts/with-postgres does by default): the serialized
part of a notifying commit includes its WAL flush.
"""

from __future__ import annotations

import argparse
import threading
import time

import psycopg

VARIANTS = {
    "none": None,
    "select": "SELECT %s::text",
    "notify": "SELECT pg_notify('runnerhub_bench', %s)",
}


def run(url: str, extra: str | None, writers: int, seconds: float) -> float:
    done = [0] * writers
    stop = time.monotonic() + seconds

    def work(index: int) -> None:
        with psycopg.connect(url) as conn:
            while time.monotonic() < stop:
                conn.execute("UPDATE bench_notify SET n = n + 1 WHERE id = %s", (index + 1,))
                if extra is not None:
                    conn.execute(extra, (f"writer {index} {done[index]}",))  # type: ignore[arg-type]
                conn.commit()
                done[index] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    url = args.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_notify")
        conn.execute("CREATE TABLE bench_notify (id int PRIMARY KEY, n int NOT NULL)")
        conn.execute("INSERT INTO bench_notify SELECT g, 0 FROM generate_series(1, 256) g")
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN runnerhub_bench")
        for _ in range(2):
            for name, extra in VARIANTS.items():
                rate = run(url, extra, args.writers, args.seconds)
                print(f"{name}: {rate:.0f} commits/s", flush=True)
                for _ in listener.notifies(timeout=0.1):
                    pass
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_notify")


if __name__ == "__main__":
    main()
