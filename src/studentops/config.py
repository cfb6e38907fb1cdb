"""One settings object, built on demand from `studentops.yaml` and `STUDENTOPS_*` variables.

Nothing happens at import time: call :func:`load_settings` where settings are needed. Every
piece of local state lives under ``home`` (``.studentops/`` by default) so a laptop run leaves
one folder behind and a deployment points the same keys at real servers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from studentops.errors import ConfigError

CONFIG_FILE_ENV = "STUDENTOPS_CONFIG"
DEFAULT_CONFIG_FILE = "studentops.yaml"


class Settings(BaseSettings):
    """All configuration. Environment variables (``STUDENTOPS_<FIELD>``) beat the YAML file."""

    model_config = SettingsConfigDict(env_prefix="STUDENTOPS_", extra="forbid")

    home: Path = Field(Path(".studentops"), description="Folder for all local state.")
    data_dir: Path = Field(
        Path("../shared/data"), description="Where built-in profiles find their seed files."
    )
    cache_dir: Path | None = Field(
        None,
        description="Folder for rebuildable files shared by every home (the migrated empty "
        "MLflow database); default: the user's cache folder (platformdirs), e.g. "
        "~/.cache/studentops.",
    )
    profiles_dir: Path | None = Field(None, description="Extra folder of profile YAML files.")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; default: SQLite database under home."
    )
    registry_uri: str | None = Field(None, description="MLflow registry URI; default: tracking.")
    artifact_location: str | None = Field(
        None, description="Artifact root for new experiments (a path or s3://...)."
    )
    optuna_storage: str | None = Field(
        None, description="Optuna storage URL (postgresql://...) to share a study."
    )
    prediction_log_url: str | None = Field(
        None, description="SQLAlchemy URL of the prediction log; default: SQLite under home."
    )
    pseudonym_key: SecretStr = Field(
        SecretStr("studentops-local-dev-key"),
        description="Key for the keyed hash that pseudonymises student ids. Set it in production.",
    )
    promote_margin: float = Field(0.0, description="Challenger must beat champion by this much.")
    fairness_max_gap: float = Field(
        0.2,
        description="Largest allowed false-negative-rate gap between sensitive groups; the "
        "gate fails when the gap's 95% lower bound exceeds it (docs/fairness.md).",
    )
    risk_high: float = Field(0.6, description="Risk score at or above which a student is 'high'.")
    risk_medium: float = Field(0.3, description="Risk score at or above which 'medium'.")
    api_keys: list[SecretStr] = Field(default_factory=list, description="Keys for predictions.")
    admin_keys: list[SecretStr] = Field(default_factory=list, description="Keys for admin routes.")
    require_api_key: bool = Field(False, description="Require an API key on prediction routes.")
    cors_origins: list[str] = Field(default_factory=list)
    max_batch_rows: int = Field(10_000, description="Largest batch the API accepts (413 above).")
    max_body_bytes: int = Field(20_000_000, description="Largest request body (413 above).")
    serve_profile: str | None = Field(None, description="Profile whose champion the API serves.")
    reload_interval_s: float = Field(30.0, description="How often the API polls the champion.")
    log_queue_size: int = Field(100_000, description="Bounded queue of the prediction log writer.")
    # -- streaming (docs/streaming.md) ---------------------------------------------------------
    aws_endpoint_url: str | None = Field(
        None, description="AWS endpoint for Kinesis (moto or LocalStack); default: real AWS."
    )
    aws_region: str | None = Field(None, description="AWS region; default: boto3's own lookup.")
    stream_batch_size: int = Field(500, ge=1, description="Most events scored in one batch.")
    stream_max_wait_ms: int = Field(
        50, ge=0, description="Longest an event waits for its batch to fill before scoring."
    )
    stream_group: str = Field(
        "studentops", description="Consumer group (Redis) or checkpoint name (Kinesis)."
    )
    stream_claim_idle_ms: int = Field(
        30_000, ge=1, description="A pending event idle this long is taken over by another worker."
    )
    stream_max_deliveries: int = Field(
        5, ge=1, description="An event delivered more often goes to the dead-letter stream."
    )
    stream_checkpoint_path: Path | None = Field(
        None, description="SQLite file of Kinesis checkpoints; default: under home."
    )
    stream_model_uri: str | None = Field(
        None, description="Pin the stream worker and Lambda to this model instead of the champion."
    )
    stream_sink: str | None = Field(None, description="Output stream URL of the Lambda handler.")
    stream_dead_letter: str | None = Field(
        None, description="Dead-letter stream URL; default: the source stream name + '-dead'."
    )
    # -- risk lists (docs/serving.md) ---------------------------------------------------------
    risk_band_mode: Literal["cutoffs", "shares", "capacity"] = Field(
        "cutoffs",
        description="Bands of a list by probability cut-offs with the model's decision as the "
        "high boundary (default: a student predicted at risk is always high), by shares of the "
        "ranked list, or by capacity (docs/serving.md, Bands).",
    )
    risk_high_share: float = Field(
        0.10, gt=0, le=1, description="shares: the top share of a list that is 'high'."
    )
    risk_medium_share: float = Field(
        0.25, gt=0, le=1, description="shares: the top share that is at least 'medium'."
    )
    risk_capacity: int = Field(
        50, ge=1, description="capacity: how many students of a list the team can see ('high')."
    )
    # -- dashboard (docs/dashboard.md) ---------------------------------------------------------
    dashboard_port: int = Field(8501, ge=0, le=65535, description="Port of `studentops dashboard`.")
    dashboard_reasons_rows: int = Field(
        500, ge=0, description="Students (from the top of a risk list) whose reasons are computed."
    )
    dashboard_user_header: str | None = Field(
        None, description="Request header naming the user, set by a single sign-on proxy."
    )
    # -- monitoring (docs/monitoring.md) ------------------------------------------------------
    monitor_numeric_statistic: str = Field(
        "psi", description="Drift statistic for numbers: psi, wasserstein, ks or jensen_shannon."
    )
    monitor_categorical_statistic: str = Field(
        "jensen_shannon", description="Drift statistic for categories: jensen_shannon or psi."
    )
    monitor_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Threshold per statistic name, overriding the defaults (psi 0.2, ...).",
    )
    monitor_min_rows: int = Field(
        200, ge=1, description="Smallest window judged; fewer rows give 'too few rows'."
    )
    monitor_drift_share: float = Field(
        0.25, gt=0, le=1, description="Share of drifted features from which a window drifted."
    )
    monitor_missing_threshold: float = Field(
        0.05, gt=0, le=1, description="Change of the missing share (0-1) that counts as drift."
    )
    monitor_unseen_threshold: float = Field(
        0.02, gt=0, le=1, description="Share of unseen categories (0-1) that counts as drift."
    )
    monitor_noise_quantile: float = Field(
        0.99, gt=0.5, lt=1, description="Quantile of chance a drift must exceed (noise floor)."
    )
    monitor_bins: int = Field(10, ge=2, le=100, description="Reference bins per number.")
    monitor_window_days: float = Field(
        30.0, gt=0, description="Default window of `studentops monitor` (days back from now)."
    )
    # -- alerts and retraining (docs/alerts.md) ------------------------------------------------
    alert_channels: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Alert channels (smtp, ses, webhook, file); none: a local file and console.",
    )
    alert_rules: list[dict[str, Any]] | None = Field(
        None, description="Alert rules over monitoring results; None: the built-in rules."
    )
    alert_sender: str | None = Field(None, description="From address of alert e-mail.")
    alert_ses_region: str | None = Field(None, description="SES region; default: aws_region.")
    alert_file: Path | None = Field(
        None, description="File of the local alert channel; default: home/alerts/alerts.jsonl."
    )
    alert_report_url: str | None = Field(
        None, description="Base URL where monitoring reports are published (links in alerts)."
    )
    alert_metrics_url: str | None = Field(
        None, description="The API's /metrics URL, read for prediction-log rows dropped."
    )
    alert_retries: int = Field(3, ge=0, description="Extra attempts of a failed channel.")
    alert_backoff_s: float = Field(1.0, ge=0, description="First retry delay (doubles each time).")
    retrain_window_days: float = Field(
        365.0, gt=0, description="Newly labelled rows younger than this join the training data."
    )
    retrain_eval_share: float = Field(
        0.3, gt=0, lt=1, description="Most recent share of new labelled rows kept for evaluation."
    )
    retrain_min_eval_rows: int = Field(
        50, ge=1, description="Fewer recent labelled rows than this: no retraining decision."
    )
    retrain_include_original: bool = Field(
        True, description="Train the challenger on the original data plus the new rows."
    )
    retrain_budget_s: float = Field(120.0, gt=0, description="Challenger training budget, s.")
    # -- privacy (docs/privacy.md) -------------------------------------------------------------
    pseudonym_previous_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Earlier pseudonym keys: erase matches rows keyed with them too; drop one "
        "after 'studentops privacy rotate-key' re-keyed every row.",
    )
    privacy_retention_days: int = Field(
        400,
        ge=1,
        description="Prediction-log, outcome and monitoring rows older than this many days are "
        "deleted by 'studentops privacy purge'.",
    )
    # -- deploy (docs/deploy.md) ----------------------------------------------------------------
    tracking_server_backend_uri: str | None = Field(
        None,
        description="Store of the team's `mlflow server` (postgresql://...); default: SQLite "
        "under home.",
    )
    tracking_server_artifacts: str | None = Field(
        None,
        description="Where the server keeps artifacts (s3://bucket/prefix); clients reach them "
        "through the server. Default: a folder under home.",
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO, moto) for artifacts; default: AWS S3."
    )
    tracking_server_host: str = Field("127.0.0.1", description="Interface the server binds.")
    tracking_server_port: int = Field(5000, ge=1, le=65535, description="Port of the server.")
    tracking_server_workers: int = Field(1, ge=1, description="Server worker processes.")
    tracking_server_allowed_hosts: str | None = Field(
        None,
        description="Host headers the server accepts (comma list, e.g. 'mlflow:5000,localhost:*');"
        " MLflow 3 refuses other hosts unless this is set.",
    )
    # -- flows (docs/orchestration.md) ---------------------------------------------------------
    prefect_api_url: str | None = Field(
        None, description="Use this Prefect server's API; default: a local server under home."
    )
    prefect_database_url: str | None = Field(
        None,
        description="Database of the local Prefect server (postgresql+asyncpg://...); "
        "default: SQLite under home/prefect.",
    )
    prefect_port: int = Field(4200, ge=0, description="Port of the local Prefect server (0: any).")
    flow_schedules: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Scheduled flows for `flows serve`: {flow, cron | interval_s, parameters}.",
    )
    flow_output_dir: Path | None = Field(
        None, description="Where flows write risk lists and features; default: home/flows."
    )
    flow_stuck_after_s: float = Field(
        6 * 3600.0, gt=0, description="A run Running or Pending longer than this is swept."
    )
    flow_sweep_interval_s: float = Field(300.0, gt=0, description="How often serve sweeps.")
    seed: int = 42

    @property
    def mlflow_tracking_uri(self) -> str:
        """The tracking URI, defaulting to a SQLite file under home (no server needed)."""
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def mlflow_artifact_root(self) -> str:
        """Where MLflow stores artifacts: ``artifact_location`` if set, else ``home/mlartifacts`` as
        a file URI."""
        if self.artifact_location:
            return self.artifact_location
        return (self.home / "mlartifacts").resolve().as_uri()

    @property
    def prediction_log(self) -> str:
        """The prediction-log database URL: ``prediction_log_url`` if set, else SQLite
        ``home/predictions.db``."""
        if self.prediction_log_url:
            return self.prediction_log_url
        return f"sqlite:///{(self.home / 'predictions.db').resolve()}"

    def user_cache(self) -> Path:
        """``cache_dir``, or the platform's user cache folder for studentops (not created)."""
        if self.cache_dir is not None:
            return self.cache_dir
        import platformdirs

        return Path(platformdirs.user_cache_dir("studentops", appauthor=False))

    def ensure_home(self) -> Path:
        """Create the state folder when a command first needs it (never at import)."""
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    return data


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the YAML file (if any), the environment, then explicit overrides.

    Raises:
        ConfigError: a setting is invalid (named, with pydantic's reason), or the YAML file is
            unreadable.
    """
    path = Path(config_file or os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))
    file_values = _read_yaml(path) if path.is_file() else {}
    env_keys = {
        name for name in Settings.model_fields if f"STUDENTOPS_{name.upper()}" in os.environ
    }
    # Environment beats the file: drop file values that the environment sets.
    values = {k: v for k, v in file_values.items() if k not in env_keys}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting '{field}': {first['msg']}") from exc
