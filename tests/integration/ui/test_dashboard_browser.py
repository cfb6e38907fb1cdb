"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

``studentops dashboard`` runs on a free loopback port over a small trained model (a few
seconds of training) in its own state folder. The test opens every page, uploads a CSV,
checks the ranked list and one student's reasons against the list the server saved, uses the
what-if form, screenshots each page into the test's temporary folder, fails on any error the
page shows, and prints how long a 10,000-student risk list takes from opening to a visible
table (target: under 3 s; a figure, not an assertion: the machine may be loaded).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from loopback import free_port, running_server

from studentops.config import load_settings

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PROFILE = "student-performance"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def state(
    tmp_path_factory: pytest.TempPathFactory, mlflow_ready: Callable[[Path], Path]
) -> dict[str, Path]:
    """A state folder with a champion (tiny training budget) and two files to upload."""
    from studentops import tracking
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort, write_cohort
    from studentops.registry import models
    from studentops.training.pipeline import train_and_register

    root = tmp_path_factory.mktemp("dashboard")
    home = mlflow_ready(root / "state")
    settings = load_settings(home=home, config_file=root / "none.yaml")
    profile = load_profile(PROFILE)
    cohort = write_cohort(generate_cohort(profile, rows=600, seed=5), root / "cohort.csv")
    train_and_register(profile, cohort, settings=settings, time_budget_s=4, seed=5)
    models.promote(tracking.client_for(settings), PROFILE, margin=0.0, max_gap=1.0)
    files = {}
    for name, rows, seed in (("new-term.csv", 200, 6), ("whole-school.csv", 10_000, 7)):
        frame = generate_cohort(profile, rows=rows, seed=seed).drop(columns=["GradeClass", "GPA"])
        files[name] = write_cohort(frame, root / name)
    return {"root": root, "home": home, **files}


@pytest.fixture(scope="module")
def dashboard(state: dict[str, Path]) -> Iterator[str]:
    """``studentops dashboard`` on a free loopback port; yields its URL."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    port = free_port()
    env = dict(os.environ)
    env.update(
        STUDENTOPS_HOME=str(state["home"]),
        STUDENTOPS_CONFIG=str(state["root"] / "none.yaml"),
        STUDENTOPS_SERVE_PROFILE=PROFILE,
    )
    studentops = Path(sys.executable).with_name("studentops")
    argv = [str(studentops), "dashboard", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with running_server(
        argv, folder=state["root"], ready=f"{url}/_stcore/health", name="dashboard", env=env
    ):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _settle(page: Any, timeout_ms: int = 180_000) -> None:
    """Wait until the script run finished and nothing shows an error."""
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    page.wait_for_timeout(300)  # let the last elements render
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    errors = page.locator(ERRORS)
    if errors.count():
        pytest.fail(f"the page shows an error: {errors.first.inner_text()}")
    assert page.get_by_text("Page not found").count() == 0


def _markdown(page: Any, start: str) -> str:
    """The text of the markdown block that contains ``start``."""
    block = page.locator('[data-testid="stMarkdownContainer"]', has_text=start).first
    return str(block.inner_text())


def _shot(page: Any, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _upload(page: Any, path: Path, rows: int) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_text(f"{rows:,} students shown").wait_for(timeout=300_000)
    _settle(page)


def test_every_page_in_chromium(
    dashboard: str, browser: Any, state: dict[str, Path], tmp_path: Path
) -> None:
    from studentops.ui.risklist import latest_list

    settings = load_settings(home=state["home"], config_file=state["root"] / "none.yaml")
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    crashes: list[str] = []  # uncaught JavaScript errors: a page that broke without saying so
    page.on("pageerror", lambda exc: crashes.append(str(exc)))

    # Risk list: nothing yet, then an uploaded CSV scored, ranked, with reasons.
    page.goto(f"{dashboard}/")
    _settle(page)
    page.get_by_text("No risk list yet").wait_for()
    _upload(page, state["new-term.csv"], 200)
    saved = latest_list(settings, PROFILE)
    assert saved is not None and saved.info.accepted == 200
    top = saved.table.iloc[0]
    assert top["risk_pct"] == saved.table["risk_pct"].max()
    most = _markdown(page, "Most at risk:")
    expected = f"{top['student']} ({top['risk_pct']:.0f}%, {top['band']})"
    assert expected in most[:60], (expected, most[:200])
    assert top["why"] and top["why"] in most
    assert page.locator('[data-testid="stDataFrame"]').is_visible()
    assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 1
    _shot(page, tmp_path, "risk-list")

    # Student: the top student's risk and reasons, then a what-if.
    page.goto(f"{dashboard}/student")
    _settle(page)
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    assert values[0] == f"{top['risk_pct']:.1f}%"
    why = _markdown(page, "Raises the risk:")
    first_feature = top["why"].split(" ")[0]
    assert first_feature in why and "points" in why
    assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 1
    assert page.get_by_label("Gender").count() == 0  # not a lever
    absences = page.get_by_label("Absences", exact=True)
    absences.fill("0" if int(float(top["Absences"])) > 0 else "25")
    absences.press("Tab")
    page.get_by_role("button", name="See the risk with these answers").click()
    page.get_by_text("Risk with these answers").wait_for(timeout=120_000)
    _settle(page)
    assert "percentage points" in page.locator('[data-testid="stMetricDelta"]').inner_text()
    _shot(page, tmp_path, "student")

    # Models: versions with aliases and the held-out reports.
    page.goto(f"{dashboard}/models")
    _settle(page)
    page.get_by_text("Held-out metrics").wait_for()
    assert page.get_by_role("tab", name="ROC curve").count() == 1
    assert page.get_by_text("no admin keys are configured").count() == 1
    page.get_by_role("tab", name="Calibration").click()
    _settle(page)
    _shot(page, tmp_path, "models")

    # Monitoring: the upload was logged (predictions per day); no check, alert or report yet.
    page.goto(f"{dashboard}/monitoring")
    _settle(page)
    assert page.get_by_text("No data yet").count() == 4
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 1
    _shot(page, tmp_path, "monitoring")

    # A whole school: upload 10,000 students, then time a fresh open of the list.
    page.goto(f"{dashboard}/")
    _settle(page)
    _upload(page, state["whole-school.csv"], 10_000)
    # Cold: a new browser profile (the app's scripts not cached); warm: the same profile again.
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    timings = []
    for _ in range(2):
        fresh = context.new_page()
        started = time.perf_counter()
        fresh.goto(f"{dashboard}/")
        fresh.locator('[data-testid="stDataFrame"] canvas').first.wait_for(state="visible")
        timings.append(time.perf_counter() - started)
        _settle(fresh)
        assert fresh.get_by_text("10,000 students shown").count() == 1
        shot = _shot(fresh, tmp_path, "risk-list-10000")
        fresh.close()
    context.close()
    load = os.getloadavg()
    print(
        f"\n10,000-student risk list: table visible {timings[0]:.2f} s after opening in a new "
        f"browser profile, {timings[1]:.2f} s with the app's scripts cached (target < 3 s); "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; screenshots in {tmp_path}"
    )
    keep = os.environ.get("STUDENTOPS_SCREENSHOT_DIR")
    if keep:  # docs/img is refreshed from here
        Path(keep).mkdir(parents=True, exist_ok=True)
        for png in tmp_path.glob("*.png"):
            shutil.copy(png, Path(keep) / png.name)
    assert shot.is_file()
    assert not crashes, crashes
    page.close()
