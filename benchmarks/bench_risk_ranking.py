"""Label noise, calibration and ranking of a derived model (issue 19): before and after.

`make bench-risk-ranking` (``python benchmarks/bench_risk_ranking.py``). On the
``student-performance`` profile, a GPA regression (LightGBM, 5-fold out-of-fold residual sd)
turned into GradeClass probabilities by ``DerivedBins``, on held-out rows of a second seed:

- data: cohorts drawn with the old label noise (every mismatch a class swap at one rate) and
  the new one (half swaps, half Cauchy noise on the recorded GPA), and the real file;
- model: class-conditional noise alone (``mix = 1``, before) or fitted with the boundary noise.

Prints per case the log loss, f1_macro, Brier score and expected calibration error of the risk
P(D or F), how many of the top ten risks are distinct (at ``RANK_RESOLUTION``), the share of
at-risk students whose risk ties with another's, and the load average.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np
import pandas as pd


def _cohort(rows: int, seed: int, old_noise: bool) -> pd.DataFrame:
    from studentops.datasets import synthetic
    from studentops.datasets.profile import load_profile

    profile = load_profile("student-performance")
    share, scale_of = synthetic.SWAP_SHARE, synthetic.noise_scale_for_rate
    if old_noise:  # the generator before: every mismatch a swap, no noise on the source
        synthetic.SWAP_SHARE = 1.0
        synthetic.noise_scale_for_rate = lambda *a: 0.0  # type: ignore[assignment]
    try:
        return synthetic.generate_cohort(profile, rows, seed)
    finally:
        synthetic.SWAP_SHARE, synthetic.noise_scale_for_rate = share, scale_of


def _fit(train: pd.DataFrame, fitted_noise: bool) -> tuple[Any, Any, float, list[Any]]:
    from lightgbm import LGBMRegressor
    from sklearn.model_selection import KFold, cross_val_predict

    from studentops.datasets.profile import load_profile
    from studentops.training.model import DerivedBins, class_codes

    profile = load_profile("student-performance")
    classes = profile.class_order()
    X = train[profile.feature_columns].astype(float).to_numpy()
    gpa = train["GPA"].to_numpy(float)
    reg = LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=15, verbose=-1)
    oof = cross_val_predict(reg, X, gpa, cv=KFold(5, shuffle=True, random_state=0))
    sigma = float(np.std(gpa - oof))
    y = class_codes(train["GradeClass"], classes)
    bins = DerivedBins.from_profile(profile, classes).with_noise(gpa, y, boundary=fitted_noise)
    return reg.fit(X, gpa), bins, sigma, classes


def _scores(train: pd.DataFrame, test: pd.DataFrame, fitted_noise: bool) -> dict[str, Any]:
    from sklearn.metrics import f1_score, log_loss

    from studentops.datasets.profile import load_profile
    from studentops.serving.predictor import RANK_RESOLUTION
    from studentops.training.heldout import calibration
    from studentops.training.model import class_codes

    profile = load_profile("student-performance")
    reg, bins, sigma, classes = _fit(train, fitted_noise)
    X = test[profile.feature_columns].astype(float).to_numpy()
    proba = bins.proba(reg.predict(X), sigma)
    y = class_codes(test["GradeClass"], classes)
    risky = [i for i, c in enumerate(classes) if str(c) in ("3", "4")]
    risk = proba[:, risky].sum(axis=1)
    cal = calibration(np.isin(y, risky).astype(float), risk)
    bucket = np.round(risk / RANK_RESOLUTION)
    top = np.sort(bucket)[::-1][:10]
    _, inverse, counts = np.unique(bucket, return_inverse=True, return_counts=True)
    at_risk = risk >= 0.5
    return {
        "log_loss": log_loss(y, proba, labels=range(len(classes))),
        "f1_macro": f1_score(y, proba.argmax(axis=1), average="macro"),
        "brier_risk": cal["brier"],
        "ece_risk": cal["ece"],
        "top10_distinct": len(set(top.tolist())),
        "at_risk_tied": float((counts[inverse] > 1)[at_risk].mean()),
        "mix": bins.mix,
        "scale": bins.scale,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help="training and test rows each")
    parser.add_argument("--real", default="../shared/data/student_performance.csv")
    args = parser.parse_args()
    cases: list[tuple[str, pd.DataFrame, pd.DataFrame]] = []
    for old in (True, False):
        name = "old noise (swaps)" if old else "new noise (swaps + Cauchy)"
        cases.append((name, _cohort(args.rows, 1, old), _cohort(args.rows, 2, old)))
    if os.path.exists(args.real):
        real = pd.read_csv(args.real).sample(frac=1.0, random_state=0)
        half = len(real) // 2
        cases.append(("real file (halves)", real.iloc[:half], real.iloc[half:]))
    else:
        print(f"real file {args.real} absent: skipped")
    rows = []
    for name, train, test in cases:
        for fitted in (False, True):
            figures = _scores(train, test, fitted)
            rows.append({"data": name, "model noise": "fitted" if fitted else "swaps only"})
            rows[-1].update(figures)
    pd.set_option("display.width", 140)
    print(pd.DataFrame(rows).round(4).to_string(index=False))
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
