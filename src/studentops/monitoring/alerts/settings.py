"""Channel settings: the ``alert_channels`` list of ``studentops.yaml``, checked and built.

Each entry has a ``name`` and a ``type`` (``smtp``, ``ses``, ``webhook`` or ``file``)::

    alert_channels:
      - {name: counsellors, type: smtp, host: smtp.school.org, port: 587, starttls: true,
         username: alerts, password_env: SMTP_PASSWORD, to: [counsellors@school.org]}
      - {name: data-team, type: ses, to: [data@school.org]}        # region, sender: settings
      - {name: slack, type: webhook, url: https://hooks.slack.com/..., shape: slack}

Secrets are never written in the file: ``password_env`` / ``headers_env`` name environment
variables that hold them. With no channel configured, alerts go to a local file under home and
the console (:func:`build_channels`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError

from studentops.errors import ConfigError

if TYPE_CHECKING:
    from studentops.config import Settings
    from studentops.monitoring.alerts.channels import Channel

LOCAL_CHANNEL = "local"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    timeout_s: float = Field(10.0, gt=0)


class SmtpSpec(_Spec):
    """An SMTP channel: host and port (587, the submission port of RFC 6409, by default),
    recipients, STARTTLS or implicit TLS, optional login.
    """

    type: Literal["smtp"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    sender: str | None = None
    to: list[str] = Field(min_length=1)
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = None


class SesSpec(_Spec):
    """An Amazon SES channel: recipients; sender, region and endpoint default to the settings."""

    type: Literal["ses"]
    sender: str | None = None
    to: list[str] = Field(min_length=1)
    region: str | None = None
    endpoint_url: str | None = None


class WebhookSpec(_Spec):
    """A webhook channel: URL, body shape (``json``, ``slack`` or ``teams``) and headers, whose
    secret values are read from the environment variables ``headers_env`` names.
    """

    type: Literal["webhook"]
    url: str
    shape: Literal["json", "slack", "teams"] = "json"
    headers: dict[str, str] = Field(default_factory=dict)
    headers_env: dict[str, str] = Field(
        default_factory=dict, description="Header name -> environment variable holding its value."
    )


class FileSpec(_Spec):
    """The local channel: JSON lines appended to ``path`` (default ``home/alerts/alerts.jsonl``),
    echoed to the console unless ``console`` is false.
    """

    type: Literal["file"]
    path: Path | None = None
    console: bool = True


ChannelSpec = Annotated[SmtpSpec | SesSpec | WebhookSpec | FileSpec, Field(discriminator="type")]
_specs = TypeAdapter(list[ChannelSpec])
T = TypeVar("T")


def validate_named(adapter: TypeAdapter[list[T]], raw: object, setting: str, what: str) -> list[T]:
    """Validate a list setting of named entries (rules, channels) and check the names differ.

    Args:
        adapter: the pydantic adapter of the entries' list type.
        raw: the setting's value as configured.
        setting: the setting's name, for the message (``alert_channels``).
        what: what an entry is, for the message (``channel``).

    Raises:
        ConfigError: the first invalid field, as ``setting 'alert_channels.0.port': ...``,
            or two entries with the same name.
    """
    try:
        entries = adapter.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting '{setting}.{where}': {first['msg']}") from exc
    names = [getattr(e, "name", "") for e in entries]
    if len(set(names)) != len(names):
        raise ConfigError(f"setting '{setting}': {what} names repeat ({', '.join(names)})")
    return entries


def channel_specs(settings: Settings) -> list[SmtpSpec | SesSpec | WebhookSpec | FileSpec]:
    """The configured channels (``settings.alert_channels``), checked.

    Raises:
        ConfigError: naming the entry and field that is wrong, or a repeated channel name.
    """
    return validate_named(_specs, settings.alert_channels, "alert_channels", "channel")


def local_path(settings: Settings) -> Path:
    """The local channel's file: ``alert_file``, else ``home/alerts/alerts.jsonl``."""
    return settings.alert_file or settings.home / "alerts" / "alerts.jsonl"


def build_channel(spec: Any, settings: Settings) -> Channel:
    """One channel object from its spec, filling region, sender and endpoint from settings.

    Raises:
        ConfigError: an environment variable the spec names is not set, or an SES channel has no
            region.
    """
    from studentops.monitoring.alerts.channels.local import FileChannel
    from studentops.monitoring.alerts.channels.ses import SesChannel
    from studentops.monitoring.alerts.channels.smtp import SmtpChannel
    from studentops.monitoring.alerts.channels.webhook import WebhookChannel

    if isinstance(spec, SmtpSpec):
        password = spec.password
        if spec.password_env:
            value = os.environ.get(spec.password_env)
            if value is None:
                raise ConfigError(
                    f"channel '{spec.name}': environment variable {spec.password_env} is not set"
                )
            password = SecretStr(value)
        return SmtpChannel(
            spec.name,
            host=spec.host,
            port=spec.port,
            sender=_sender(spec.sender, settings, spec.name),
            to=spec.to,
            starttls=spec.starttls,
            ssl=spec.ssl,
            username=spec.username,
            password=password,
            timeout_s=spec.timeout_s,
        )
    if isinstance(spec, SesSpec):
        region = spec.region or settings.alert_ses_region or settings.aws_region
        if not region:
            raise ConfigError(
                f"channel '{spec.name}': no AWS region (set alert_ses_region or aws_region)"
            )
        return SesChannel(
            spec.name,
            sender=_sender(spec.sender, settings, spec.name),
            to=spec.to,
            region=region,
            endpoint_url=spec.endpoint_url or settings.aws_endpoint_url,
            timeout_s=spec.timeout_s,
        )
    if isinstance(spec, WebhookSpec):
        headers = dict(spec.headers)
        for header, variable in spec.headers_env.items():
            if variable not in os.environ:
                raise ConfigError(
                    f"channel '{spec.name}': environment variable {variable} is not set"
                )
            headers[header] = os.environ[variable]
        return WebhookChannel(
            spec.name, url=spec.url, shape=spec.shape, headers=headers, timeout_s=spec.timeout_s
        )
    return FileChannel(
        spec.name,
        path=spec.path or local_path(settings),
        console=sys.stderr if spec.console else None,
    )


def _sender(sender: str | None, settings: Settings, name: str) -> str:
    found = sender or settings.alert_sender
    if not found:
        raise ConfigError(f"channel '{name}': no sender (set its sender or alert_sender)")
    return found


def build_channels(settings: Settings, only: str | None = None) -> list[Channel]:
    """Every configured channel (or the one named ``only``); with none configured, the local
    file-and-console channel named ``local``.

    Raises:
        ConfigError: a channel is misconfigured, or ``only`` names no configured channel.
    """
    specs = channel_specs(settings)
    if not specs:
        specs = [FileSpec.model_validate({"name": LOCAL_CHANNEL, "type": "file"})]
    if only is not None:
        chosen = [s for s in specs if s.name == only]
        if not chosen:
            known = ", ".join(s.name for s in specs)
            raise ConfigError(f"no alert channel named '{only}' (configured: {known})")
        specs = chosen
    return [build_channel(s, settings) for s in specs]
