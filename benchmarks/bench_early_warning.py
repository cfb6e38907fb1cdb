"""Early-warning benchmark (issue 18 item 5): studentops against a plain baseline, by cut-off week.

Time-forward, never a random split: train on every earlier visible OULAD presentation (2013B and
2013J in the shared copy), test on the latest one (2014B). For each cut-off week (5, 10, 15, 20)
both sides see only what was known before day 7 x week:

* **studentops**: the ``oulad-pass`` frame of :mod:`studentops.events.frames` (weekly, per-type,
  weight-lost, trajectory, cohort-relative and base-rate features), trained through the real
  train path (``training.early_warning.study.search_fit_predict`` -> ``train_model``) with
  ``--time-budget`` seconds per week. The profile keeps sensitive attributes (gender, region,
  IMD band, age band, disability) out of its features.
* **baseline**: LightGBM with its default parameters on simple assessment features built in this
  script from the raw CSVs with pandas (nothing from studentops): counts of submitted and missed
  assessments, mean and minimum score, weighted score, mean days early, days since the last
  submission, registration day, withdrawal before the cut-off, the module, and demographics.

ROC-AUC for every test student and for those still enrolled at the cut-off (not unregistered
before day 7 x week). Target: studentops at least +0.03 above the baseline at every week.

    .venv/bin/python benchmarks/bench_early_warning.py [--weeks 5,10,15,20] [--time-budget 120]
        [--modules BBB,DDD] [--model search|lightgbm] [--oulad DIR]

``--model lightgbm`` swaps the search for the study's single early-stopped LightGBM on the
studentops features: a quick, cheap check of what the features alone are worth.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OULAD = ROOT.parent / "shared" / "data" / "oulad"
TARGET = 0.03
WEEKS = (5, 10, 15, 20)
DEMOGRAPHICS = (
    "gender",
    "region",
    "highest_education",
    "imd_band",
    "age_band",
    "num_of_prev_attempts",
    "studied_credits",
    "disability",
)
KEY = ["code_module", "code_presentation", "id_student"]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as printed beside every figure."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


# -- the baseline: simple assessment features straight from the CSVs --------------------------


def read_raw(folder: Path) -> dict[str, pd.DataFrame]:
    """The OULAD tables the baseline needs, as pandas frames."""
    names = ("studentInfo", "studentRegistration", "studentAssessment", "assessments")
    return {n: pd.read_csv(folder / f"{n}.csv", na_values=["?", ""]) for n in names}


def baseline_features(raw: dict[str, pd.DataFrame], week: int) -> pd.DataFrame:
    """One row per enrolment of simple features known before day ``7 * week``.

    Returns:
        Frame indexed by (module, presentation, student): the features, ``at_risk`` (Fail or
        Withdrawn) and ``withdrawn`` (unregistered before the cut-off).
    """
    cut = 7 * week
    info = raw["studentInfo"].set_index(KEY)
    reg = raw["studentRegistration"].set_index(KEY)
    cat = raw["assessments"]
    sub = raw["studentAssessment"].merge(cat, on="id_assessment", how="left")
    seen = sub[sub["date_submitted"] < cut].copy()
    seen["_ws"] = seen["weight"] * seen["score"]
    seen["_wt"] = seen["weight"].where(seen["score"].notna())
    seen["_early"] = seen["date"] - seen["date_submitted"]
    g = seen.groupby(KEY)
    out = pd.DataFrame(index=info.index)
    out["n_submitted"] = g.size()
    out["score_mean"] = g["score"].mean()
    out["score_min"] = g["score"].min()
    out["weighted_score"] = g["_ws"].sum() / g["_wt"].sum().replace(0, np.nan)
    out["days_early"] = g["_early"].mean()
    out["days_since_last_submission"] = cut - g["date_submitted"].max()
    due = cat[cat["date"] < cut].groupby(["code_module", "code_presentation"]).size()
    n_due = pd.Series(
        due.reindex(
            pd.MultiIndex.from_arrays(
                [out.index.get_level_values(0), out.index.get_level_values(1)]
            )
        ).to_numpy(),
        index=out.index,
    ).fillna(0)
    done = seen[seen["date"] < cut].groupby(KEY).size().reindex(out.index).fillna(0)
    out["n_submitted"] = out["n_submitted"].fillna(0)
    out["n_missed"] = n_due - done
    out["registration_day"] = reg["date_registration"]
    unreg = reg["date_unregistration"]
    out["withdrawn"] = (unreg < cut).reindex(out.index).fillna(False).astype(bool)
    out["module"] = pd.Categorical(out.index.get_level_values(0))
    for col in DEMOGRAPHICS:
        values = info[col]
        out[col] = values if pd.api.types.is_numeric_dtype(values) else values.astype("category")
    out["at_risk"] = info["final_result"].isin(["Fail", "Withdrawn"]).astype(int)
    return out


def baseline_fit_predict(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """LightGBM with default parameters (seeded, 2 threads); P(at risk) of each test row."""
    import lightgbm as lgb

    features = [c for c in train.columns if c != "at_risk"]
    x_train, x_test = train[features].copy(), test[features].copy()
    for col in features:  # the test part's categories in the training part's codes
        if isinstance(x_train[col].dtype, pd.CategoricalDtype):
            x_test[col] = pd.Categorical(x_test[col], categories=x_train[col].cat.categories)
    x_train["withdrawn"] = x_train["withdrawn"].astype(int)
    x_test["withdrawn"] = x_test["withdrawn"].astype(int)
    model = lgb.LGBMClassifier(random_state=0, n_jobs=2, verbose=-1)  # else defaults
    model.fit(x_train, train["at_risk"])
    return np.asarray(model.predict_proba(x_test))[:, 1]


# -- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Train and score both sides per week; print the table; 0 when every week meets the target."""
    import polars as pl

    from studentops.datasets.profile import load_profile
    from studentops.events.frames import PROFILE, oulad_weekly_features, to_profile_frame, validated
    from studentops.tracking import quiet_library_logs
    from studentops.training.early_warning.study import (
        lightgbm_fit_predict,
        roc_auc_all_and_active,
        search_fit_predict,
        time_forward_rows,
    )

    quiet_library_logs(optuna=True)
    weeks = sorted({int(w) for w in args.weeks.split(",")})
    modules = set(args.modules.split(",")) if args.modules else None
    fit = search_fit_predict if args.model == "search" else lightgbm_fit_predict
    print(
        f"early-warning benchmark: weeks {weeks}, studentops model {args.model} "
        f"({args.time_budget:g}s per week), modules {sorted(modules) if modules else 'all'}; "
        f"load average {load_average()}",
        flush=True,
    )
    started = time.perf_counter()
    profile = load_profile(PROFILE)
    features = oulad_weekly_features(args.oulad, weeks)
    raw = read_raw(Path(args.oulad))
    print(f"features for {len(weeks)} weeks in {time.perf_counter() - started:.1f}s", flush=True)
    has_clicks = "clicks" in features.columns
    print(
        "click log: "
        + (
            "present, activity and engagement features filled"
            if has_clicks
            else "absent (no studentVle.csv): activity and engagement features empty"
        ),
        flush=True,
    )
    rows = []
    for week in weeks:
        frame = validated(
            to_profile_frame(features.filter(pl.col("week") == week), profile), profile
        )
        if modules:
            frame = frame[frame["module"].astype(str).isin(modules)].reset_index(drop=True)
        train_idx, test_idx = time_forward_rows(frame["presentation"].astype(str).to_numpy())
        train, test = frame.iloc[train_idx], frame.iloc[test_idx]
        tested = sorted(set(test["presentation"].astype(str)))
        keys = pd.MultiIndex.from_arrays(
            [
                test["module"].astype(str),
                test["presentation"].astype(str),
                test["student_id"].astype(int),
            ]
        )
        base = baseline_features(raw, week)
        base_train = base.loc[
            pd.MultiIndex.from_arrays(
                [
                    train["module"].astype(str),
                    train["presentation"].astype(str),
                    train["student_id"].astype(int),
                ]
            )
        ]
        base_test = base.loc[keys]
        y = base_test["at_risk"].to_numpy()
        withdrawn = base_test["withdrawn"].to_numpy()
        t0 = time.perf_counter()
        base_risk = baseline_fit_predict(base_train, base_test)
        base_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = fit(train, test, profile, args.time_budget)
        ours_s = time.perf_counter() - t0
        b_all, b_active = roc_auc_all_and_active(y, base_risk, withdrawn)
        s_all, s_active = roc_auc_all_and_active(y, ours, withdrawn)
        rows.append(
            {
                "week": week,
                "test": f"{','.join(tested)} ({len(test):,}; {int((~withdrawn).sum()):,} enrolled)",
                "train_rows": len(train),
                "baseline_all": b_all,
                "studentops_all": s_all,
                "diff_all": s_all - b_all,
                "baseline_enrolled": b_active,
                "studentops_enrolled": s_active,
                "diff_enrolled": s_active - b_active,
                "baseline_s": base_s,
                "studentops_s": ours_s,
                "load": load_average(),
            }
        )
        print(
            f"week {week}: baseline {b_all:.4f} / {b_active:.4f}, studentops {s_all:.4f} / "
            f"{s_active:.4f} (all / still enrolled), fit {ours_s:.1f}s; "
            f"load {load_average()}",
            flush=True,
        )
    table = pd.DataFrame(rows)
    met = bool(((table["diff_all"] >= TARGET) & (table["diff_enrolled"] >= TARGET)).all())
    table["target"] = f"+{TARGET:.2f}"
    table["met"] = np.where(
        (table["diff_all"] >= TARGET) & (table["diff_enrolled"] >= TARGET), "yes", "no"
    )
    print()
    print("ROC-AUC on the latest presentation (time-forward), studentops vs plain LightGBM:")
    shown = table.copy()
    for col in ("baseline_all", "studentops_all", "baseline_enrolled", "studentops_enrolled"):
        shown[col] = shown[col].map(lambda v: f"{v:.4f}")
    for col in ("diff_all", "diff_enrolled"):
        shown[col] = shown[col].map(lambda v: f"{v:+.4f}")
    for col in ("baseline_s", "studentops_s"):
        shown[col] = shown[col].map(lambda v: f"{v:.1f}")
    print(shown.to_string(index=False))
    print(
        f"\ntarget +{TARGET:.2f} at every week (all and still enrolled): "
        f"{'met' if met else 'NOT met'}; total {time.perf_counter() - started:.0f}s; "
        f"load average {load_average()}"
    )
    return 0 if met else 1


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", default=",".join(map(str, WEEKS)))
    parser.add_argument(
        "--time-budget", type=float, default=120.0, help="studentops seconds per week"
    )
    parser.add_argument("--modules", default="", help="comma-separated module codes (default all)")
    parser.add_argument("--model", choices=("search", "lightgbm"), default="search")
    parser.add_argument("--oulad", default=str(OULAD))
    args = parser.parse_args(argv)
    if not (Path(args.oulad) / "studentInfo.csv").is_file():
        print(f"OULAD not found under {args.oulad}", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
