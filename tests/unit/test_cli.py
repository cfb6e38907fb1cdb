"""The CLI as a user meets it: a subprocess, one clear line on error, non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .datasets.conftest import make_perf_frame


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "studentops", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_help_on_every_command() -> None:
    for args in (["--help"], ["profile", "--help"], ["validate", "--help"]):
        res = run(*args)
        assert res.returncode == 0, res.stderr
        assert "Usage" in res.stdout


def test_validate_reports_rejects_and_writes_file(tmp_path: Path, home: Path) -> None:
    frame = make_perf_frame(20)
    frame.loc[4, "Age"] = "old"
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    rejects = tmp_path / "rejects.csv"
    res = run(
        "validate",
        "-p",
        "student-performance",
        "-d",
        str(data),
        "--rejects",
        str(rejects),
        "--json",
    )
    assert res.returncode == 0, res.stderr
    assert '"rejected": 1' in res.stdout
    assert "5,Age,old,wrong type (expected integer)" in rejects.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "-p", "nope", "-d", "x.csv"], "error: unknown profile 'nope'"),
        (["validate", "-p", "student-performance", "-d", "missing.csv"], "error: file not found"),
        (["profile", "show", "nope.yaml"], "error: profile file not found"),
    ],
)
def test_user_errors_are_one_line(args: list[str], message: str, home: Path) -> None:
    res = run(*args)
    assert res.returncode == 2
    assert res.stderr.startswith(message)
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr


def test_train_input_errors_come_before_any_progress(tmp_path: Path, home: Path) -> None:
    data = tmp_path / "grades.csv"
    make_perf_frame(60).to_csv(data, index=False)
    res = run("train", "-p", "student-performance", "-d", str(data), "--metric", "r2")
    assert res.returncode == 2
    assert res.stdout == ""  # no progress display (nor summary) before the error
    assert res.stderr.startswith("error: metric 'r2' does not apply to a multiclass task")
    assert len(res.stderr.strip().splitlines()) == 1


def test_validate_without_the_target_points_to_no_target(tmp_path: Path, home: Path) -> None:
    data = tmp_path / "to-score.csv"
    make_perf_frame(10).drop(columns=["GradeClass", "GPA"], errors="ignore").to_csv(
        data, index=False
    )
    res = run("validate", "-p", "student-performance", "-d", str(data))
    assert res.returncode == 2
    assert res.stderr.strip() == (
        "error: no target: column 'GradeClass' is missing "
        "(use --no-target to validate data to score)"
    )
    assert (
        run("validate", "-p", "student-performance", "-d", str(data), "--no-target").returncode == 0
    )


def test_profile_show_and_infer(tmp_path: Path) -> None:
    res = run("profile", "show", "exams-math")
    assert res.returncode == 0 and "math_score" in res.stdout
    data = tmp_path / "d.csv"
    make_perf_frame(30).to_csv(data, index=False)
    out = tmp_path / "draft.yaml"
    res = run("profile", "infer", str(data), "--name", "draft", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert run("validate", "-p", str(out), "-d", str(data)).returncode == 0


def test_a_bad_option_value_is_one_line(home: Path) -> None:
    res = run("train", "-p", "student-performance", "--time-budget", "0.5")
    assert res.returncode == 2
    assert res.stderr.startswith("error: Invalid value for '--time-budget'")
    assert len(res.stderr.strip().splitlines()) == 1 and "╭" not in res.stderr


def test_profile_list_fits_80_columns(home: Path) -> None:
    import os

    from studentops.datasets.profile import builtin_profile_names

    res = subprocess.run(
        [sys.executable, "-m", "studentops", "profile", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert res.returncode == 0, res.stderr
    assert max(len(line) for line in res.stdout.splitlines()) <= 80
    names = {line.split()[0] for line in res.stdout.splitlines() if line.strip()}
    assert set(builtin_profile_names()) <= names  # whole names, never cut


def test_train_as_of_week_says_the_week(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from studentops.cli import _register_parts, app
    from studentops.errors import DataError
    from studentops.training import commands, pipeline

    def stop(*args: object, **kwargs: object) -> None:
        raise DataError("stopped after the week line")

    monkeypatch.setattr(commands, "_weekly_file", lambda *a: tmp_path / "week-6.parquet")
    monkeypatch.setattr(pipeline, "train_and_register", stop)
    _register_parts()
    result = CliRunner().invoke(
        app, ["train", "-p", "oulad-pass", "--as-of-week", "6", "--time-budget", "1"]
    )
    assert isinstance(result.exception, DataError)
    assert "as of week 6: features from events before day 42" in result.output


def test_the_process_ends_without_teardown_yet_flushes_and_runs_atexit() -> None:
    code = (
        "import atexit, sys\n"
        "from studentops.cli import end_process\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "print('output', end=' ')\n"
        "sys.stderr.write('err')\n"
        "end_process(3)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (res.returncode, res.stdout, res.stderr) == (3, "output atexit ran\n", "err")


def test_a_live_worker_thread_gets_the_normal_exit_that_joins_it() -> None:
    code = (
        "import threading, time\n"
        "from studentops.cli import end_process\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('joined'))).start()\n"
        "end_process(0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (res.returncode, res.stdout) == (0, "joined\n")
