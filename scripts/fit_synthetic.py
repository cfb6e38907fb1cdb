"""Fit the synthetic-cohort parameter file of each built-in profile from the real seed data.

Run once after a profile, the seed data or this fitting changes; the JSON files are package
data read by ``studentops.datasets.synthetic``:

    .venv/bin/python scripts/fit_synthetic.py [--data ../shared/data] [PROFILE ...]

Only aggregates reach the files, never a row: 101-point quantile tables (or value shares for
columns with few values), category shares, a Gaussian-copula correlation matrix, rules every
real row keeps, and the coefficients of a logistic or linear outcome model.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from studentops.datasets.loading import read_table
from studentops.datasets.profile import Column, Profile, builtin_profile_names, load_profile
from studentops.datasets.profile import category_key as key_of
from studentops.datasets.synthetic import (
    CALIBRATION_ROWS,
    FORMAT,
    MAX_TABLE_VALUES,
    QUANTILES,
    derived_classes,
    generated_columns,
    intercepts_for_shares,
    model_from_params,
    outcome_inputs,
    outcome_scores,
    sample_cohort,
)
from studentops.datasets.validation import validate

OUT = Path(__file__).resolve().parents[1] / "src" / "studentops" / "datasets" / "synth_params"
# A rule is kept only if independent columns would break it in this many of the real rows:
# a rule that holds by chance on a small table is not a rule.
RULE_EVIDENCE = 20
CHILD_CHECK_ROWS = 20_000
MATCH_ROWS = 30_000


def fit_params(frame: pd.DataFrame, profile: Profile, seed: int = 0) -> dict[str, Any]:
    """Learn a profile's synthetic-cohort parameters from validated rows.

    Args:
        frame: validated rows (``validate(...).valid``).
        profile: the profile the rows follow.
        seed: seed of the calibration sample and the cross-validation folds.

    Returns:
        A JSON-ready mapping for ``synthetic.model_from_params``.
    """
    if len(frame) < 50:
        raise ValueError(f"need at least 50 rows to fit a synthetic cohort, got {len(frame)}")
    names = [
        n
        for n in generated_columns(profile)
        if profile.columns[n].type in ("integer", "number", "category", "boolean")
    ]
    y_name = profile.target_source or profile.target.column
    linear = profile.task == "regression" or profile.target.derive is not None
    raw_target = frame[y_name] if linear else frame[profile.target.column].map(_key)
    target = pd.to_numeric(raw_target, errors="coerce") if linear else raw_target
    keep = target.notna().to_numpy()
    frame, target = frame[keep].reset_index(drop=True), target[keep].reset_index(drop=True)

    columns: dict[str, dict[str, Any]] = {}
    scores: dict[str, np.ndarray] = {}
    numeric = [n for n in names if profile.columns[n].type in ("integer", "number")]
    for name in numeric:
        col = profile.columns[name]
        columns[name], scores[name] = fit_numeric(frame[name].to_numpy(float), col)
    if linear:
        outcome_anchor = [fit_numeric(target.to_numpy(float), profile.columns[y_name])[1]]
    else:
        outcome_anchor = [_standard((target == k).to_numpy(float)) for k in sorted(set(target))]
    categorical = [n for n in names if n not in columns]
    anchors = [*scores.values(), *outcome_anchor]
    columns.update(_fit_categories(frame, profile, categorical, anchors, scores))

    copula = [n for n in names if n in scores]
    matrix = copula_correlation(np.column_stack([scores[n] for n in copula]))
    params = {
        "format": FORMAT,
        "profile": profile.name,
        "fitted_rows": len(frame),
        "columns": {n: columns[n] for n in names},
        "correlation": {"columns": copula, "matrix": [_round(r, 4) for r in matrix]},
        "rules": fit_rules(frame, numeric),
        "outcome": fit_outcome(frame, target, profile, columns, linear, seed),
    }
    match_correlation(frame, profile, params, seed)
    params["children"] = fit_children(frame, profile, params, seed)
    match_rule_marginals(frame, profile, params, seed)
    _calibrate(params, profile, target, linear, seed)
    return params


# -- marginals and the copula ----------------------------------------------------------------


def fit_numeric(x: np.ndarray, col: Column) -> tuple[dict[str, Any], np.ndarray]:
    """A value table (few distinct values) or a quantile table, and each row's normal score."""
    seen = ~np.isnan(x)
    uniq, inverse, counts = np.unique(x[seen], return_inverse=True, return_counts=True)
    probs = counts / counts.sum()
    decimals = next((d for d in range(5) if np.allclose(np.round(uniq, d), uniq, atol=1e-9)), 4)
    if col.type == "integer":
        decimals = 0
    spec: dict[str, Any]
    if len(uniq) <= MAX_TABLE_VALUES:
        spec = {"kind": "table", "values": _round(uniq, decimals), "probs": _round(probs, 6)}
    else:
        q = np.quantile(x[seen], np.linspace(0, 1, QUANTILES))
        spec = {"kind": "quantiles", "quantiles": _round(q, decimals + 2)}
    spec["decimals"] = decimals
    if col.nullable:
        spec["missing"] = round(float((~seen).mean()), 6)
    score = np.full(len(x), np.nan)
    score[seen] = interval_means(probs)[inverse]
    return spec, score


def interval_means(probs: np.ndarray) -> np.ndarray:
    """E[Z | Z in the slice of the normal a value occupies]: a normal score that handles ties."""
    cum = np.clip(np.concatenate([[0.0], np.cumsum(probs)]), 0.0, 1.0)
    cum[-1] = 1.0
    dens = np.exp(-0.5 * ndtri(cum) ** 2) / math.sqrt(2 * math.pi)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num((dens[:-1] - dens[1:]) / probs)


def _fit_categories(
    frame: pd.DataFrame,
    profile: Profile,
    names: list[str],
    anchors: list[np.ndarray],
    scores: dict[str, np.ndarray],
) -> dict[str, dict[str, Any]]:
    """Category shares in latent order; fills ``scores`` with each row's normal score.

    Two passes: the first orders categories against the numbers and the outcome, the second
    also against the other categories (so Nacionality lines up with International).
    """
    codes_of: dict[str, np.ndarray] = {}
    for name in names:
        lookup = {key_of(v): i for i, v in enumerate(_values(profile.columns[name]))}
        codes_of[name] = frame[name].map(_key).map(lookup).fillna(-1).to_numpy(dtype=int)
    out: dict[str, dict[str, Any]] = {}
    for second_pass in (False, True):
        own = {n: scores[n] for n in names if second_pass}
        for name in names:
            others = [s for n, s in own.items() if n != name]
            anchor = np.nan_to_num(np.column_stack([*anchors, *others]))
            col, codes = profile.columns[name], codes_of[name]
            values = _values(col)
            order = latent_order(codes, len(values), anchor)
            rank = np.empty(len(values), dtype=int)
            rank[order] = np.arange(len(values))
            ordered = np.where(codes >= 0, rank[codes.clip(0)], -1)
            counts = np.bincount(ordered[ordered >= 0], minlength=len(values)).astype(float)
            probs = counts / max(counts.sum(), 1.0)
            score = interval_means(probs)[ordered.clip(0)]
            scores[name] = np.where(ordered >= 0, score, np.nan)
            out[name] = {
                "kind": "table",
                "values": [_plain(values[i]) for i in order],
                "probs": _round(probs, 6),
            }
            if col.nullable:
                out[name]["missing"] = round(float((codes < 0).mean()), 6)
    return out


def latent_order(codes: np.ndarray, k: int, anchor: np.ndarray) -> np.ndarray:
    """Order categories along their main direction of association with the other columns.

    A Gaussian copula puts categories on a line; ordering them by the first principal axis of
    their mean scores keeps the strongest associations representable.
    """
    ok = codes >= 0
    counts = np.bincount(codes[ok], minlength=k).astype(float)
    if k <= 2 or not ok.any():
        return np.arange(k)
    sums = np.zeros((k, anchor.shape[1]))
    np.add.at(sums, codes[ok], anchor[ok])
    means = sums / np.maximum(counts, 1)[:, None]
    weights = counts / counts.sum()
    centred = means - weights @ means
    _, _, vt = np.linalg.svd(centred * np.sqrt(weights)[:, None], full_matrices=False)
    position = centred @ vt[0]
    position[counts == 0] = np.inf
    return np.argsort(position, kind="stable")


def copula_correlation(scores: np.ndarray) -> np.ndarray:
    """Latent correlation from tie-aware normal scores, corrected for discreteness.

    The scores of a discrete column vary less than the normal beneath it (variance < 1), which
    shrinks their correlations; dividing the covariance by both variances undoes most of it.
    """
    seen = (~np.isnan(scores)).astype(float)
    s = np.nan_to_num(scores)
    cov = (s.T @ s) / np.maximum(seen.T @ seen, 1)
    var = np.diag(cov).copy()
    var[var <= 0] = 1.0
    corr = np.clip(cov / np.outer(var, var), -0.995, 0.995)
    np.fill_diagonal(corr, 1.0)
    return _nearest_correlation(corr)


def _nearest_correlation(corr: np.ndarray) -> np.ndarray:
    """A valid correlation matrix near ``corr`` (eigenvalues clipped, unit diagonal)."""
    vals, vecs = np.linalg.eigh((corr + corr.T) / 2)
    fixed = (vecs * np.maximum(vals, 1e-6)) @ vecs.T
    d = np.sqrt(np.diag(fixed))
    return fixed / np.outer(d, d)


def match_correlation(
    frame: pd.DataFrame, profile: Profile, params: dict[str, Any], seed: int, rounds: int = 8
) -> None:
    """Tune the latent correlations until sampled rows show the real rows' score correlations.

    The discreteness correction is only a first guess: skewed binary pairs such as Debtor and
    Tuition fees come out far too strong. Matching on samples of the copula alone (no rules,
    no parent links, which fix other things afterwards) is a simulated method of moments.
    """
    names = params["correlation"]["columns"]
    wanted = _pair_correlation(_score_matrix(frame, profile, params["columns"], names))
    latent = np.asarray(params["correlation"]["matrix"], dtype=float)
    for step in range(rounds):
        model = replace(model_from_params(params, profile), rules=[], children={})
        synth = sample_cohort(model, profile, MATCH_ROWS, seed + step)
        got = _pair_correlation(_score_matrix(synth, profile, params["columns"], names))
        latent = np.clip(latent + (wanted - got), -0.995, 0.995)
        np.fill_diagonal(latent, 1.0)
        latent = _nearest_correlation(latent)
        params["correlation"]["matrix"] = [_round(r, 4) for r in latent]


def match_rule_marginals(
    frame: pd.DataFrame, profile: Profile, params: dict[str, Any], seed: int, rounds: int = 4
) -> None:
    """Pre-distort the shares of columns the rules touch so that, after the rules, they match.

    Raising ``enrolled`` to ``approved`` where the copula broke the rule shifts enrolled up
    (5 units: 23% real, 18% drawn); scaling each value's share by real / drawn, a few times,
    undoes it. A child column's shares live in its parent table, so its columns are scaled.
    """
    specs, children = params["columns"], params.get("children", {})
    touched = {c for r in params["rules"] for c in r["columns"] if specs[c]["kind"] == "table"}
    for step in range(rounds):
        synth = sample_cohort(model_from_params(params, profile), profile, MATCH_ROWS, seed + step)
        for name in sorted(touched):
            real_codes, k = _codes(frame[name], specs[name]["values"])
            synth_codes, _ = _codes(synth[name], specs[name]["values"])
            real = np.bincount(real_codes[real_codes >= 0], minlength=k) / max(
                (real_codes >= 0).sum(), 1
            )
            drawn = np.bincount(synth_codes[synth_codes >= 0], minlength=k) / max(
                (synth_codes >= 0).sum(), 1
            )
            ratio = np.where(drawn > 0, real / np.maximum(drawn, 1e-12), 1.0)
            if name in children:
                table = np.asarray(children[name]["shares"]) * ratio
                table /= table.sum(axis=1, keepdims=True)
                children[name]["shares"] = [_round(row, 6) for row in table]
            else:
                probs = np.asarray(specs[name]["probs"]) * ratio
                specs[name]["probs"] = _round(probs / probs.sum(), 6)


def _score_matrix(
    frame: pd.DataFrame, profile: Profile, specs: dict[str, Any], names: list[str]
) -> np.ndarray:
    """Each column's tie-aware normal scores, from the frame's own value shares."""
    out = []
    for name in names:
        col = profile.columns[name]
        if col.type in ("integer", "number"):
            out.append(fit_numeric(frame[name].to_numpy(dtype=float), col)[1])
            continue
        codes, k = _codes(frame[name], specs[name]["values"])
        counts = np.bincount(codes[codes >= 0], minlength=k).astype(float)
        score = interval_means(counts / max(counts.sum(), 1.0))[codes.clip(0)]
        out.append(np.where(codes >= 0, score, np.nan))
    return np.column_stack(out)


def _pair_correlation(scores: np.ndarray) -> np.ndarray:
    """Pearson correlation over the rows where both columns are present."""
    seen = (~np.isnan(scores)).astype(float)
    s = np.nan_to_num(scores)
    pairs = np.maximum(seen.T @ seen, 1)
    mean = (s.T @ seen) / pairs  # mean of column i over rows where j is present
    cov = (s.T @ s) / pairs - mean * mean.T
    sq = (s * s).T @ seen / pairs - mean**2
    return cov / np.sqrt(np.maximum(sq * sq.T, 1e-12))


def fit_rules(frame: pd.DataFrame, numeric: list[str]) -> list[dict[str, Any]]:
    """Rules every real row keeps and independent draws would often break.

    ``le``: a <= b (approved <= enrolled); ``zero``: a == 0 -> b == 0 (no approved units, no
    grade), with ``both`` when b == 0 -> a == 0 holds too.
    """
    le: list[dict[str, Any]] = []
    zero: list[dict[str, Any]] = []
    n = len(frame)
    for a in numeric:
        for b in numeric:
            if a == b:
                continue
            pair = frame[[a, b]].dropna().to_numpy(float)
            xa, xb = pair[:, 0], pair[:, 1]
            if (xa <= xb).all() and (xa < xb).any():
                # Rows where independent a and b would break the rule: P(A > B) * n.
                below = np.searchsorted(np.sort(xb), xa, side="left").mean() / len(xb)
                if below * n >= RULE_EVIDENCE:
                    le.append({"kind": "le", "columns": [a, b]})
            za, zb = xa == 0, xb == 0
            if za.any() and zb[za].all() and not zb.all():
                if za.sum() * (~zb).mean() < RULE_EVIDENCE:
                    continue
                both = bool(za[zb].all())
                if both and any(r["columns"] == [b, a] for r in zero):
                    continue
                zero.append({"kind": "zero", "columns": [a, b], "both": both})
    return le + zero


def fit_children(
    frame: pd.DataFrame, profile: Profile, params: dict[str, Any], seed: int
) -> dict[str, dict[str, Any]]:
    """Parent links for the strong associations the copula misses (Course -> evening classes).

    A child is a table column whose uncertainty given a parent (the share of its entropy the
    parent explains) is at least 0.3 in the real rows and at least 0.15 higher than in a sample
    of the copula alone. A number becomes a child only when its parent all but fixes it
    (inflation given unemployment: one value per cohort year); otherwise the copula's rank
    links serve numbers better. A parent is never a child, so links stay one level deep.
    """
    specs = params["columns"]
    tables = [n for n, spec in specs.items() if spec["kind"] == "table"]
    synth = sample_cohort(model_from_params(params, profile), profile, CHILD_CHECK_ROWS, seed)
    real_codes = {n: _codes(frame[n], specs[n]["values"]) for n in tables}
    synth_codes = {n: _codes(synth[n], specs[n]["values"]) for n in tables}
    candidates = []
    for child in tables:
        for parent in tables:
            if parent == child:
                continue
            real = uncertainty(real_codes[child], real_codes[parent])
            numeric = profile.columns[child].type in ("integer", "number")
            if real >= (0.9 if numeric else 0.3):
                gap = real - uncertainty(synth_codes[child], synth_codes[parent])
                if gap >= 0.15:
                    candidates.append((gap, child, parent))
    children: dict[str, dict[str, Any]] = {}
    for _, child, parent in sorted(candidates, reverse=True):
        parents = {c["parent"] for c in children.values()}
        if child in children or child in parents or parent in children:
            continue
        table = _conditional(real_codes[child], real_codes[parent], smoothing=1.0)
        children[child] = {"parent": parent, "shares": [_round(row, 6) for row in table]}
    return children


def uncertainty(child: tuple[np.ndarray, int], parent: tuple[np.ndarray, int]) -> float:
    """Theil's U: the share of the child's entropy that knowing the parent removes."""
    (c, k), _ = child, parent
    ok = (c >= 0) & (parent[0] >= 0)
    marginal = np.bincount(c[ok], minlength=k) / max(ok.sum(), 1)
    entropy = _entropy(marginal)
    if entropy <= 0:
        return 0.0
    # Pseudo-counts keep sparse parent values from faking a strong link.
    table = _conditional(child, parent, smoothing=5.0)
    weights = np.bincount(parent[0][ok], minlength=parent[1]) / max(ok.sum(), 1)
    conditional = float(sum(w * _entropy(row) for w, row in zip(weights, table, strict=True)))
    return 1.0 - conditional / entropy


def _conditional(
    child: tuple[np.ndarray, int], parent: tuple[np.ndarray, int], smoothing: float
) -> np.ndarray:
    """Shares of the child's values per parent value, shrunk towards the child's marginal."""
    (c, k), (p, n_parent) = child, parent
    ok = (c >= 0) & (p >= 0)
    counts = np.bincount(p[ok] * k + c[ok], minlength=n_parent * k).reshape(n_parent, k)
    marginal = counts.sum(axis=0) / max(counts.sum(), 1)
    return (counts + smoothing * marginal) / (counts.sum(axis=1, keepdims=True) + smoothing)


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _codes(values: pd.Series, stored: list[Any]) -> tuple[np.ndarray, int]:
    lookup = {key_of(v): i for i, v in enumerate(stored)}
    return values.map(_key).map(lookup).fillna(-1).to_numpy(dtype=int), len(stored)


# -- the outcome model -----------------------------------------------------------------------


def fit_outcome(
    frame: pd.DataFrame,
    target: pd.Series,
    profile: Profile,
    columns: dict[str, dict[str, Any]],
    linear: bool,
    seed: int,
) -> dict[str, Any]:
    """A logistic (classes) or ridge (numbers) model on standardised numbers and one-hots."""
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict

    blocks: list[np.ndarray] = []
    layout: list[tuple[str, str | None]] = []
    numeric: dict[str, dict[str, float]] = {}
    for name in [n for n in outcome_inputs(profile) if n in columns]:
        if profile.columns[name].type in ("integer", "number"):
            x = frame[name].to_numpy(dtype=float)
            mean, scale = float(np.nanmean(x)), float(np.nanstd(x)) or 1.0
            numeric[name] = {"mean": round(mean, 6), "scale": round(scale, 6)}
            blocks.append(np.nan_to_num((x - mean) / scale))
            layout.append((name, None))
            continue
        keys = frame[name].map(_key)
        for value in columns[name]["values"]:
            hit = (keys == key_of(value)).to_numpy(dtype=float)
            if hit.any():
                blocks.append(hit)
                layout.append((name, key_of(value)))
    design = np.column_stack(blocks) if blocks else np.zeros((len(frame), 1))
    spec: dict[str, Any] = {"column": profile.target_source or profile.target.column}
    if linear:
        y = target.to_numpy(dtype=float)
        model: Any = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(design, y)
        # Out-of-fold residuals: in-sample ones would make the synthetic outcome too clean.
        folds = KFold(5, shuffle=True, random_state=seed)
        fitted = cross_val_predict(RidgeCV(alphas=[model.alpha_]), design, y, cv=folds)
        coef, intercept = model.coef_[None, :], np.atleast_1d(model.intercept_)
        col = profile.columns[spec["column"]]
        spec["kind"] = "linear"
        spec["residual"] = _round(np.quantile(y - fitted, np.linspace(0, 1, QUANTILES)), 6)
        spec["decimals"] = fit_numeric(y, col)[0]["decimals"]
    else:
        y = target.to_numpy(dtype=object).astype(str)
        # C=1 on standardised inputs: a mild prior, enough to tame rare one-hot levels.
        model = LogisticRegression(C=1.0, max_iter=3000).fit(design, y)
        coef, intercept = model.coef_, model.intercept_
        if coef.shape[0] == 1:  # two classes: sklearn keeps one row of logits
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.r_[0.0, intercept]
        raw = {key_of(v): v for v in _values(profile.columns[profile.target.column])}
        spec["kind"] = "logistic"
        spec["classes"] = [_plain(raw.get(c, c)) for c in model.classes_]
    spec["intercept"] = _round(intercept, 6)
    spec["numeric"] = {}
    spec["categorical"] = {}
    for j, (name, key) in enumerate(layout):
        if key is None:
            spec["numeric"][name] = {**numeric[name], "coef": _round(coef[:, j], 6)}
        else:
            spec["categorical"].setdefault(name, {})[key] = _round(coef[:, j], 6)
    if profile.target.derive is not None and profile.target.column in frame.columns:
        spec["label_noise"] = fit_label_noise(frame, profile)
    return spec


def fit_label_noise(frame: pd.DataFrame, profile: Profile) -> dict[str, Any]:
    """How often a stored class disagrees with the one its source derives (GradeClass: 7%)."""
    derive = profile.target.derive
    assert derive is not None
    both = frame[[profile.target.column, derive.source]].dropna()
    stored = both[profile.target.column].map(key_of)
    derived = pd.Series(derive.apply(both[derive.source]), index=both.index).map(key_of)
    wrong = stored[stored != derived]
    order = [key_of(c) for c in derived_classes(profile)]
    shares = wrong.value_counts(normalize=True)
    return {
        "rate": round(len(wrong) / max(len(both), 1), 6),
        "classes": order,
        "shares": [round(float(shares.get(k, 0.0)), 6) for k in order],
    }


def _calibrate(
    params: dict[str, Any], profile: Profile, target: pd.Series, linear: bool, seed: int
) -> None:
    """Shift the outcome's intercepts so synthetic students have the real outcome shares.

    The model was fitted on real features; synthetic features are close but not equal, and
    the first thing anyone checks is the class balance.
    """
    outcome = params["outcome"]
    eta = outcome_scores(model_from_params(params, profile), profile, CALIBRATION_ROWS, seed)
    if linear:
        residual_mean = float(np.mean(outcome["residual"]))
        gap = float(target.mean()) - float(eta[0].mean()) - residual_mean
        outcome["intercept"] = _round(np.asarray(outcome["intercept"]) + gap, 6)
        return
    real = target.value_counts(normalize=True)
    wanted = np.array([real.get(key_of(c), 0.0) for c in outcome["classes"]])
    shift = intercepts_for_shares(eta, wanted)
    outcome["intercept"] = _round(np.asarray(outcome["intercept"]) + shift, 6)


# -- small helpers ---------------------------------------------------------------------------


def _key(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return key_of(value)


def _values(col: Column) -> list[Any]:
    return [False, True] if col.type == "boolean" else list(col.categories or [])


def _standard(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() or 1.0)


def _round(values: Any, digits: int) -> list[float]:
    return [round(float(v), digits) for v in np.asarray(values).ravel()]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# -- command line ----------------------------------------------------------------------------


def fit_one(name: str, data_dir: Path) -> Path | None:
    """Fit one built-in profile's parameters from its source file and write them as JSON."""
    profile = load_profile(name)
    if profile.source is None or not (data_dir / profile.source.file).is_file():
        print(f"{name}: no source file in {data_dir}; skipped (it will use the fallback)")
        return None
    frame = read_table(data_dir / profile.source.file, sep=profile.source.sep)
    result = validate(frame, profile)
    params = fit_params(result.valid.reset_index(drop=True), profile)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(params, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{name}: {result.accepted} rows ({result.rejected} rejected) -> {path}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("profiles", nargs="*", help="built-in profiles (default: all)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    for name in args.profiles or builtin_profile_names():
        fit_one(name, args.data)


if __name__ == "__main__":
    main()
