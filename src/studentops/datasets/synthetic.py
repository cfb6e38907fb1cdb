"""Synthetic cohorts: realistic students in a profile's schema, fast and reproducible.

Demos, load tests and monitoring need data that looks and behaves like the real thing without
shipping a real row. A built-in profile has a small JSON file of aggregates (fitted once by
``scripts/fit_synthetic.py`` with :func:`fit_params`): each column's marginal (a quantile or
value table), a Gaussian-copula correlation matrix over all columns, a few rules the real rows
never break (``approved <= enrolled``, ``grade == 0`` exactly when nothing was approved) and a
compact outcome model (multinomial logistic, or linear plus residual noise for numeric and
derived targets). Sampling draws correlated normals, maps each through its column's marginal,
applies the rules and then draws the outcome from the features, all vectorised.

A profile without a file gets independent plausible marginals from its ranges and categories
and a random outcome model. That population is fixed by the profile, not by the seed, so two
seeds are two samples of one population rather than two populations (no false drift).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import betaincinv, gammaincinv, ndtr, ndtri

from studentops.datasets.drift_injection import (
    Drift,
    check_drift,
    missing_mask,
    mix_shares,
    parse_drift,
)
from studentops.datasets.drift_injection import shift_values as _shift
from studentops.datasets.profile import Column, Profile, category_key
from studentops.errors import DataError

FORMAT = 1
QUANTILES = 101
MAX_TABLE_VALUES = 64
FALLBACK_MISSING = 0.05
FALLBACK_DAYS = ("2021-01-01", "2025-12-31")
CALIBRATION_ROWS = 50_000
GRID_Z, GRID_STEPS = 6.0, 4096
SWAP_SHARE = 0.5  # of a derived target's label noise drawn as class swaps (see ``_swap``)


@dataclass
class Marginal:
    """One column's distribution: a value table (in latent order) or a quantile table."""

    kind: Literal["table", "quantiles"]
    values: np.ndarray
    probs: np.ndarray
    decimals: int = 6
    missing: float = 0.0

    def draw(self, latent: np.ndarray) -> np.ndarray:
        """Map standard-normal draws to values (a table gives codes into ``values``)."""
        if self.kind == "table":
            cuts = ndtri(np.clip(np.cumsum(self.probs)[:-1], 0.0, 1.0)).astype(latent.dtype)
            return np.searchsorted(cuts, latent, side="right")
        # Interpolate on a fine grid of the normal itself: a third of the cost of
        # ndtr + np.interp over the quantiles, and the same values to within the grid step.
        grid = np.linspace(-GRID_Z, GRID_Z, GRID_STEPS + 1)
        table = np.interp(ndtr(grid), self.probs, self.values)
        x = (np.clip(latent, -GRID_Z, GRID_Z) + GRID_Z) * (GRID_STEPS / (2 * GRID_Z))
        i = np.minimum(x.astype(np.int32), GRID_STEPS - 1)
        f = x - i
        return np.round(table[i] * (1 - f) + table[i + 1] * f, self.decimals)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        """Inverse distribution function (a table gives codes)."""
        if self.kind == "table":
            cum = np.cumsum(self.probs)
            return np.searchsorted(cum, u, side="right").clip(max=len(self.values) - 1)
        return np.round(np.interp(u, self.probs, self.values), self.decimals)

    def share_at_or_below(self, value: float) -> float:
        """Share (0..1) of the distribution at or below ``value`` (a table: by its values)."""
        if self.kind == "table":
            return float(self.probs[self.values.astype(float) <= value].sum())
        below = np.searchsorted(self.values, value, side="right")
        return float(self.probs[below - 1]) if below else 0.0


@dataclass
class Outcome:
    """The outcome given the features: logistic over classes, or linear plus noise."""

    kind: Literal["logistic", "linear"]
    column: str
    intercept: np.ndarray
    numeric: dict[str, tuple[float, float, np.ndarray]]
    categorical: dict[str, dict[str, np.ndarray]]
    classes: list[Any] = field(default_factory=list)
    residual: np.ndarray = field(default_factory=lambda: np.zeros(2))
    decimals: int = 6
    label_noise: float = 0.0
    noise_shares: np.ndarray | None = None
    noise_scale: float = 0.0  # Cauchy scale of the noise on the recorded source (``_swap``)


@dataclass(frozen=True)
class Rule:
    """A rule every real row kept: ``first <= second`` (le) or ``first == 0 -> second == 0``
    (zero; with ``both`` also the converse)."""

    kind: Literal["le", "zero"]
    first: str
    second: str
    both: bool = False


@dataclass
class Child:
    """A column drawn from its shares given a parent column (Course -> evening classes).

    A copula puts categories on one line and misses such links; ``cum`` holds, per parent
    value, the cumulative shares of the child's values.
    """

    parent: str
    cum: np.ndarray
    rho: float = 0.0

    def draw(
        self, parent_codes: np.ndarray, latent: np.ndarray, parent_latent: np.ndarray
    ) -> np.ndarray:
        """Codes by the inverse conditional distribution at the child's own latent normal.

        The latent is first freed of the parent's (correlation ``rho``): what is left is
        uniform within each parent value yet still tied to the other columns.
        """
        free = (latent - self.rho * parent_latent) / math.sqrt(1 - self.rho**2)
        n_parent, k = self.cum.shape
        # Row p's cumulative shares shifted by p form one sorted array: one searchsorted.
        flat = (np.arange(n_parent)[:, None] + self.cum).ravel()
        pos = np.searchsorted(flat, parent_codes + ndtr(free).astype(float), side="right")
        return np.clip(pos - parent_codes * k, 0, k - 1)


@dataclass
class CohortModel:
    """Everything sampling needs; built from a parameter file or from the profile alone."""

    marginals: dict[str, Marginal]
    copula: list[str]
    chol: np.ndarray | None
    outcome: Outcome
    rules: list[Rule] = field(default_factory=list)
    children: dict[str, Child] = field(default_factory=dict)


# -- public API ------------------------------------------------------------------------------


def generate_cohort(
    profile: Profile, rows: int, seed: int, drifts: Sequence[Drift | str] = ()
) -> pd.DataFrame:
    """Generate ``rows`` students in the profile's schema; the same seed gives the same rows.

    Args:
        profile: the dataset profile (a built-in profile uses its fitted parameters).
        rows: number of students.
        seed: random seed.
        drifts: changes to apply, as :class:`Drift` or spec text (see
            :mod:`studentops.datasets.drift_injection`).

    Returns:
        The profile's columns in profile order. Every row passes ``validate`` unless a drift
        blanks a column that may not be missing.

    Raises:
        DataError: ``rows`` or ``seed`` is not a whole number >= 0.
        DriftError: a drift spec is malformed or does not fit the profile.
    """
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise DataError(f"rows must be a whole number >= 0, got {rows!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(f"seed must be a whole number >= 0, got {seed!r}")
    checked = tuple(
        parse_drift(d, profile) if isinstance(d, str) else check_drift(d, profile) for d in drifts
    )
    params = load_params(profile.name)
    model = model_from_params(params, profile) if params else fallback_model(profile)
    return sample_cohort(model, profile, rows, seed, checked)


def load_params(name: str) -> dict[str, Any] | None:
    """The packaged parameter file of a built-in profile, or None."""
    entry = resources.files("studentops.datasets") / "synth_params" / f"{name}.json"
    if not entry.is_file():
        return None
    return json.loads(entry.read_text(encoding="utf-8"))


def write_cohort(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a cohort as CSV or Parquet by the file's extension, with Arrow's fast writers.

    Raises:
        DataError: the extension is neither ``.csv`` nor ``.parquet``, or the file cannot be
            written.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DataError(f"{p}: cannot tell the format; use a .csv or .parquet file name")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            # The CSV writer does not take dictionary (categorical) columns.
            for i, col in enumerate(table.columns):
                if pa.types.is_dictionary(col.type):
                    plain = pc.cast(col, col.type.value_type)
                    table = table.set_column(i, table.field(i).name, plain)
            pacsv.write_csv(table, p)
        else:
            pq.write_table(table, p)
    except OSError as exc:
        raise DataError(f"{p}: cannot write ({exc.strerror or exc})") from exc
    return p


# -- sampling --------------------------------------------------------------------------------


@dataclass
class _Draw:
    """Drawn features: codes of table columns, values of numeric ones, missing masks."""

    codes: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]


def sample_cohort(
    model: CohortModel, profile: Profile, rows: int, seed: int, drifts: tuple[Drift, ...] = ()
) -> pd.DataFrame:
    """Draw rows from a cohort model, applying drifts already checked against the profile."""
    rng = np.random.default_rng(seed)
    marginals = _mixed_marginals(model.marginals, drifts)
    mixed = frozenset(d.column for d in drifts if d.kind == "mix")
    draw = _draw_features(model, profile, marginals, rows, rng, mixed)
    for d in drifts:
        if d.kind in ("add", "scale") and d.column in draw.values:
            col = profile.columns[d.column]
            decimals = 0 if col.type == "integer" else marginals[d.column].decimals
            draw.values[d.column] = _shift(draw.values[d.column], d, col.min, col.max, decimals)
    eta = _linear_predictor(model.outcome, marginals, draw, rows)
    out = _draw_outcome(model.outcome, profile, eta, rng, drifts)
    for name, m in marginals.items():
        col, mask = profile.columns[name], draw.masks.get(name)
        if name in draw.codes:
            out[name] = _category_output(col, list(m.values), draw.codes[name], mask)
        elif col.type == "datetime":
            days = draw.values[name].astype("int64").astype("datetime64[D]")
            out[name] = pd.Series(days).mask(mask) if mask is not None else days
        else:
            out[name] = _numeric_output(col, draw.values[name], mask)
    if profile.id:
        out[profile.id] = _ids(profile.id, profile.columns[profile.id], rows)
    # copy=False keeps one block per column: consolidating a million rows costs seconds.
    frame = pd.DataFrame({n: out[n] for n in profile.columns if n in out}, copy=False)
    for d in drifts:
        if d.kind == "missing":
            frame[d.column] = _blank(frame[d.column], missing_mask(rows, d.amount, rng))
    return frame


def outcome_scores(model: CohortModel, profile: Profile, rows: int, seed: int) -> np.ndarray:
    """Logits (or means) of the outcome for ``rows`` drawn students, shape (classes, rows).

    Fitting uses it to calibrate the outcome model on the synthetic features it will meet.
    """
    rng = np.random.default_rng(seed)
    draw = _draw_features(model, profile, model.marginals, rows, rng)
    return _linear_predictor(model.outcome, model.marginals, draw, rows)


def _mixed_marginals(
    marginals: dict[str, Marginal], drifts: tuple[Drift, ...]
) -> dict[str, Marginal]:
    """Apply category-mix drifts to the marginals, so the copula keeps the correlations."""
    out = dict(marginals)
    for d in drifts:
        if d.kind == "mix" and d.column in out:
            m = out[d.column]
            keys = [category_key(v) for v in m.values]
            out[d.column] = replace(m, probs=mix_shares(keys, m.probs, d))
    return out


def _draw_features(
    model: CohortModel,
    profile: Profile,
    marginals: dict[str, Marginal],
    rows: int,
    rng: np.random.Generator,
    mixed: frozenset[str] = frozenset(),
) -> _Draw:
    # A child whose own mix is drifted follows its new shares, not its parent.
    children = {n: c for n, c in model.children.items() if n not in mixed}
    # Column-major float32 normals: half the cost of row-major float64, and contiguous columns.
    latent = rng.standard_normal((len(model.copula), rows), dtype=np.float32)
    if model.chol is not None:
        latent = model.chol.astype(np.float32) @ latent
    where = {name: j for j, name in enumerate(model.copula)}
    latents: dict[str, np.ndarray] = {}
    codes: dict[str, np.ndarray] = {}
    for name, m in marginals.items():
        z = latent[where[name]] if name in where else rng.standard_normal(rows, dtype=np.float32)
        latents[name] = z
        codes[name] = m.draw(z)
    for name, child in children.items():
        codes[name] = child.draw(codes[child.parent], latents[name], latents[child.parent])
    draw = _Draw({}, {}, {})
    for name, m in marginals.items():
        if profile.columns[name].type in ("category", "boolean", "text"):
            draw.codes[name] = codes[name]
        else:
            values = m.values[codes[name]].astype(float) if m.kind == "table" else codes[name]
            draw.values[name] = _clip(values, profile.columns[name])
        if m.missing > 0:
            draw.masks[name] = missing_mask(rows, m.missing, rng)
    _apply_rules(model.rules, marginals, draw.values, rng, profile)
    return draw


def _apply_rules(
    rules: list[Rule],
    marginals: dict[str, Marginal],
    values: dict[str, np.ndarray],
    rng: np.random.Generator,
    profile: Profile,
) -> None:
    """Make drawn rows keep the rules of the real rows, which the copula alone breaks.

    Both fixes keep the zero shares, which models lean on (no units approved: dropout):
    a forced zero swaps values with an unexplained zero, and a broken ``a <= b`` raises b
    (fitting pre-distorts b's shares so that it still ends up with the real ones).
    """
    active = [r for r in rules if r.first in values and r.second in values]
    for rule in (r for r in active if r.kind == "zero"):
        first, second = values[rule.first], values[rule.second]
        force = np.flatnonzero((first == 0) & (second != 0))
        spare = np.flatnonzero((first != 0) & (second == 0))
        moved = second[force].copy()
        second[force] = 0
        take = spare[rng.choice(len(spare), min(len(force), len(spare)), replace=False)]
        second[take] = moved[: len(take)]
        if rule.both:
            # Zeros the rule cannot explain and no swap filled: redraw from the non-zero part.
            redo = np.flatnonzero((first != 0) & (second == 0))
            m = marginals[rule.second]
            p0 = m.share_at_or_below(0.0)
            drawn = m.quantile(p0 + (1 - p0) * rng.random(len(redo)))
            second[redo] = m.values[drawn] if m.kind == "table" else drawn
    for _ in range(2):  # twice, for chains such as a <= b <= c
        for rule in (r for r in active if r.kind == "le"):
            raised = np.maximum(values[rule.second], values[rule.first])
            values[rule.second] = _clip(raised, profile.columns[rule.second])


def _linear_predictor(
    outcome: Outcome, marginals: dict[str, Marginal], draw: _Draw, rows: int
) -> np.ndarray:
    """Outcome logits (or mean) per row, as a (classes, rows) array."""
    eta = np.repeat(outcome.intercept[:, None], rows, axis=1)
    for name, (mean, scale, coef) in outcome.numeric.items():
        if name in draw.values:
            z = (draw.values[name] - mean) / scale
            if name in draw.masks:
                z[draw.masks[name]] = 0.0
            for k, c in enumerate(coef):
                eta[k] += c * z
    for name, table in outcome.categorical.items():
        if name in draw.codes:
            keys = [category_key(v) for v in marginals[name].values]
            zero = np.zeros_like(outcome.intercept)
            # A last all-zero row: code -1 (missing) picks it and adds nothing.
            coefs = np.array([table.get(k, zero) for k in keys] + [zero])
            codes = draw.codes[name]
            if name in draw.masks:
                codes = np.where(draw.masks[name], -1, codes)
            for k in range(len(zero)):
                eta[k] += coefs[:, k][codes]
    return eta


def _draw_outcome(
    outcome: Outcome,
    profile: Profile,
    eta: np.ndarray,
    rng: np.random.Generator,
    drifts: tuple[Drift, ...],
) -> dict[str, Any]:
    """The target column (and a derived target's source) drawn from the features."""
    target = profile.target
    if outcome.kind == "logistic":
        for d in drifts:
            if d.kind == "mix" and d.column == target.column and eta.shape[1]:
                current = _class_shares(eta[:, :CALIBRATION_ROWS])
                keys = [category_key(c) for c in outcome.classes]
                eta = eta + intercepts_for_shares(eta, mix_shares(keys, current, d))[:, None]
        codes = _draw_classes(eta, rng)
        col = profile.columns.get(target.column)
        return {target.column: _category_output(col, outcome.classes, codes)}
    rows = eta.shape[1]
    quantiles = np.linspace(0, 1, len(outcome.residual))
    y = eta[0] + np.interp(rng.random(rows), quantiles, outcome.residual)
    col = profile.columns[outcome.column]
    for d in drifts:
        if d.kind in ("add", "scale") and d.column == outcome.column:
            y = _shift(y, d, col.min, col.max, outcome.decimals)
    y = _clip(np.round(y, outcome.decimals), col)
    out: dict[str, Any] = {outcome.column: _numeric_output(col, y, None)}
    if target.derive is not None:
        recorded = y + outcome.noise_scale * rng.standard_cauchy(rows)
        codes = _derived_codes(recorded if outcome.noise_scale > 0 else y, profile)
        if outcome.label_noise > 0 and outcome.noise_shares is not None:
            codes = _swap(codes, SWAP_SHARE * outcome.label_noise, outcome.noise_shares, rng)
        if target.column in profile.columns:
            column = profile.columns[target.column]
            out[target.column] = _category_output(column, derived_classes(profile), codes)
    return out


def _clip(values: np.ndarray, col: Column) -> np.ndarray:
    lo = -math.inf if col.min is None else col.min
    hi = math.inf if col.max is None else col.max
    if col.type == "integer":
        lo = math.ceil(lo) if col.min is not None else lo
        hi = math.floor(hi) if col.max is not None else hi
    return np.clip(values, lo, hi)


def derived_classes(profile: Profile) -> list[Any]:
    """The classes a derived target's bins give, each once, as a file would hold them."""
    derive = profile.target.derive
    unique = {category_key(c): c for c in (derive.classes if derive else [])}
    return list(unique.values())


def _derived_codes(y: np.ndarray, profile: Profile) -> np.ndarray:
    """Class positions (in ``derived_classes``) of a derived target, from the bin edges."""
    derive = profile.target.derive
    assert derive is not None
    lookup = {category_key(c): i for i, c in enumerate(derived_classes(profile))}
    position = np.array([lookup[category_key(c)] for c in derive.classes])
    return position[np.searchsorted(np.asarray(derive.edges, dtype=float), y, side="right")]


def _draw_classes(eta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One class per row from softmax(eta), with a single uniform draw per row."""
    p = np.exp(eta - eta.max(axis=0))
    cum = np.cumsum(p, axis=0)
    u = rng.random(eta.shape[1]) * cum[-1]
    return (u > cum).sum(axis=0).clip(max=eta.shape[0] - 1)


def _class_shares(eta: np.ndarray) -> np.ndarray:
    p = np.exp(eta - eta.max(axis=0))
    return (p / p.sum(axis=0)).mean(axis=1)


def intercepts_for_shares(eta: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Intercept shifts that move the mean class probabilities to ``wanted``.

    Used for a label-shift drift and, when fitting, to match the real class shares.
    """
    sample = eta[:, :CALIBRATION_ROWS]
    wanted = np.maximum(wanted, 1e-9)
    shift = np.zeros(eta.shape[0])
    for _ in range(200):
        got = _class_shares(sample + shift[:, None])
        if np.abs(got - wanted).max() < 1e-5:
            break
        shift += np.log(wanted / got)
    return shift - shift.mean()


def _swap(
    codes: np.ndarray, rate: float, shares: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Give a fraction ``rate`` of rows another class, drawn by ``shares`` whatever the source.

    Half of the real label noise (``SWAP_SHARE``) is drawn this way, the other half as noise
    on the source before binning (``Outcome.noise_scale``). In the real file GradeClass differs
    from bins(GPA) in 7% of rows, about as often far from a class edge as near one (measured:
    9% within 0.05 GPA of an edge, 6-8% farther), and swaps go to every class by its share;
    drawn all as swaps, every student far below an edge had one calibrated risk (P(D or F)
    capped at ~0.95), so a list's top could not rank. The source noise makes the risk keep
    rising with the distance to the edge; the swaps keep the real class shares (tested).
    """
    pick = np.flatnonzero(rng.random(len(codes)) < rate)
    weights = np.tile(np.maximum(shares, 1e-12), (len(pick), 1))
    weights[np.arange(len(pick)), codes[pick]] = 0.0
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(pick)) * cum[:, -1]
    out = codes.copy()
    out[pick] = (u[:, None] > cum).sum(axis=1).clip(max=len(shares) - 1)
    return out


def noise_scale_for_rate(y: np.ndarray, edges: np.ndarray, rate: float) -> float:
    """The Cauchy scale (source units) at which bins(y + u) differs from bins(y) at ``rate``.

    Args:
        y: source values (n,) of a typical population.
        edges: the bin edges (k,), ascending.
        rate: wanted share of records in another bin than their source (0..1).

    Returns:
        The scale, found by bisection on the exact disagreement rate
        ``mean(1 - F((hi - y) / s) + F((lo - y) / s))``, F the standard Cauchy CDF (a
        rate that is 0 or unreachable gives 0: no noise).
    """
    if not 0 < rate < 0.5 or not len(y):
        return 0.0
    bounds = np.r_[-np.inf, np.asarray(edges, dtype=float), np.inf]
    b = np.searchsorted(bounds, y, side="right") - 1
    lo, hi = bounds[b] - y, bounds[b + 1] - y

    def disagreement(scale: float) -> float:
        inside = (np.arctan(hi / scale) - np.arctan(lo / scale)) / math.pi
        return float(1.0 - inside.mean())

    low, high = 1e-6, 10.0
    if disagreement(high) < rate:
        return 0.0
    for _ in range(60):
        mid = math.sqrt(low * high)
        low, high = (mid, high) if disagreement(mid) < rate else (low, mid)
    return math.sqrt(low * high)


# -- output columns --------------------------------------------------------------------------


def _category_output(
    col: Column | None, values: list[Any], codes: np.ndarray, mask: np.ndarray | None = None
) -> Any:
    """Values by code in the column's natural dtype; code -1 or ``mask`` means missing."""
    if mask is not None:
        codes = np.where(mask, -1, codes)
    missing = codes < 0
    if col is not None and col.type == "boolean":
        return pd.arrays.BooleanArray(np.asarray(values, dtype=bool)[codes], missing)
    numbers = not any(isinstance(v, bool) for v in values)
    if numbers and all(isinstance(v, int | np.integer) for v in values):
        ints = np.asarray(values, dtype=np.int64)[codes]
        return pd.arrays.IntegerArray(ints, missing) if missing.any() else ints
    if numbers and all(isinstance(v, int | float) for v in values):
        return np.where(missing, np.nan, np.asarray(values, dtype=float)[codes])
    return pd.Categorical.from_codes(codes, categories=[str(v) for v in values])


def _numeric_output(col: Column, values: np.ndarray, mask: np.ndarray | None) -> Any:
    if col.type == "integer":
        ints = values.astype(np.int64)
        if mask is not None and mask.any():
            return pd.arrays.IntegerArray(ints, mask.copy())
        return ints
    if mask is not None and mask.any():
        return np.where(mask, np.nan, values)
    return values


def _blank(series: pd.Series, mask: np.ndarray) -> pd.Series:
    """Blank masked values, switching to a dtype that can hold a missing value."""
    if pd.api.types.is_bool_dtype(series):
        series = series.astype("boolean")
    elif pd.api.types.is_integer_dtype(series):
        series = series.astype("Int64")
    return series.mask(mask)


def _ids(name: str, col: Column, rows: int) -> Any:
    """Unique ids 1..rows (or from the column's minimum), as the id column's type wants."""
    if col.type in ("integer", "number"):
        start = max(1, math.ceil(col.min)) if col.min is not None else 1
        if col.max is not None and start + rows - 1 > col.max:
            raise DataError(
                f"id column {name!r} allows ids up to {col.max:g}: cannot make {rows} unique ids"
            )
        return np.arange(start, start + rows, dtype=np.int64)
    if col.type == "text":
        import pyarrow as pa
        import pyarrow.compute as pc

        # Arrow builds a million strings without a Python object each.
        digits = pc.utf8_lpad(pa.array(np.arange(1, rows + 1)).cast(pa.string()), 7, "0")
        return pd.arrays.ArrowStringArray(pc.binary_join_element_wise("S", digits, ""))
    if col.type == "category" and rows <= len(col.categories or []):
        return list((col.categories or [])[:rows])
    raise DataError(f"cannot make {rows} unique ids for the {col.type} id column {name!r}")


# -- models from a parameter file or from the profile alone ----------------------------------


def generated_columns(profile: Profile) -> list[str]:
    """Columns drawn from marginals: all but the id and what the outcome model produces."""
    skip = {profile.id, profile.target.column, profile.target_source}
    return [name for name in profile.columns if name not in skip]


def outcome_inputs(profile: Profile) -> list[str]:
    """Columns the outcome depends on: every generated column a model could read, not leaks.

    Sensitive columns stay in, so fairness audits of synthetic cohorts see realistic gaps.
    """
    leaks = set(profile.leaks)
    return [
        name
        for name in generated_columns(profile)
        if name not in leaks and profile.columns[name].type not in ("text", "datetime")
    ]


def _category_values(col: Column) -> list[Any]:
    return [False, True] if col.type == "boolean" else list(col.categories or [])


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _raw_classes(profile: Profile) -> list[Any]:
    """Values the target column takes in a file (before any mapping)."""
    t = profile.target
    col = profile.columns.get(t.column)
    if col is not None and col.type in ("category", "boolean"):
        values = _category_values(col)
        if t.mapping:
            mapped = {category_key(k) for k in t.mapping}
            values = [v for v in values if category_key(v) in mapped] or list(t.mapping)
        return values
    return list(t.mapping) if t.mapping else profile.class_order()


def model_from_params(params: dict[str, Any], profile: Profile) -> CohortModel:
    """Build the sampler from a parameter file; columns it lacks fall back to the profile.

    Raises:
        DataError: the parameter file has an unknown format.
    """
    if params.get("format") != FORMAT:
        raise DataError(f"synthetic parameters for {profile.name!r} have an unknown format")
    # The fallback is built only for what the file lacks (a column added to the profile).
    fallback: list[CohortModel] = []

    def backup() -> CohortModel:
        if not fallback:
            fallback.append(fallback_model(profile))
        return fallback[0]

    marginals: dict[str, Marginal] = {}
    for name in generated_columns(profile):
        col, spec = profile.columns[name], params["columns"].get(name)
        marginals[name] = (
            _marginal_from_json(spec, col) if spec is not None else backup().marginals[name]
        )
    stored = params["correlation"]["columns"]
    copula = [c for c in stored if c in marginals]
    keep = [stored.index(c) for c in copula]
    corr = _nearest_correlation(
        np.asarray(params["correlation"]["matrix"], dtype=float)[np.ix_(keep, keep)]
    )
    chol = np.linalg.cholesky(corr) if copula else None
    numeric = {n for n in marginals if profile.columns[n].type in ("integer", "number")}
    rules = [
        Rule(r["kind"], r["columns"][0], r["columns"][1], r.get("both", False))
        for r in params.get("rules", [])
        if set(r["columns"]) <= numeric
    ]
    outcome = _outcome_from_json(params["outcome"], profile) or backup().outcome
    where = {name: i for i, name in enumerate(copula)}
    children = {
        name: Child(
            spec["parent"],
            np.cumsum(np.asarray(spec["shares"], dtype=float), axis=1),
            float(corr[where[name], where[spec["parent"]]])
            if {name, spec["parent"]} <= set(where)
            else 0.0,
        )
        for name, spec in params.get("children", {}).items()
        if _child_fits(spec, name, marginals, params["columns"])
    }
    model = CohortModel(marginals, copula, chol, outcome, rules, children)
    derive = profile.target.derive
    if outcome.label_noise > 0 and derive is not None and outcome.kind == "linear":
        outcome.noise_scale = noise_scale_for_rate(
            _typical_source(model, profile),
            np.asarray(derive.edges, float),
            (1 - SWAP_SHARE) * outcome.label_noise,
        )
    return model


_TYPICAL_SOURCES: dict[int, np.ndarray] = {}


def _typical_source(model: CohortModel, profile: Profile, rows: int = 20_000) -> np.ndarray:
    """Source values (rows,) of a fixed sample of the population (the seed is the profile's),
    so the label noise's scale is a property of the population, not of one cohort. Kept per
    profile content (drawing it costs ~0.15 s)."""
    seed = _profile_seed(profile)
    if seed in _TYPICAL_SOURCES:
        return _TYPICAL_SOURCES[seed]
    eta = outcome_scores(model, profile, rows, seed)
    u = np.random.default_rng(seed + 1).random(rows)
    out = model.outcome
    y = eta[0] + np.interp(u, np.linspace(0, 1, len(out.residual)), out.residual)
    _TYPICAL_SOURCES[seed] = _clip(np.round(y, out.decimals), profile.columns[out.column])
    return _TYPICAL_SOURCES[seed]


def _child_fits(
    spec: dict[str, Any], name: str, marginals: dict[str, Marginal], stored: dict[str, Any]
) -> bool:
    """A parent link holds only while both columns keep the values it was fitted on."""
    parent = spec["parent"]
    if not {name, parent} <= set(marginals) or not {name, parent} <= set(stored):
        return False
    shape = (len(marginals[parent].values), len(marginals[name].values))
    return (
        marginals[name].kind == marginals[parent].kind == "table"
        and np.shape(spec["shares"]) == shape
        and (len(stored[parent]["values"]), len(stored[name]["values"])) == shape
    )


def _marginal_from_json(spec: dict[str, Any], col: Column) -> Marginal:
    missing = float(spec.get("missing", 0.0)) if col.nullable else 0.0
    decimals = 0 if col.type == "integer" else int(spec.get("decimals", 6))
    if spec["kind"] == "quantiles":
        q = np.asarray(spec["quantiles"], dtype=float)
        return Marginal("quantiles", q, np.linspace(0, 1, len(q)), decimals, missing)
    probs = np.asarray(spec["probs"], dtype=float)
    if col.type not in ("category", "boolean"):
        values = np.asarray(spec["values"], dtype=float)
        return Marginal("table", values, probs / probs.sum(), decimals, missing)
    # Match stored categories to the profile's by key: unknown ones drop, new ones get share 0.
    known = {category_key(v): v for v in _category_values(col)}
    pairs = [
        (known[category_key(v)], p)
        for v, p in zip(spec["values"], probs, strict=True)
        if category_key(v) in known
    ]
    seen = {category_key(v) for v, _ in pairs}
    pairs += [(v, 0.0) for k, v in known.items() if k not in seen]
    shares = np.array([p for _, p in pairs], dtype=float)
    return Marginal("table", _objects([v for v, _ in pairs]), shares / shares.sum(), 0, missing)


def _outcome_from_json(spec: dict[str, Any], profile: Profile) -> Outcome | None:
    """The stored outcome model, or None when it no longer fits the profile."""
    column = profile.target_source or profile.target.column
    if spec["column"] != column:
        return None
    out = Outcome(
        spec["kind"],
        column,
        np.asarray(spec["intercept"], dtype=float),
        {
            name: (v["mean"], v["scale"], np.asarray(v["coef"], dtype=float))
            for name, v in spec["numeric"].items()
        },
        {
            name: {key: np.asarray(c, dtype=float) for key, c in table.items()}
            for name, table in spec["categorical"].items()
        },
    )
    if out.kind == "logistic":
        raw = {category_key(c): c for c in _raw_classes(profile)}
        if {category_key(c) for c in spec["classes"]} != set(raw):
            return None
        out.classes = [raw[category_key(c)] for c in spec["classes"]]
        return out
    out.residual = np.asarray(spec["residual"], dtype=float)
    out.decimals = 0 if profile.columns[column].type == "integer" else spec["decimals"]
    noise = spec.get("label_noise")
    if noise and profile.target.derive is not None:
        shares = dict(zip(noise["classes"], noise["shares"], strict=True))
        out.label_noise = float(noise["rate"])
        out.noise_shares = np.array(
            [shares.get(category_key(c), 0.0) for c in derived_classes(profile)]
        )
    return out


def _nearest_correlation(corr: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """Make a symmetric matrix a valid correlation matrix (clip eigenvalues, unit diagonal)."""
    vals, vecs = np.linalg.eigh((corr + corr.T) / 2)
    fixed = (vecs * np.maximum(vals, floor)) @ vecs.T
    d = np.sqrt(np.diag(fixed))
    out = fixed / np.outer(d, d)
    np.fill_diagonal(out, 1.0)
    return out


def _profile_seed(profile: Profile) -> int:
    """A seed fixed by the profile's content, so the fallback population never moves."""
    digest = hashlib.sha256(profile.model_dump_json().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def fallback_model(profile: Profile) -> CohortModel:
    """Independent plausible marginals and a random (profile-fixed) linear outcome model."""
    rng = np.random.default_rng(_profile_seed(profile))
    marginals = {n: _fallback_marginal(profile.columns[n], rng) for n in generated_columns(profile)}
    for name in profile.leaks:
        if name in marginals:
            marginals[name].missing = 0.0
    inputs = outcome_inputs(profile)
    classification = profile.task != "regression" and profile.target.derive is None
    classes = _raw_classes(profile) if classification else []
    k = len(classes) if classification else 1
    # Logits of sd ~2 (or a mean of sd ~0.8 spreads): learnable, not trivially so.
    weight = (2.0 if classification else 0.8) / math.sqrt(max(len(inputs), 1))
    numeric: dict[str, tuple[float, float, np.ndarray]] = {}
    categorical: dict[str, dict[str, np.ndarray]] = {}
    for name in inputs:
        m = marginals[name]
        if profile.columns[name].type in ("integer", "number"):
            numeric[name] = (*_moments(m), rng.normal(0, weight, k))
        else:
            categorical[name] = {category_key(v): rng.normal(0, weight, k) for v in m.values}
    if classification:
        shares = rng.dirichlet(np.full(k, 4.0))
        outcome = Outcome(
            "logistic", profile.target.column, np.log(shares), numeric, categorical, classes
        )
        return CohortModel(marginals, [], None, outcome)
    column = profile.target_source or profile.target.column
    col = profile.columns[column]
    center, spread = _fallback_center(profile, col)
    outcome = Outcome(
        "linear",
        column,
        np.array([center]),
        {n: (mean, scale, c * spread) for n, (mean, scale, c) in numeric.items()},
        {n: {key: c * spread for key, c in t.items()} for n, t in categorical.items()},
        residual=0.6 * spread * ndtri(np.linspace(0.0005, 0.9995, QUANTILES)),
        decimals=0 if col.type == "integer" else 2,
    )
    return CohortModel(marginals, [], None, outcome)


def _fallback_center(profile: Profile, col: Column) -> tuple[float, float]:
    """Where a fallback numeric outcome sits: across the grade bins, else mid-range."""
    derive = profile.target.derive
    if derive is not None and len(derive.edges) > 1:
        return float(np.mean(derive.edges)), (derive.edges[-1] - derive.edges[0]) / 2
    if col.min is not None and col.max is not None:
        return (col.min + col.max) / 2, (col.max - col.min) / 6
    if derive is not None:
        return derive.edges[0], max(abs(derive.edges[0]) * 0.25, 1.0)
    if col.min is not None:
        return col.min + 10, 5.0
    if col.max is not None:
        return col.max - 10, 5.0
    return 0.0, 1.0


def _fallback_marginal(col: Column, rng: np.random.Generator) -> Marginal:
    """A plausible distribution from the profile alone: a hump across a range, skewed above
    a lone minimum, uneven category shares."""
    missing = FALLBACK_MISSING if col.nullable else 0.0
    probs = np.linspace(0, 1, QUANTILES)
    if col.type in ("category", "boolean"):
        values = _objects(_category_values(col))
        return Marginal("table", values, rng.dirichlet(np.full(len(values), 4.0)), 0, missing)
    if col.type == "text":
        values = _objects([f"text {i:04d}" for i in range(1, 1001)])
        return Marginal("table", values, np.full(1000, 1 / 1000), 0, missing)
    if col.type == "datetime":
        first, last = (int(np.datetime64(d, "D").astype(np.int64)) for d in FALLBACK_DAYS)
        return Marginal("quantiles", np.linspace(first, last, QUANTILES), probs, 0, missing)
    lo, hi = col.min, col.max
    skewed = 5 * gammaincinv(2, np.minimum(probs, 0.999))  # gamma(2, scale 5): mean 10
    if lo is not None and hi is not None:
        q = lo + (hi - lo) * betaincinv(2, 2, probs)
    elif lo is not None:
        q = lo + skewed
    elif hi is not None:
        q = hi - skewed[::-1]
    else:
        q = (10.0 if col.type == "integer" else 1.0) * ndtri(np.clip(probs, 0.001, 0.999))
    return Marginal("quantiles", q, probs, 0 if col.type == "integer" else 2, missing)


def _moments(m: Marginal) -> tuple[float, float]:
    if m.kind == "table":
        v = m.values.astype(float)
        mean = float(m.probs @ v)
        sd = float(np.sqrt(m.probs @ (v - mean) ** 2))
    else:
        mean, sd = float(m.values.mean()), float(m.values.std())
    return mean, sd if sd > 0 else 1.0
