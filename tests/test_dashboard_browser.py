"""The dashboard end to end in headless Chromium (Debian's package, driven by Playwright)
against the real server process: sign in, add a runner with the commands the page shows and
see it come online, watch its job, be refused removing it while busy (GitHub's 422), then
remove runners. Screenshots of the pages go to the test's directory, or with
RUNNERHUB_UPDATE_SCREENSHOTS=1 to docs/screenshots/ (what the README shows).

Skipped when Chromium or Playwright is missing (scripts/test installs Chromium with apt-get).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runnerhub.testing import Runnerhub, eventually

CHROMIUM = os.environ.get("RUNNERHUB_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

SLOW = """\
name: Build
on: workflow_dispatch
jobs:
  build:
    runs-on: [self-hosted, linux]
    steps:
      - run: echo "building on $RUNNER_NAME"
      - run: sleep 8
      - run: echo done
"""

pytestmark = pytest.mark.e2e


@pytest.fixture
def page() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1100, "height": 720})
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    if os.environ.get("RUNNERHUB_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path


def _shot(page: Any, shots: Path, name: str) -> None:
    """A small PNG of the page (the part above the fold)."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=False)


def _row(page: Any, name: str) -> Any:
    return page.locator(f'tr[data-runner="{name}"]')


def _until_row_says(page: Any, name: str, text: str, timeout: float = 60) -> None:
    def shown() -> str:
        page.reload()
        row = _row(page, name)
        return str(row.inner_text()) if row.count() else ""

    eventually(shown, lambda seen: text in seen, timeout, f"{name} {text}")


def test_sign_in_add_a_runner_watch_it_and_remove_it(
    runnerhub: Runnerhub, page: Any, shots: Path
) -> None:
    site = runnerhub.seed(org="acme", repo="widgets", user="mona")
    with site.api() as api:  # a runner made ahead, whose agent never started: offline
        made = api.post(
            "/orgs/acme/actions/runners/generate-jitconfig",
            json={"name": "gpu-01", "runner_group_id": 1, "labels": ["self-hosted", "gpu"]},
        )
    assert made.status_code == 201, made.text

    page.goto(runnerhub.url + "/")  # a browser at the root lands on the sign-in form
    assert page.url.startswith(runnerhub.url + "/dashboard/sign-in")
    assert page.get_by_role("heading", name="Sign in to runnerhub").is_visible()
    _shot(page, shots, "sign-in")
    page.get_by_label("Personal access token").fill("ghp_" + "0" * 36)
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Bad credentials"
    page.get_by_label("Personal access token").fill(site.token)
    page.keyboard.press("Enter")  # keyboard only
    page.get_by_role("link", name="acme", exact=True).click()
    assert page.get_by_role("heading", name="Self-hosted runners").is_visible()

    page.get_by_role("button", name="New self-hosted runner").click()
    assert page.get_by_role("heading", name="Add a self-hosted runner").is_visible()
    _shot(page, shots, "add-runner")
    command = page.locator("#cmd-config").inner_text()
    token = page.get_by_label("Registration token").input_value()
    assert command == f"runnerhub-agent config --url {runnerhub.url}/acme --token {token}"
    assert page.locator("#cmd-run").inner_text() == "runnerhub-agent run"
    # The page's own command, as an operator would paste it (plus a name).
    directory = runnerhub.workdir / "agents" / "build-01"
    configured = runnerhub._agent(
        directory, *command.split()[1:], "--name", "build-01", "--labels", "docker"
    )
    assert configured.returncode == 0, configured.stdout + configured.stderr
    runnerhub._run("build-01", directory)

    tabs = page.get_by_role("navigation", name="acme")
    tabs.get_by_role("link", name="Runners").click()
    _until_row_says(page, "build-01", "Idle")
    row = _row(page, "build-01")
    assert "docker" in row.inner_text()
    assert "Offline" in _row(page, "gpu-01").inner_text()
    _shot(page, shots, "runners")

    runnerhub.put_workflow(site, "build.yml", SLOW)
    runnerhub.dispatch(site, "build.yml")
    _until_row_says(page, "build-01", "Active")
    page.once("dialog", lambda dialog: dialog.accept())
    _row(page, "build-01").get_by_role("button", name="Remove build-01").click()
    assert "is still running a job" in page.get_by_role("alert").inner_text()
    assert _row(page, "build-01").count() == 1

    tabs.get_by_role("link", name="Jobs").click()
    assert "In progress" in page.locator("#jobs").inner_text()
    _shot(page, shots, "jobs")
    page.get_by_role("link", name="build", exact=True).click()
    eventually(
        lambda: (page.reload(), page.locator("pre.log").inner_text())[1],
        lambda log: "building on build-01" in log, 30, "the job's log",
    )  # fmt: skip
    _shot(page, shots, "job-log")

    page.goto(runnerhub.url + "/dashboard/orgs/acme/runners")
    page.once("dialog", lambda dialog: dialog.accept())
    _row(page, "gpu-01").get_by_role("button", name="Remove gpu-01").click()
    assert "Runner gpu-01 was removed." in page.get_by_role("status").inner_text()
    assert _row(page, "gpu-01").count() == 0
    _until_row_says(page, "build-01", "Idle", timeout=60)  # its job done
    page.once("dialog", lambda dialog: dialog.accept())
    _row(page, "build-01").get_by_role("button", name="Remove build-01").click()
    assert _row(page, "build-01").count() == 0
    assert page.get_by_role("heading", name="No runners yet").is_visible()

    page.get_by_role("button", name="Sign out").click()
    assert page.get_by_role("heading", name="Sign in to runnerhub").is_visible()


def test_screenshots_are_small() -> None:
    """The README shows them: kept in the repository, and small."""
    shots = sorted(SCREENSHOTS.glob("*.png"))
    assert {shot.stem for shot in shots} >= {"sign-in", "runners", "add-runner"}
    for shot in shots:
        assert shot.stat().st_size < 200_000, shot
