"""The main job on embedded defaults, end to end: what `make demo` runs.

Generate a cohort, validate it, train within a short budget, register and promote the
champion, score a new term's students and show the ten at highest risk with their reasons.
Every step is a plain function of a part; this module only chains them and prints.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from studentops.config import Settings
from studentops.demo_alerts import run_alerts_demo

console = Console()

DEMO_PROFILE = "student-performance"


def _step(n: int, text: str) -> None:
    console.rule(f"[bold]{n}. {text}")


def run_demo(
    settings: Settings,
    profile_name: str = DEMO_PROFILE,
    rows: int = 5000,
    budget_s: float = 30.0,
    seed: int = 42,
) -> dict[str, object]:
    """Run the whole job; returns the figures it printed (tests read them)."""
    from studentops.datasets.commands import print_summary
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort, write_cohort
    from studentops.datasets.validation import validate_file, write_rejects
    from studentops.monitoring.demo_step import demo_drift_check
    from studentops.registry import models, tracking
    from studentops.registry.tracking import quiet_library_logs
    from studentops.serving.batch import load_predictor, score_file, top_risk_students
    from studentops.training.commands import TrialProgress, _metrics_table
    from studentops.training.pipeline import train_and_register

    quiet_library_logs(optuna=True)
    profile = load_profile(profile_name, settings.profiles_dir)
    folder = settings.ensure_home() / "demo"
    folder.mkdir(parents=True, exist_ok=True)

    _step(1, f"generate a synthetic cohort ({rows:,} students, profile {profile.name})")
    started = time.perf_counter()
    cohort = write_cohort(generate_cohort(profile, rows=rows, seed=seed), folder / "cohort.csv")
    # Next term's students: no outcome yet, and a little drift in absences.
    new_term = generate_cohort(profile, rows=rows // 2, seed=seed + 1, drifts=["Absences:+20%"])
    new_term = new_term.drop(
        columns=[
            c for c in (profile.target.column, profile.target_source) if c and c in new_term.columns
        ]
    )
    to_score = write_cohort(new_term, folder / "new-term.csv")
    console.print(f"wrote {cohort} and {to_score} in {time.perf_counter() - started:.1f}s")

    _step(2, "validate every row against the profile")
    _, validation = validate_file(profile, cohort, settings=settings)
    rejects = write_rejects(validation, profile.name, settings)
    print_summary(validation.summary() | {"rejects_file": str(rejects) if rejects else None})

    _step(3, f"train: search algorithms and hyperparameters for {budget_s:.0f}s, log to MLflow")
    with TrialProgress(budget_s, "training") as progress:
        outcome = train_and_register(
            profile,
            cohort,
            settings=settings,
            time_budget_s=budget_s,
            seed=seed,
            on_trial=progress,
        )
    result = outcome.result
    console.print(
        f"best: [bold]{result.algorithm}[/] ({len(result.trials)} trials, "
        f"CV {result.metric} {result.cv_score:.4f}) in {result.duration_s:.1f}s"
    )
    console.print(_metrics_table(result.test_metrics, result.metric))

    _step(4, "register and promote the champion (gates: better score, fairness gap)")
    client = tracking.client_for(settings)
    decision = models.promote(
        client, profile.name, margin=settings.promote_margin, max_gap=settings.fairness_max_gap
    )
    for gate in decision.gates:
        console.print(f"  {gate}")
    verdict = "promoted to champion" if decision.promoted else "kept as challenger"
    console.print(f"{decision.name} v{decision.version} {verdict}")

    _step(5, "score next term's students with the champion")
    predictor = load_predictor(profile.name, settings)
    scored = score_file(
        profile.name,
        to_score,
        folder / "new-term-scored.csv",
        settings=settings,
        predictor=predictor,
    )
    console.print(
        f"scored {scored.accepted:,} of {scored.rows:,} rows in {scored.seconds:.2f}s "
        f"({scored.rows_per_s:,.0f} rows/s) -> {scored.out_path}"
    )

    _step(6, "the ten students at highest risk, and why")
    import pandas as pd

    top = top_risk_students(predictor, pd.read_csv(to_score), n=10, top_k=3)
    table = Table("rank", "student", "predicted", "risk", "band", "top reasons")
    labels = profile.target.labels or {}
    for item in top:
        # Contributions are in risk probability; shown in percentage points, as a student
        # whose risk is already near its ceiling gets reasons worth fractions of a point.
        reasons = "; ".join(
            f"{r['feature']}={r.get('label') or _short(r['value'])} "
            f"({100 * r['contribution']:+.2f} pts)"
            for r in item["reasons"].get("up", [])[:3]
        )
        pred = item["prediction"]
        table.add_row(
            str(item["rank"]),
            str(item["student_id"]),
            str(labels.get(pred, pred)),
            f"{item['risk_score']:.2f}",
            item["risk_band"],
            reasons,
        )
    console.print(table)
    drift = demo_drift_check(settings, profile, folder, rows=max(rows // 2, 500), seed=seed)
    alerts = run_alerts_demo(
        settings, profile, folder, rows=max(rows // 2, 500), budget_s=budget_s, seed=seed
    )
    console.print(
        "\nMLflow UI:  .venv/bin/mlflow ui --backend-store-uri "
        f"{settings.mlflow_tracking_uri}\n"
        f"Serve the API:  .venv/bin/studentops serve --profile {profile.name}  "
        "(then open http://127.0.0.1:8000/docs)"
    )
    return {
        "accepted": validation.accepted,
        "test_metrics": result.test_metrics,
        "promoted": decision.promoted,
        "scored": scored.accepted,
        "top": top,
        "drift": drift,
        "alerts": alerts,
    }


def _short(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)
