"""MLflow tracking: one experiment per profile, a parent run per training, a child run per trial.

The default store is the SQLite file under ``settings.home`` (no server); pointing
``settings.tracking_uri`` at an MLflow server changes nothing else. MLflow is imported inside
functions because importing it takes seconds and the CLI must start fast.

SQLite commits cost tens of milliseconds each and a trial needs three calls (create, log one
batch, terminate), so trials are logged by a background thread while the search runs rather
than one after another at the end.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from studentops.config import Settings
from studentops.databases import with_installed_driver
from studentops.json_values import to_json_safe

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from studentops.datasets.profile import Profile

log = logging.getLogger(__name__)

PARENT_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
_MAX_PARAM = 6000
_BAD_KEY = re.compile(r"[^\w\-. /]")


class LoggedTrial(Protocol):
    """What a trial's run reads of a search trial: the fields of
    :class:`studentops.training.result.TrialRecord` it logs. Protocols, so that tracking (a
    store) does not import training, the layer above it (docs/architecture.md)."""

    @property
    def number(self) -> int:
        """Optuna trial number, unique within the study."""
        ...

    @property
    def algorithm(self) -> str:
        """Candidate algorithm, e.g. ``lightgbm``."""
        ...

    @property
    def params(self) -> Mapping[str, Any]:
        """Hyperparameters of the trial."""
        ...

    @property
    def cv_score(self) -> float | None:
        """Mean validation-fold score (the metric's units); None unless complete."""
        ...

    @property
    def duration_s(self) -> float:
        """Wall-clock seconds of the trial."""
        ...

    @property
    def state(self) -> str:
        """``complete``, ``pruned``, ``timeout`` or ``failed``."""
        ...


class LoggedTraining(Protocol):
    """What the parent run reads of a training run: the fields of
    :class:`studentops.training.result.TrainResult` it logs (see there for their meaning)."""

    @property
    def profile(self) -> Profile:
        """The profile trained for."""
        ...

    @property
    def metric(self) -> str:
        """The selection metric (``f1_macro``, ``roc_auc``, ``r2``...)."""
        ...

    @property
    def algorithm(self) -> str:
        """The final model's algorithm (``ensemble(a+b)`` for an ensemble)."""
        ...

    @property
    def split(self) -> str:
        """The kind of held-out split (stratified, random, group, time)."""
        ...

    @property
    def train_rows(self) -> int:
        """Rows of the training part."""
        ...

    @property
    def test_rows(self) -> int:
        """Rows of the held-out test part."""
        ...

    @property
    def trials(self) -> Sequence[LoggedTrial]:
        """Every trial of the search, in the order they ended."""
        ...

    @property
    def data_fingerprint(self) -> str:
        """Stable hash of the training rows."""
        ...

    @property
    def best_params(self) -> Mapping[str, Any]:
        """Hyperparameters of the final model's main member."""
        ...

    @property
    def cv_score(self) -> float:
        """Out-of-fold score of the final model (the metric's units)."""
        ...

    @property
    def fairness(self) -> Mapping[str, Any]:
        """The fairness report, with ``max_gap`` at the top level."""
        ...

    @property
    def duration_s(self) -> float:
        """Wall-clock seconds of the whole run."""
        ...

    @property
    def artifacts_dir(self) -> Path:
        """The folder of reports (JSON, plots) to log."""
        ...


# Trial states (studentops.training.result.TRIAL_STATES) as MLflow run statuses.
_TRIAL_STATUS = {
    "complete": "FINISHED",
    "pruned": "KILLED",
    "timeout": "KILLED",
    "failed": "FAILED",
}


def quiet_library_logs(*, optuna: bool = False) -> None:
    """Give MLflow and Optuna the CLI's log level (WARNING unless STUDENTOPS_LOG_LEVEL says).

    Both log INFO lines of their own (database migrations, study creation, input example
    checks) that mean nothing to a user. Call before MLflow is imported: it reads its level
    from the environment at import.
    """
    level = os.environ.get("STUDENTOPS_LOG_LEVEL", "WARNING").upper()
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", level)
    if optuna:
        # Optuna resets its logger to INFO when imported, so set it through its own API.
        import optuna as optuna_lib

        optuna_lib.logging.set_verbosity(logging.getLevelName(level))


def tracking_uri(settings: Settings) -> str:
    """The tracking URI with a driver we have installed; creates home for the SQLite default.

    A new home's SQLite database starts as a copy of a migrated empty one
    (:func:`seed_sqlite_store`), so only the first home on a machine pays MLflow's migrations.
    """
    if not settings.tracking_uri:
        seed_sqlite_store(settings.ensure_home() / "mlflow.db", settings)
    return with_installed_driver(settings.mlflow_tracking_uri)


def seed_sqlite_store(db: Path, settings: Settings) -> bool:
    """Create ``db`` as a copy of an empty MLflow database already migrated to this MLflow.

    MLflow builds a new SQLite store by running its whole chain of schema migrations: 4-6 s on a
    quiet 2-core machine and 17-28 s at load 5, all inside the first ``train``'s time budget.
    The migrated empty database is built once per MLflow version in
    ``settings.user_cache()`` (``mlflow-<version>.db``) and copied into each new home. It holds
    no experiment of ours (each profile's experiment is created with its own artifact location,
    :func:`ensure_experiment`), so a copy is as good as a fresh build.

    Args:
        db: the SQLite file a new home would get; left alone when it exists.
        settings: gives the cache folder.

    Returns:
        True when ``db`` was created from the template; False when it existed or the cache
        could not be used (MLflow then builds the database itself, as before).
    """
    if db.exists():
        return False
    import importlib.metadata
    import shutil
    import tempfile

    version = importlib.metadata.version("mlflow")
    template = settings.user_cache() / f"mlflow-{version}.db"
    try:
        if not template.exists():
            template.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=template.parent) as tmp:
                built = Path(tmp) / "mlflow.db"
                _migrated_empty_store(built, Path(tmp) / "artifacts")
                built.replace(template)  # atomic: a concurrent builder's copy is as good
        partial = db.with_name(f".{db.name}.{os.getpid()}.partial")
        shutil.copyfile(template, partial)
        partial.replace(db)
    except OSError as exc:  # a read-only or full cache: not worth failing a command for
        logging.getLogger(__name__).info("MLflow store template not used: %s", exc)
        return False
    return True


def _migrated_empty_store(db: Path, artifacts: Path) -> None:
    """Build an empty MLflow SQLite store at ``db`` (MLflow runs its migrations)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{db.resolve()}", artifacts.resolve().as_uri())
    store.engine.dispose()


def registry_uri(settings: Settings) -> str:
    """The model-registry URI: ``registry_uri`` if set, else the tracking URI (same store)."""
    if settings.registry_uri:
        return with_installed_driver(settings.registry_uri)
    return tracking_uri(settings)


def client_for(settings: Settings) -> MlflowClient:
    """An MlflowClient for ``settings``; also points MLflow's fluent API at the same stores.

    The fluent API (``log_model``, ``load_model``) reads process-wide URIs, so they are set here
    rather than at import time; every entry point goes through this function.
    """
    import mlflow
    from mlflow import MlflowClient

    # A command's stdout is for its own output (tables, --json): no run links, no
    # download bars. setdefault leaves a user's explicit choice alone.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri, reg = tracking_uri(settings), registry_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(reg)
    return MlflowClient(tracking_uri=uri, registry_uri=reg)


def experiment_name(profile_name: str) -> str:
    """The MLflow experiment of a profile: ``studentops/<profile>``."""
    return f"studentops/{profile_name}"


def ensure_experiment(client: MlflowClient, profile_name: str, settings: Settings) -> str:
    """The profile's experiment id, created on first use.

    Artifacts go under ``settings.mlflow_artifact_root`` unless a remote server is used without
    an explicit artifact location, in which case the server decides (proxied artifacts).
    """
    from mlflow.exceptions import MlflowException

    name = experiment_name(profile_name)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    remote = settings.mlflow_tracking_uri.startswith(("http://", "https://"))
    location = None
    if settings.artifact_location or not remote:
        location = f"{settings.mlflow_artifact_root.rstrip('/')}/{profile_name}"
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException:
        # Another process created it between our lookup and create.
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def clean_key(key: str) -> str:
    """MLflow keys allow letters, digits, ``_-. /``; other characters become ``_``."""
    return _BAD_KEY.sub("_", key)[:250]


def param_value(value: Any) -> str:
    """A parameter value as MLflow text (JSON for non-strings), cut to MLflow's 6,000-character
    limit on parameter values (``MAX_PARAM_VAL_LENGTH`` in ``mlflow.utils.validation``).
    """
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:_MAX_PARAM]


def finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Metrics MLflow can store: numbers only, no NaN or infinities."""
    out = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[clean_key(key)] = number
    return out


@dataclass(frozen=True)
class _TrialJob:
    record: LoggedTrial
    end_ms: int


class TrialLogger:
    """Logs each trial as a nested run from a background thread, so the search never waits.

    ``submit`` is called from the search's ``on_trial`` callback; ``close`` waits for the queue
    to drain. A logging failure is reported once and never stops training.
    """

    def __init__(self, client: MlflowClient, experiment_id: str, parent_run_id: str) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.logged: set[int] = set()
        self._queue: queue.Queue[_TrialJob | None] = queue.Queue()
        self._failed = False
        self._thread = threading.Thread(target=self._work, name="trial-logger", daemon=True)
        self._thread.start()

    def submit(self, record: LoggedTrial, end_ms: int | None = None) -> None:
        """Queue a finished trial for the logging thread (``end_ms``: its end, epoch
        milliseconds)."""
        self._queue.put(_TrialJob(record, end_ms or int(time.time() * 1000)))

    def close(self) -> set[int]:
        """Wait for queued trials; returns the numbers of the trials logged."""
        self._queue.put(None)
        self._thread.join()
        return self.logged

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._failed:
                continue
            try:
                log_trial(
                    self.client,
                    self.experiment_id,
                    self.parent_run_id,
                    job.record,
                    job.end_ms,
                )
                self.logged.add(job.record.number)
            except Exception:  # tracking must never break training
                log.warning("could not log trial runs to MLflow", exc_info=True)
                self._failed = True


def log_trial(
    client: MlflowClient,
    experiment_id: str,
    parent_run_id: str,
    record: LoggedTrial,
    end_ms: int,
) -> str:
    """One nested run for one trial: its parameters, CV score and duration, in one batch.

    The score is ``cv_score`` in every run (the metric's name is a parameter of the parent),
    so trials of any metric compare side by side in the MLflow UI.
    """
    from mlflow.entities import Metric, Param, RunTag

    start_ms = end_ms - int(max(record.duration_s, 0.0) * 1000)
    run = client.create_run(
        experiment_id,
        start_time=start_ms,
        tags={
            PARENT_TAG: parent_run_id,
            RUN_NAME_TAG: f"trial-{record.number:03d}",
            "studentops.trial": str(record.number),
            "studentops.algorithm": str(record.algorithm),
            "studentops.trial_state": str(record.state),
        },
    )
    params = {"algorithm": record.algorithm, **{str(k): v for k, v in record.params.items()}}
    metrics = finite({"duration_s": record.duration_s, "cv_score": record.cv_score})
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, v, end_ms, 0) for k, v in metrics.items()],
        params=[Param(clean_key(k), param_value(v)) for k, v in params.items()],
        tags=[RunTag("studentops.trial_number", str(record.number))],
    )
    status = _TRIAL_STATUS.get(str(record.state).lower(), "FAILED")
    client.set_terminated(run.info.run_id, status=status, end_time=end_ms)
    return str(run.info.run_id)


def log_parent_summary(
    client: MlflowClient,
    run_id: str,
    result: LoggedTraining,
    *,
    extra_params: Mapping[str, Any],
    validation: Mapping[str, Any],
) -> None:
    """Parameters, CV score, fairness and lineage of a training run in one batch.

    The test metrics are logged separately with the logged model's id
    (``mlflow.log_metrics(..., model_id=...)`` in
    :func:`studentops.training.pipeline.train_and_register`), so that they are attached to the
    logged model as well as to the run.
    """
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    params: dict[str, Any] = {
        "profile": result.profile.name,
        "task": result.profile.task,
        "metric": result.metric,
        "algorithm": result.algorithm,
        "split": result.split,
        "train_rows": result.train_rows,
        "test_rows": result.test_rows,
        "n_trials": len(result.trials),
        "data_fingerprint": result.data_fingerprint,
        **extra_params,
        **{f"best.{k}": v for k, v in (result.best_params or {}).items()},
    }
    metrics = finite(
        {
            "cv_score": result.cv_score,
            "fairness_max_gap": (result.fairness or {}).get("max_gap"),
            "duration_s": result.duration_s,
            "rows_accepted": validation.get("accepted"),
            "rows_rejected": validation.get("rejected"),
        }
    )
    tags = {
        "studentops.profile": result.profile.name,
        "studentops.data_fingerprint": result.data_fingerprint,
        "studentops.algorithm": result.algorithm,
        "studentops.metric": result.metric,
    }
    # Undefined (NaN) test metrics are not logged as numbers (``finite`` skips them); say why.
    undefined = getattr(result, "undefined_reason", None)
    if undefined:
        tags["studentops.test_metrics_undefined"] = undefined
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
        params=[Param(clean_key(k), param_value(v)) for k, v in params.items()],
        tags=[RunTag(k, str(v)) for k, v in tags.items()],
    )


def log_reports(
    client: MlflowClient,
    run_id: str,
    result: LoggedTraining,
    *,
    validation: Mapping[str, Any],
    rejects_path: Path | None,
) -> None:
    """The artifacts folder (plots, JSON reports), fairness report, profile and validation."""
    artifacts = Path(result.artifacts_dir)
    if artifacts.is_dir() and any(artifacts.iterdir()):
        client.log_artifacts(run_id, str(artifacts), artifact_path="reports")
    client.log_text(run_id, result.profile.to_yaml(), "profile.yaml")
    client.log_dict(run_id, to_json_safe(result.fairness or {}), "fairness.json")
    client.log_dict(run_id, to_json_safe(dict(validation)), "validation/summary.json")
    if rejects_path is not None and rejects_path.is_file():
        _log_rejects(client, run_id, rejects_path, result.profile.id)


def _log_rejects(client: MlflowClient, run_id: str, path: Path, id_column: str | None) -> None:
    """Log the rejected cells with the id column's raw values withheld.

    A rejected id cell holds a raw student id; the local file keeps it (the data team fixes
    the export from it; docs/privacy.md), MLflow gets the cell's reason without the value.
    """
    import tempfile

    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if id_column and {"column", "value"} <= set(frame.columns):
        frame.loc[frame["column"] == id_column, "value"] = "(id withheld)"
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.name
        frame.to_csv(copy, index=False)
        client.log_artifact(run_id, str(copy), artifact_path="validation")
