"""The champion/challenger registry: one MLflow registered model per profile, moved by aliases.

A newly trained version gets the alias ``challenger``. :func:`promote` moves ``champion`` to it
only if it passes two gates (it beats the champion on the held-out selection metric by
``promote_margin``; its false-negative-rate gap between sensitive groups is not shown to exceed
``fairness_max_gap``: see :func:`fairness_gate`). Every promotion is
appended to a tag on the registered model, so :func:`rollback` can walk back through earlier
champions; ``previous-champion`` names the one a rollback would restore.

Everything a gate needs is copied into version tags when the version is registered, so a
decision reads one registered model and no runs (and works the same against a remote server).
The gate logic itself (:func:`evaluate_gates`) is a pure function.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from studentops.errors import ModelError, StudentOpsError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous-champion"

TAG = "studentops."
HISTORY_TAG = f"{TAG}champion_history"
TEST_PREFIX = f"{TAG}test."

# Metrics where a smaller value is better; everything else (accuracy, F1, AUC, R²...) is larger.
_LOWER_IS_BETTER = ("rmse", "mae", "mse", "mape", "loss", "brier", "error", "ece")


class PromotionRefused(StudentOpsError):
    """A gate failed: the challenger stays challenger. Exit code 1: a decision, not a mistake."""

    exit_code = 1


def registered_model_name(profile_name: str) -> str:
    """The registered model that holds every version trained for a profile."""
    return f"studentops-{profile_name}"


def greater_is_better(metric: str) -> bool:
    """Direction of a selection metric, judged by its name (``neg_*`` scorers count as larger)."""
    name = metric.lower()
    if name.startswith("neg_"):
        return True
    return not any(part in name for part in _LOWER_IS_BETTER)


@dataclass(frozen=True)
class VersionSummary:
    """What the registry knows about one version, read from its tags and aliases."""

    name: str
    version: str
    aliases: list[str]
    run_id: str | None
    source: str | None
    created: datetime
    metric: str | None
    score: float | None
    greater_is_better: bool
    fairness_gap: float | None
    algorithm: str | None
    data_fingerprint: str | None
    test_metrics: dict[str, float] = field(default_factory=dict)
    fairness_low: float | None = None
    fairness_high: float | None = None
    fairness_detail: str | None = None
    score_undefined: str | None = None
    registered_fit: str | None = None  # e.g. "all 2,392 rows" or "train part 1,913 rows"

    @property
    def uri(self) -> str:
        """The version's ``models:/<name>/<version>`` URI."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class Gate:
    """One promotion check with the figures behind its verdict."""

    name: str
    passed: bool
    detail: str

    def __str__(self) -> str:
        return f"{self.name} gate {'passed' if self.passed else 'FAILED'}: {self.detail}"


@dataclass(frozen=True)
class PromotionDecision:
    """The outcome of :func:`promote`."""

    name: str
    version: str
    previous: str | None
    gates: list[Gate]
    forced: bool
    promoted: bool

    @property
    def failed(self) -> list[Gate]:
        """The gates that did not pass (empty when promoted on merit)."""
        return [g for g in self.gates if not g.passed]


@dataclass(frozen=True)
class RollbackResult:
    """The outcome of :func:`rollback`: the version restored as champion and the one demoted."""

    name: str
    restored: str
    demoted: str


# -- reading -----------------------------------------------------------------------------------


def _float(value: str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except ValueError:
        return None
    return None if math.isnan(out) else out


def summarise(mv: ModelVersion) -> VersionSummary:
    """Turn an MLflow ModelVersion into a VersionSummary (no extra server calls)."""
    tags = dict(mv.tags or {})
    metric = tags.get(f"{TAG}metric")
    direction = tags.get(f"{TAG}greater_is_better")
    tests = {
        key.removeprefix(TEST_PREFIX): value
        for key, raw in tags.items()
        if key.startswith(TEST_PREFIX) and (value := _float(raw)) is not None
    }
    return VersionSummary(
        name=mv.name,
        version=str(mv.version),
        aliases=sorted(mv.aliases or []),
        run_id=mv.run_id,
        source=mv.source,
        created=datetime.fromtimestamp((mv.creation_timestamp or 0) / 1000, tz=UTC),
        metric=metric,
        score=_float(tags.get(f"{TAG}score")),
        greater_is_better=(direction != "false") if direction else greater_is_better(metric or ""),
        fairness_gap=_float(tags.get(f"{TAG}fairness_max_gap")),
        algorithm=tags.get(f"{TAG}algorithm"),
        data_fingerprint=tags.get(f"{TAG}data_fingerprint"),
        test_metrics=tests,
        fairness_low=_float(tags.get(f"{TAG}fairness_gap_low")),
        fairness_high=_float(tags.get(f"{TAG}fairness_gap_high")),
        fairness_detail=tags.get(f"{TAG}fairness_gate_detail"),
        score_undefined=tags.get(f"{TAG}score_undefined"),
        registered_fit=tags.get(f"{TAG}registered_fit"),
    )


def _not_found(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    return code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def version_by_alias(client: MlflowClient, name: str, alias: str) -> VersionSummary | None:
    """The version holding ``alias``, or None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return summarise(client.get_model_version_by_alias(name, alias))
    except MlflowException as exc:
        if _not_found(exc):
            return None
        raise


def get_version(client: MlflowClient, name: str, version: str | int) -> VersionSummary:
    """One registered version, summarised.

    Raises:
        ModelError: ``name`` has no version ``version``.
        MlflowException: the registry cannot be read (anything but "not found").
    """
    from mlflow.exceptions import MlflowException

    try:
        return summarise(client.get_model_version(name, str(version)))
    except MlflowException as exc:
        if _not_found(exc):
            raise ModelError(f"{name} has no version {version}") from exc
        raise


def list_versions(client: MlflowClient, profile_name: str) -> list[VersionSummary]:
    """Every version of the profile's model, newest first; empty when none was registered."""
    name = registered_model_name(profile_name)
    found = client.search_model_versions(f"name = '{name}'")
    # search_model_versions does not promise to fill aliases, so read them from the model.
    aliases = _aliases(client, name)
    out = []
    for mv in found:
        summary = summarise(mv)
        own = sorted(a for a, v in aliases.items() if v == summary.version)
        out.append(_replace_aliases(summary, own))
    return sorted(out, key=lambda s: int(s.version), reverse=True)


def _replace_aliases(summary: VersionSummary, aliases: list[str]) -> VersionSummary:
    from dataclasses import replace

    return replace(summary, aliases=aliases)


def _aliases(client: MlflowClient, name: str) -> dict[str, str]:
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if _not_found(exc):
            return {}
        raise
    return {alias: str(version) for alias, version in (model.aliases or {}).items()}


def champion_history(client: MlflowClient, name: str) -> list[str]:
    """Versions that were champion, oldest first (the last one is the current champion)."""
    tags = client.get_registered_model(name).tags or {}
    raw = tags.get(HISTORY_TAG, "")
    return [v for v in raw.split(",") if v]


# -- writing -----------------------------------------------------------------------------------


def _tag_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def register_challenger(
    client: MlflowClient,
    profile_name: str,
    model_uri: str,
    *,
    run_id: str | None,
    metric: str,
    test_metrics: Mapping[str, float],
    fairness_gap: float | None,
    algorithm: str | None = None,
    data_fingerprint: str | None = None,
    higher_is_better: bool | None = None,
    fairness_figure: Mapping[str, Any] | None = None,
    score_undefined: str | None = None,
    final_fit: Mapping[str, Any] | None = None,
) -> VersionSummary:
    """Register ``model_uri`` as a new version of the profile's model and call it challenger.

    Args:
        client: an MlflowClient pointed at the registry.
        profile_name: the profile the model was trained for.
        model_uri: where the logged model lives (``models:/<model_id>`` or ``runs:/...``).
        run_id: the training run, for lineage.
        metric: the selection metric; ``test_metrics[metric]`` is the score the gate compares.
        test_metrics: every held-out metric, copied into tags so gates need no run lookups.
        fairness_gap: the largest gap between sensitive groups (None when not measured).
        higher_is_better: the metric's direction as training knows it (default: by name).
        fairness_figure: the audit's gate figure (``fairness_report(...)["gate"]``): the gap
            the gate judges with its interval, and the groups too small to judge.
        score_undefined: why the held-out metrics are undefined (NaN), kept as a tag so the
            score gate can say why it refuses.
        final_fit: which model is registered and which one the test metrics judge
            (``TrainResult.final_fit``), kept as tags ``registered_fit`` and ``final_fit``.

    Returns:
        The new version, holding the ``challenger`` alias.

    Raises:
        ModelError: the selection metric is not among ``test_metrics``.
    """
    from mlflow.exceptions import MlflowException

    if metric not in test_metrics:
        raise ModelError(
            f"the selection metric '{metric}' is not among the test metrics "
            f"({', '.join(sorted(test_metrics)) or 'none'})"
        )
    name = registered_model_name(profile_name)
    try:
        client.create_registered_model(
            name,
            tags={f"{TAG}profile": profile_name},
            description=f"studentops models for profile '{profile_name}'",
        )
    except MlflowException as exc:
        if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise
    tags: dict[str, str] = {
        f"{TAG}profile": profile_name,
        f"{TAG}metric": metric,
        f"{TAG}score": _tag_value(float(test_metrics[metric])),
        f"{TAG}greater_is_better": str(
            greater_is_better(metric) if higher_is_better is None else higher_is_better
        ).lower(),
        f"{TAG}fairness_max_gap": _tag_value(
            float("nan") if fairness_gap is None else float(fairness_gap)
        ),
    }
    tags.update(fairness_tags(fairness_figure))
    if algorithm:
        tags[f"{TAG}algorithm"] = algorithm
    if data_fingerprint:
        tags[f"{TAG}data_fingerprint"] = data_fingerprint
    if score_undefined:
        tags[f"{TAG}score_undefined"] = score_undefined
    if final_fit:
        tags.update(final_fit_tags(final_fit))
    tags.update({f"{TEST_PREFIX}{k}": _tag_value(float(v)) for k, v in test_metrics.items()})
    model_id = model_uri.removeprefix("models:/") if _is_logged_model_uri(model_uri) else None
    mv = client.create_model_version(name, model_uri, run_id=run_id, tags=tags, model_id=model_id)
    client.set_registered_model_alias(name, CHALLENGER, str(mv.version))
    return get_version(client, name, mv.version)


def final_fit_tags(final_fit: Mapping[str, Any]) -> dict[str, str]:
    """Version tags saying which model is registered and which one the test metrics judge.

    ``final_fit`` is ``TrainResult.final_fit``: ``refitted``, ``registered_rows``,
    ``evaluated_rows``, ``test_rows``, ``description``.
    """
    rows = int(final_fit.get("registered_rows", 0))
    where = "all" if final_fit.get("refitted") else "train part"
    registered = f"{where} {rows:,} rows"
    return {
        f"{TAG}registered_fit": registered,
        f"{TAG}final_fit": str(final_fit.get("description", ""))[:500],
    }


def fairness_tags(figure: Mapping[str, Any] | None) -> dict[str, str]:
    """The gate's figure as version tags: interval bounds and a one-line description."""
    if not figure:
        return {}
    out = {}
    for key in ("low", "high"):
        value = figure.get(key)
        if value is not None:
            out[f"{TAG}fairness_gap_{key}"] = _tag_value(float(value))
    parts = []
    if figure.get("attribute") is not None:
        parts.append(
            f"{figure.get('measure', 'fnr')} gap by {figure['attribute']}: "
            f"{figure.get('high_group')} vs {figure.get('low_group')}"
        )
    not_judged = figure.get("not_judged") or {}
    if not_judged:
        listed = "; ".join(f"{a}: {', '.join(map(str, g))}" for a, g in not_judged.items())
        parts.append(f"too small to judge: {listed}")
    if parts:
        out[f"{TAG}fairness_gate_detail"] = "; ".join(parts)[:5000]
    return out


def _is_logged_model_uri(uri: str) -> bool:
    """``models:/<model_id>`` (MLflow 3 logged model) rather than ``models:/<name>/<version>``."""
    rest = uri.removeprefix("models:/")
    return uri.startswith("models:/") and "/" not in rest and "@" not in rest


def evaluate_gates(
    challenger: VersionSummary,
    champion: VersionSummary | None,
    *,
    margin: float,
    max_gap: float,
) -> list[Gate]:
    """The promotion gates, as a pure function of what the registry holds.

    The score gate asks for a strict improvement of at least ``margin`` on the challenger's
    selection metric, read from the champion's test metrics (so a champion selected on another
    metric is still compared like for like). The fairness gate passes when no gap was measured
    (a profile without sensitive columns) and fails when it exceeds ``max_gap``.
    """
    return [
        _score_gate(challenger, champion, margin),
        fairness_gate_for_version(challenger, max_gap),
    ]


def fairness_gate(
    gap: float | None,
    low: float | None,
    high: float | None,
    max_gap: float,
    *,
    detail: str | None = None,
) -> Gate:
    """The fairness gate on the false-negative-rate gap between sensitive groups.

    The measure and its interval come from :mod:`studentops.training.fairness` (Newcombe's
    95% interval of the difference of two groups' FNR, groups too small to judge left out and
    named). The decision reads the interval, so a small group's noise neither blocks nor waves
    a model through:

    - **fail** when the lower bound exceeds ``max_gap``: the gap is larger than allowed beyond
      reasonable doubt;
    - **pass** when the upper bound is at most ``max_gap``;
    - **pass, inconclusive** when the interval straddles ``max_gap``: the data cannot show a
      gap too large, and the detail says so (with the point gap and bounds) so a reviewer sees
      it; more held-out rows narrow the interval.

    A version registered before intervals were recorded (no bounds) is judged on its point
    gap. No gap at all (no sensitive columns, or no two groups large enough) passes and says
    why. This is the gate of manual promotion and of retraining alike.

    Args:
        gap: the point FNR gap (0..1), or None when not measured.
        low, high: its interval bounds, or None.
        max_gap: ``settings.fairness_max_gap``.
        detail: which attribute and groups, and the groups too small to judge.
    """
    extra = f" ({detail})" if detail else ""
    if gap is None:
        return Gate("fairness", True, f"not measured (no sensitive groups large enough){extra}")
    if low is None or high is None:
        ok = gap <= max_gap
        verb = "<=" if ok else ">"
        return Gate("fairness", ok, f"max gap {gap:.4f} {verb} allowed {max_gap:.4f}{extra}")
    figures = f"FNR gap {gap:.4f} [95% CI {low:.4f}, {high:.4f}]"
    if low > max_gap:
        return Gate("fairness", False, f"{figures}: lower bound > allowed {max_gap:.4f}{extra}")
    if high <= max_gap:
        return Gate("fairness", True, f"{figures}: upper bound <= allowed {max_gap:.4f}{extra}")
    return Gate(
        "fairness",
        True,
        f"{figures}: inconclusive, the interval straddles allowed {max_gap:.4f}; "
        f"passed because a gap above it is not shown{extra}",
    )


def fairness_gate_for_version(version: VersionSummary, max_gap: float) -> Gate:
    """:func:`fairness_gate` on the figures a version's tags recorded at registration."""
    return fairness_gate(
        version.fairness_gap,
        version.fairness_low,
        version.fairness_high,
        max_gap,
        detail=version.fairness_detail,
    )


def fairness_gate_for_report(report: Mapping[str, Any] | None, max_gap: float) -> Gate:
    """:func:`fairness_gate` on a fresh audit (``fairness_report(model, rows)``), e.g. of a
    champion and a challenger on the same recent labelled rows when retraining."""
    figure = (report or {}).get("gate") or {}
    detail = fairness_tags(figure).get(f"{TAG}fairness_gate_detail")
    return fairness_gate(
        figure.get("gap"), figure.get("low"), figure.get("high"), max_gap, detail=detail
    )


def _score_gate(challenger: VersionSummary, champion: VersionSummary | None, margin: float) -> Gate:
    metric = challenger.metric
    mine = challenger.score
    if metric is not None and mine is None and challenger.score_undefined:
        return Gate(
            "score",
            False,
            f"v{challenger.version} has no defined held-out {metric} "
            f"({challenger.score_undefined}): nothing to judge it by; retrain on more at-risk "
            "students (or use --force)",
        )
    if metric is not None and mine is None:
        return Gate(
            "score",
            False,
            f"v{challenger.version} has no defined held-out {metric} (not a number): nothing "
            "to judge it by (or use --force)",
        )
    if metric is None or mine is None:
        return Gate("score", False, f"v{challenger.version} has no recorded selection score")
    if champion is None:
        return Gate("score", True, f"no champion yet; v{challenger.version} {metric} {mine:.4f}")
    theirs = champion.test_metrics.get(metric)
    if theirs is None and champion.metric == metric:
        theirs = champion.score
    if theirs is None:
        return Gate(
            "score",
            False,
            f"champion v{champion.version} has no test {metric} to compare with (use --force)",
        )
    gain = (mine - theirs) if challenger.greater_is_better else (theirs - mine)
    ok = gain > 0 and gain >= margin
    detail = (
        f"challenger v{challenger.version} {metric} {mine:.4f} vs champion "
        f"v{champion.version} {theirs:.4f}: improvement {gain:+.4f} "
        f"({'>=' if ok else 'needs >'} margin {margin:.4f}"
        f"{'' if challenger.greater_is_better else ', lower is better'})"
    )
    if champion.data_fingerprint and challenger.data_fingerprint != champion.data_fingerprint:
        detail += "; note: trained on different rows (data fingerprints differ): test sets differ"
    return Gate("score", ok, detail)


def promote(
    client: MlflowClient,
    profile_name: str,
    *,
    margin: float,
    max_gap: float,
    force: bool = False,
    version: str | int | None = None,
) -> PromotionDecision:
    """Make the challenger (or ``version``) champion if it passes the gates, or if forced.

    A refusal is returned, not raised: callers such as flows decide what a refusal means.
    """
    name = registered_model_name(profile_name)
    if version is not None:
        candidate = get_version(client, name, version)
    else:
        found = version_by_alias(client, name, CHALLENGER)
        if found is None:
            raise ModelError(
                f"no challenger for profile '{profile_name}': train one first "
                f"(studentops train --profile {profile_name} ...)"
            )
        candidate = found
    champion = version_by_alias(client, name, CHAMPION)
    if champion is not None and champion.version == candidate.version:
        raise ModelError(f"{name} v{candidate.version} is already the champion")
    gates = evaluate_gates(candidate, champion, margin=margin, max_gap=max_gap)
    passed = all(g.passed for g in gates)
    previous = champion.version if champion else None
    if passed or force:
        by = "force" if force and not passed else "gates"
        _make_champion(client, name, candidate.version, previous, by=by)
    return PromotionDecision(
        name=name,
        version=candidate.version,
        previous=previous,
        gates=gates,
        forced=force and not passed,
        promoted=passed or force,
    )


def make_champion(client: MlflowClient, profile_name: str, version: str, *, by: str) -> str | None:
    """Move ``champion`` to ``version`` after a caller's own gates (retraining); returns the
    previous champion's version. ``by`` is stored in the ``promoted_by`` tag."""
    name = registered_model_name(profile_name)
    champion = version_by_alias(client, name, CHAMPION)
    previous = champion.version if champion else None
    _make_champion(client, name, str(version), previous, by=by)
    return previous


def _make_champion(
    client: MlflowClient, name: str, version: str, previous: str | None, *, by: str
) -> None:
    history = champion_history(client, name)
    history.append(version)
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))
    client.set_registered_model_alias(name, CHAMPION, version)
    if previous is not None:
        client.set_registered_model_alias(name, PREVIOUS, previous)
    if _aliases(client, name).get(CHALLENGER) == version:
        client.delete_registered_model_alias(name, CHALLENGER)
    stamp = _now()
    client.set_model_version_tag(name, version, f"{TAG}promoted_at", stamp)
    client.set_model_version_tag(name, version, f"{TAG}promoted_by", by)


def rollback(client: MlflowClient, profile_name: str) -> RollbackResult:
    """Give the champion alias back to the version that held it before the current one.

    Raises:
        ModelError: the profile has no champion, or its champion is the first one.
    """
    name = registered_model_name(profile_name)
    champion = version_by_alias(client, name, CHAMPION)
    if champion is None:
        raise ModelError(f"no champion for profile '{profile_name}': nothing to roll back")
    history = champion_history(client, name)
    # The history's tail is the champion unless someone moved the alias by hand.
    if history and history[-1] == champion.version:
        history.pop()
    if not history:
        raise ModelError(f"{name} v{champion.version} is the first champion: nothing to restore")
    restored = history[-1]
    client.set_registered_model_alias(name, CHAMPION, restored)
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))
    if len(history) >= 2:
        client.set_registered_model_alias(name, PREVIOUS, history[-2])
    elif PREVIOUS in _aliases(client, name):
        client.delete_registered_model_alias(name, PREVIOUS)
    client.set_model_version_tag(name, champion.version, f"{TAG}rolled_back_at", _now())
    return RollbackResult(name=name, restored=restored, demoted=champion.version)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
