"""`studentops outcomes` and `studentops monitor` on every seed profile, from the embedded
defaults (SQLite log, file MLflow store) and from a real PostgreSQL server.

One tiny model per profile (a 1-second budget on 300 generated students) is trained, made
champion, scores 240 students through the batch scorer (which logs them), and the CLI records
their outcomes and runs the check. Regression profiles get predicted-value drift and RMSE/MAE.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from studentops.cli import main
from studentops.config import load_settings
from studentops.datasets.profile import Profile, builtin_profile_names, load_profile

pytestmark = [pytest.mark.integration]

PROFILES = sorted(builtin_profile_names())
N_SCORED = 240


class Cli:
    """The real entry point in-process (exit code, stdout, stderr), as a user runs it."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        out = self.capsys.readouterr()
        return int(exited.value.code or 0), out.out, out.err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Runs ``studentops ...``; wide lines, so a message is never wrapped by the console."""
    monkeypatch.setenv("COLUMNS", "200")
    return Cli(capsys)


@pytest.fixture(scope="module")
def champions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Per profile, a state folder holding an MLflow store with a champion (trained once)."""
    yield {}


def _champion(
    name: str,
    cache: dict[str, Path],
    factory: pytest.TempPathFactory,
    mlflow_ready: Callable[[Path], Path],
) -> Path:
    if name in cache:
        return cache[name]
    from studentops.datasets.synthetic import generate_cohort
    from studentops.registry.models import make_champion
    from studentops.tracking import client_for
    from studentops.training.pipeline import train_and_register

    home = mlflow_ready(factory.mktemp(f"home-{name}"))
    settings = load_settings(config_file=home / "none.yaml", home=home)
    profile = load_profile(name)
    data = home / "train.csv"
    generate_cohort(profile, 300, seed=1).to_csv(data, index=False)
    outcome = train_and_register(name, data, settings=settings, time_budget_s=1, seed=1)
    assert outcome.version is not None
    make_champion(client_for(settings), name, outcome.version.version, by="test")
    cache[name] = home
    return home


def _current(profile: Profile, folder: Path) -> tuple[Path, Path]:
    """A scored cohort (with ids) and its outcomes file (ids, target, sensitive columns)."""
    from studentops.datasets.synthetic import generate_cohort

    cohort = generate_cohort(profile, N_SCORED, seed=5)
    ids = [f"stu-{i}" for i in range(len(cohort))]  # one per student, as a school assigns them
    if "student_id" in cohort.columns:
        cohort["student_id"] = ids
    else:
        cohort.insert(0, "student_id", ids)
    target = profile.target.column
    scored = folder / "term.csv"
    cohort.drop(columns=[target]).to_csv(scored, index=False)
    keep = ["student_id", target, *[c for c in profile.sensitive if c in cohort.columns]]
    outcomes = folder / "outcomes.csv"
    cohort[keep].to_csv(outcomes, index=False)
    return scored, outcomes


@pytest.mark.parametrize("store", ["embedded", "postgres"])
@pytest.mark.parametrize("name", PROFILES)
def test_outcomes_and_monitor_on_every_profile(
    name: str,
    store: str,
    champions: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    cli: Cli,
    mlflow_ready: Callable[[Path], Path],
) -> None:
    from studentops.serving.batch import score_file

    home = _champion(name, champions, tmp_path_factory, mlflow_ready)
    profile = load_profile(name)
    monkeypatch.setenv("STUDENTOPS_HOME", str(home))
    monkeypatch.setenv("STUDENTOPS_CONFIG", str(home / "none.yaml"))
    monkeypatch.setenv("STUDENTOPS_MONITOR_MIN_ROWS", "100")
    if store == "postgres":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("STUDENTOPS_PREDICTION_LOG_URL", url)
    else:
        monkeypatch.setenv("STUDENTOPS_PREDICTION_LOG_URL", f"sqlite:///{tmp_path / 'log.db'}")
    settings = load_settings()
    scored, outcomes = _current(profile, tmp_path)
    summary = score_file(name, scored, tmp_path / "ranked.csv", settings=settings)
    assert summary.logged == N_SCORED

    code, out, err = cli("outcomes", "--profile", name, "--data", str(outcomes))
    assert code == 0, err
    assert f"stored {N_SCORED} outcomes" in out

    code, out, err = cli("monitor", "--profile", name, "--json")
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    assert result["n_rows"] == N_SCORED and result["verdict"]["status"] in ("ok", "drift")
    assert {f["feature"] for f in result["features"]} == set(profile.feature_columns)
    overall = {m["metric"]: m for m in result["metrics"] if m["group_column"] is None}
    predicted = {p["feature"] for p in result["prediction"]}
    if profile.task == "regression":
        assert {"rmse", "mae"} <= set(overall), overall
        assert "predicted_value" in predicted
    else:
        assert {"recall", "ece", "brier"} <= set(overall), overall
        assert "prediction" in predicted
    assert all(m["n"] > 0 for m in overall.values())
    assert result["target"] is not None and result["target"]["n"] == N_SCORED
    if store == "embedded":  # the printed verdict (the same code path for both stores)
        code, out, err = cli("monitor", "--profile", name)
        assert code == 0 and "report:" in out, out + err


def test_a_champion_without_reference_is_backfilled(
    champions: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
    mlflow_ready: Callable[[Path], Path],
) -> None:
    """A champion registered before reference profiles existed: `monitor` says so in one
    line with the command, `backfill-reference` builds it from the training file."""
    from urllib.parse import urlparse

    from studentops.registry.models import CHAMPION, registered_model_name, version_by_alias
    from studentops.tracking import client_for

    name = "student-performance"
    home = _champion(name, champions, tmp_path_factory, mlflow_ready)
    monkeypatch.setenv("STUDENTOPS_HOME", str(home))
    monkeypatch.setenv("STUDENTOPS_CONFIG", str(home / "none.yaml"))
    monkeypatch.setenv("STUDENTOPS_PREDICTION_LOG_URL", f"sqlite:///{tmp_path / 'log.db'}")
    client = client_for(load_settings())
    champion = version_by_alias(client, registered_model_name(name), CHAMPION)
    assert champion is not None and champion.run_id
    artifacts = Path(urlparse(client.get_run(champion.run_id).info.artifact_uri).path)
    (artifacts / "monitoring" / "reference.json").unlink()  # as registered before monitoring

    code, out, err = cli("monitor", "--profile", name)
    line = err.strip()
    assert code == 2 and not out, out
    assert "\n" not in line and "no reference profile" in line, err
    assert f"studentops backfill-reference --profile {name} --data" in line

    train = home / "train.csv"
    code, out, err = cli("backfill-reference", "--profile", name, "--data", str(train))
    assert code == 0, err
    assert f"v{champion.version}" in out and "300 rows" in out
    code, out, err = cli("backfill-reference", "--profile", name, "--data", str(train))
    assert code == 2 and "already has a reference" in err

    scored, _ = _current(load_profile(name), tmp_path)
    code, out, err = cli("monitor", "--profile", name, "--data", str(scored), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["n_reference"] == 300 and result["verdict"]["status"] in ("ok", "drift")
