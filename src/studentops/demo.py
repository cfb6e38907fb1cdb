"""The main job on embedded defaults, end to end: what `make demo` runs.

Generate a cohort, validate it, train within a short budget, register and promote the
champion, score a new term's students and show the ten at highest risk with their reasons.
Every step is a plain function of a part; this module only chains them and prints.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from studentops.config import Settings
from studentops.demo_alerts import run_alerts_demo

console = Console()

DEMO_PROFILE = "student-performance"


class Steps:
    """The demo's step headings, numbered here in the order they are printed: the parts'
    steps (monitoring, alerts, model card) take this as their ``step`` and never number."""

    def __init__(self) -> None:
        self.count = 0
        self.titles: list[str] = []

    def __call__(self, text: str) -> None:
        """Number the next step, remember its title and print it as a heading."""
        self.count += 1
        self.titles.append(f"{self.count}. {text}")
        console.rule(f"[bold]{self.count}. {text}")


def run_demo(
    settings: Settings,
    profile_name: str = DEMO_PROFILE,
    rows: int = 5000,
    budget_s: float = 30.0,
    seed: int = 42,
) -> dict[str, object]:
    """Run the whole job; returns the figures it printed (tests read them)."""
    from studentops import tracking
    from studentops.datasets.commands import print_summary
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort, write_cohort
    from studentops.datasets.validation import validate_file, write_rejects
    from studentops.monitoring.demo_step import demo_drift_check
    from studentops.registry import models
    from studentops.registry.cards import demo_card_step
    from studentops.serving.batch import load_predictor, score_file
    from studentops.tracking import quiet_library_logs
    from studentops.training.commands import TrialProgress, _metrics_table
    from studentops.training.pipeline import train_and_register
    from studentops.ui.demo import demo_dashboard

    quiet_library_logs(optuna=True)
    profile = load_profile(profile_name, settings.profiles_dir)
    folder = settings.ensure_home() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    step = Steps()

    step(f"generate a synthetic cohort ({rows:,} students, profile {profile.name})")
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

    step("validate every row against the profile")
    _, validation = validate_file(profile, cohort, settings=settings)
    rejects = write_rejects(validation, profile.name, settings)
    print_summary(validation.summary() | {"rejects_file": str(rejects) if rejects else None})

    step(f"train: search algorithms and hyperparameters for {budget_s:.0f}s, log to MLflow")
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

    step("register and promote the champion (gates: better score, fairness gap)")
    client = tracking.client_for(settings)
    decision = models.promote(
        client, profile.name, margin=settings.promote_margin, max_gap=settings.fairness_max_gap
    )
    for gate in decision.gates:
        console.print(f"  {gate}")
    verdict = "promoted to champion" if decision.promoted else "kept as challenger"
    console.print(f"{decision.name} v{decision.version} {verdict}")

    step("score next term's students with the champion")
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
    console.print(band_counts(scored.out_path))

    step("the ten students at highest risk, and why")
    top = show_risk_list(predictor, to_score)
    drift = demo_drift_check(
        settings, profile, folder, rows=max(rows // 2, 500), seed=seed, step=step
    )
    alerts = run_alerts_demo(
        settings,
        profile,
        folder,
        rows=max(rows // 2, 500),
        budget_s=budget_s,
        seed=seed,
        step=step,
    )
    demo_card_step(settings, profile.name, step=step)
    console.print(closing_hint(settings, profile.name))
    console.print(demo_dashboard(settings, predictor, to_score))
    return {
        "accepted": validation.accepted,
        "test_metrics": result.test_metrics,
        "promoted": decision.promoted,
        "scored": scored.accepted,
        "top": top,
        "drift": drift,
        "alerts": alerts,
        "steps": step.titles,
    }


def show_risk_list(predictor: Any, data: Path, n: int = 10) -> list[dict[str, Any]]:
    """Print the ``n`` students at highest risk with their band and labelled reasons, the
    band rule and the unit of the reasons; returns the items (``batch.top_risk_students``)."""
    import pandas as pd

    from studentops.serving.batch import reason_text, top_risk_students

    top = top_risk_students(predictor, pd.read_csv(data), n=n, top_k=3)
    table = Table(
        "#",
        "student",
        "class",
        "risk",
        "log-odds",
        "band",
        "top reasons",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    digits = risk_digits([item["risk_score"] for item in top])
    for item in top:
        reasons = "\n".join(reason_text(r) for r in item["reasons"].get("up", [])[:3])
        band = item["risk_band"] or "-"
        if item.get("band_reason"):
            band += f" ({item['band_reason']})"
        table.add_row(
            str(item["rank"]),
            str(item["student_id"]),
            str(item["prediction"]),
            f"{100 * item['risk_score']:.{digits}f}%",
            f"{item['risk_log_odds']:+.2f}",
            band,
            reasons or "-",
        )
    console.print(table)
    units = top[0]["reasons"].get("units") if top else "percentage points of risk"
    console.print(
        f"Reasons: pp = {units}, what each feature adds to (+) or takes from (-) this "
        "student's risk (SHAP; docs/serving.md). Ranked by risk, equal risks by the model's "
        "log-odds before averaging."
    )
    console.print(f"Bands: {predictor.band_rule()}")
    return top


def risk_digits(risks: list[float], most: int = 6) -> int:
    """Decimals of a percentage that tell the listed risks apart (1 to ``most``); 2 when they
    are equal even then (saturated: the log-odds column shows their order)."""
    for digits in range(1, most + 1):
        if len({round(100 * r, digits) for r in risks}) == len(risks):
            return digits
    return 2


def band_counts(scored: Path) -> str:
    """'bands: high 1,900 (76%), medium 350 (14%), low 250 (10%); high = everyone predicted
    at risk, ...' of a scored file (under shares: how many at-risk students are medium)."""
    import pandas as pd

    table = pd.read_csv(scored, usecols=["risk_band", "band_reason"])
    counts = table["risk_band"].value_counts()
    total = int(counts.sum()) or 1
    parts = [
        f"{band} {int(counts.get(band, 0)):,} ({counts.get(band, 0) / total:.0%})"
        for band in ("high", "medium", "low")
    ]
    text = "bands: " + ", ".join(parts)
    beyond = int(table["band_reason"].notna().sum())
    if beyond:
        text += f"; {beyond:,} predicted at risk beyond the high band are medium (band_reason)"
    elif counts.get("high", 0) / total > 0.25:
        # the default rule bands everyone predicted at risk high (docs/serving.md, Bands)
        text += (
            f"; high = everyone predicted at risk, ranked: start at the top "
            f"(risk_band_mode: shares makes only the top 10%, {round(total / 10):,}, high)"
        )
    return text


def closing_hint(settings: Settings, profile: str) -> str:
    """Commands to go on with, by absolute paths so they work from any folder."""
    import shutil
    import sys

    bin_dir = Path(sys.executable).absolute().parent  # the venv's bin, symlinks kept
    tools = {}
    for tool in ("mlflow", "studentops"):
        local = bin_dir / tool
        tools[tool] = str(local) if local.exists() else (shutil.which(tool) or tool)
    home = settings.home.resolve()
    return (
        f"\nMLflow UI:  {tools['mlflow']} ui --backend-store-uri {settings.mlflow_tracking_uri}\n"
        f"Serve the API:  STUDENTOPS_HOME={home} {tools['studentops']} serve --profile "
        f"{profile}  (then open http://127.0.0.1:8000/docs)"
    )
