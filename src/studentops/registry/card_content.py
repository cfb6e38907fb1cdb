"""What a model card says, as a list of blocks (headings, paragraphs, lists, tables).

One content builder and two renderers (Markdown and HTML in :mod:`.cards`), so the two
formats can never say different things. The sections follow Mitchell et al. (2019), "Model
Cards for Model Reporting" (FAT* '19): intended use, training data, metrics with their
uncertainty, group-wise evaluation, ethical considerations and caveats, plus what this product
adds: the operating threshold in students flagged per 100, and the monitoring plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

INTENDED_USE = (
    "Support triage: help counsellors and tutors decide which students to contact first and "
    "offer help earlier. A flag is an invitation to talk to a student, never a verdict."
)
OUT_OF_SCOPE = [
    "admissions or enrolment decisions",
    "discipline, sanctions or any decision against a student",
    "placement into tracks, courses or programmes",
    "grading, or any use without a person reviewing the flag",
    "students unlike those it was trained on (another country, level or period) without "
    "re-auditing it on them",
]
LIMITATIONS = [
    "Labels arrive late: the outcome of a term is known months after the prediction, so "
    "performance on today's students can only be measured after the fact; drift checks on the "
    "inputs are the early signal meanwhile.",
    "Interventions change the outcomes the model later learns from: a flagged student who gets "
    "help and stays enrolled looks like a false alarm, so later models trained on those "
    "outcomes may learn to flag such students less. Record interventions, and compare models "
    "on students who were not helped where possible.",
    "The held-out metrics come from the same period and institution as the training rows; "
    "they are not a promise for a new intake.",
    "Intervals are 95% intervals; groups marked small are too small for their rates to mean "
    "much, and the fairness audit covers only the sensitive attributes the profile names.",
    "Removing sensitive attributes from the features does not remove bias: other features "
    "(course, address, previous school) can carry the same information.",
]


@dataclass(frozen=True)
class Block:
    """One piece of the card: ``kind`` is heading, text, list or table."""

    kind: str
    text: str = ""
    level: int = 2
    items: tuple[str, ...] = ()
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    caption: str = ""


def heading(text: str, level: int = 2) -> Block:
    """A heading block (``level`` 1-3: Markdown ``#``-``###``, HTML ``h1``-``h3``)."""
    return Block("heading", text=text, level=level)


def text(value: str) -> Block:
    """A paragraph block (Markdown inline syntax allowed: ``**bold**``, backticks)."""
    return Block("text", text=value)


def bullets(items: list[str]) -> Block:
    """A bulleted list block, one item per string."""
    return Block("list", items=tuple(items))


def table(header: list[str], rows: list[list[str]], caption: str = "") -> Block:
    """A table block: ``header`` of n names, ``rows`` of n cells each, an optional caption."""
    return Block("table", header=tuple(header), rows=tuple(tuple(r) for r in rows), caption=caption)


def num(value: Any, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals, or an en dash for None and NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{float(value):.{digits}f}"


def with_interval(fig: dict[str, Any] | None, digits: int = 3) -> str:
    """``0.412 [0.301, 0.530]``; a rate that cannot be judged gets a trailing asterisk."""
    if not fig:
        return "–"
    value = num(fig.get("value"), digits)
    low, high = fig.get("low"), fig.get("high")
    shown = (
        value
        if low is None or high is None
        else f"{value} [{num(low, digits)}, {num(high, digits)}]"
    )
    if value != "–" and low is not None and math.isnan(float(low)) and high is not None:
        shown = value
    return shown + ("" if fig.get("judged", True) else "*")


# -- sections --------------------------------------------------------------------------------


def data_section(card: dict[str, Any]) -> list[Block]:
    """The "Training data" section: source, profile, rows read, accepted, rejected and split."""
    data = card["data"]
    lines = [
        f"Source: {data['source']}",
        f"Profile: `{card['profile']}` ({card['task']}); {data.get('description') or ''}".rstrip(
            "; "
        ),
        f"Rows: {data['rows_total']:,} read, {data['rows_accepted']:,} accepted, "
        f"{data['rows_rejected']:,} rejected by validation; {data['train_rows']:,} to train, "
        f"{data['test_rows']:,} held out ({data['split']} split).",
    ]
    if data.get("period"):
        p = data["period"]
        lines.append(f"Period: {p['column']} from {p['first']} to {p['last']}.")
    else:
        lines.append(f"Period: not recorded in the data (trained {card['trained_at']}).")
    lines.append(f"Data fingerprint: `{card['data_fingerprint']}` (hash of the training rows).")
    if data.get("empty_features"):
        names = ", ".join(f"`{c}`" for c in data["empty_features"])
        lines.append(
            f"Left out of the model: {names}, empty in every training row; scoring ignores "
            "them whether they arrive with values or not."
        )
    lines.append(registered_model_line(card))
    balance = data.get("class_balance") or {}
    train, test = balance.get("train") or {}, balance.get("test") or {}
    rows = []
    for label in dict.fromkeys([*train, *test]):
        a, b = train.get(label, 0), test.get(label, 0)
        rows.append(
            [
                str(label),
                f"{a:,} ({100 * a / max(sum(train.values()), 1):.1f}%)",
                f"{b:,} ({100 * b / max(sum(test.values()), 1):.1f}%)",
            ]
        )
    out = [heading("Training data"), bullets(lines)]
    if rows:
        out.append(table(["class", "train", "held out"], rows, "Class balance"))
    return out


def registered_model_line(card: dict[str, Any]) -> str:
    """Which model this version is and which model the held-out metrics judge."""
    final = card.get("final_fit") or {}
    train_rows = card["data"]["train_rows"]
    if final.get("refitted"):
        return (
            f"Registered model: the chosen members refitted on all "
            f"{final.get('registered_rows', 0):,} validated rows after the evaluation (same "
            f"members, ensemble weights and decision rule). The held-out metrics below judge "
            f"the evaluated model, fitted on the {train_rows:,} training rows only."
        )
    why = f" ({final['note']})" if final.get("note") else ""
    return (
        f"Registered model: the evaluated model itself, fitted on the {train_rows:,} training "
        f"rows{why}; the held-out metrics below judge this model."
    )


def metrics_section(card: dict[str, Any]) -> list[Block]:
    """The "Metrics" section: each held-out metric with its bootstrap interval (level in the
    card)."""
    intervals = card.get("intervals") or {}
    level = round(100 * card.get("level", 0.95))
    rows = [
        [
            f"**{name}**" if name == card["metric"] else name,
            num(f["value"], 4),
            f"[{num(f['low'], 4)}, {num(f['high'], 4)}]",
        ]
        for name, f in intervals.items()
    ]
    return [
        heading("Held-out metrics"),
        text(
            f"Scored once on {card['data']['test_rows']:,} held-out students the search never "
            f"saw; {level}% percentile-bootstrap intervals (rows resampled). The selection "
            f"metric is **{card['metric']}** (cross-validated {num(card['cv_score'], 4)})."
            + _refit_caveat(card)
        ),
        table(["metric", "value", f"{level}% interval"], rows),
    ]


def _refit_caveat(card: dict[str, Any]) -> str:
    final = card.get("final_fit") or {}
    if not final.get("refitted"):
        return ""
    return (
        " These are the evaluated model's figures: the registered model was refitted on every "
        "row, these students included, so it has no held-out figure of its own (train with "
        "`--final-fit holdout` to register the evaluated model instead)."
    )


def calibration_section(card: dict[str, Any]) -> list[Block]:
    """The "Calibration" section: mean predicted risk against the observed at-risk share per bin."""
    cal = card.get("calibration")
    if not cal:
        return [
            heading("Calibration"),
            text("No risk score for this model (regression without an at-risk bar)."),
        ]
    rows = [[num(b["mean_risk"]), num(b["observed"]), f"{b['rows']:,}"] for b in cal["bins"]]
    return [
        heading("Calibration"),
        text(
            f"Does a risk of 0.3 mean 3 in 10? Expected calibration error {num(cal['ece'])} "
            f"(row-weighted gap between mean risk and the observed at-risk rate over "
            f"{len(rows)} equal-count bins); Brier score {num(cal['brier'])}."
        ),
        table(["mean risk", "observed at-risk rate", "students"], rows),
    ]


def operating_section(card: dict[str, Any]) -> list[Block]:
    """The "Operating threshold" section: the decision rule and students flagged per 100."""
    op = card.get("operating")
    if not op:
        return [heading("Operating threshold"), text("No at-risk decision for this model.")]
    t = op.get("threshold")
    rule = f"a risk of {num(t)} or more" if t is not None else "the model's decision rule"
    return [
        heading("Operating threshold"),
        text(
            f"A student is flagged at {rule}. On held-out students that flags "
            f"**{op['flagged_per_100']:.1f} of every 100**; "
            f"{op['at_risk_per_100']:.1f} of every 100 "
            f"were truly at risk. The flag finds {100 * (op['recall'] or 0):.1f}% of at-risk "
            f"students (recall) and {100 * (op['precision'] or 0):.1f}% of flagged students are "
            f"truly at risk (precision). Serving also bands the risk score: high at "
            f"{num(card['bands']['high'], 2)} or more, medium at {num(card['bands']['medium'], 2)}."
        ),
    ]


def reasons_section(card: dict[str, Any]) -> list[Block]:
    """The "Global reasons" section: the twelve features that move the risk most, in its units."""
    imp = card.get("importance") or {}
    values = imp.get("importance") or {}
    if not values:
        return [heading("Global reasons"), text("Not computed.")]
    unit = "risk probability" if imp.get("units") == "risk" else "target units"
    rows = [[str(f), num(v, 4)] for f, v in list(values.items())[:12]]
    return [
        heading("Global reasons"),
        text(
            f"Mean absolute contribution of each feature to a student's risk ({unit}, method "
            f"{imp.get('method', '?')}, {imp.get('rows', 0)} held-out students): what the model "
            "leans on overall. Per-student reasons come with each prediction."
        ),
        table(["feature", "mean |contribution|"], rows),
    ]


_MEASURE_NAMES = {
    "selection_rate": "selection rate",
    "recall": "recall",
    "fnr": "FNR",
    "fpr": "FPR",
    "precision": "precision",
    "auc": "AUC",
}


def fairness_tables(fairness: dict[str, Any], digits: int = 3) -> list[Block]:
    """The audit as tables: one per attribute and per judged intersection."""
    out: list[Block] = []
    measures = [m for m in _MEASURE_NAMES if _any_has(fairness, m)]
    header = ["group", "students", "at risk", *[_MEASURE_NAMES[m] for m in measures]]
    size = fairness.get("min_group_size")
    for kind, tables in (
        ("attribute", fairness.get("attributes", {})),
        ("intersection", fairness.get("intersections", {})),
    ):
        for name, tab in tables.items():
            if "groups" not in tab:
                out.append(text(f"{name}: {tab.get('error', 'not audited')}"))
                continue
            rows = []
            # Numeric bands (ages 9–16, 17–19, ...) read in their order, as the audit lists
            # them; named groups largest first.
            named = [str(g) for g in tab["groups"] if g != "missing"]
            banded = bool(named) and all(g[:1].isdigit() or g[:2].startswith("-") for g in named)
            ordered = (
                list(tab["groups"].items())
                if banded
                else sorted(tab["groups"].items(), key=lambda item: -item[1]["count"])
            )
            for group, fig in ordered:
                if kind == "intersection" and fig.get("small"):
                    continue
                students = f"{fig['count']:,}" + (" (small)" if fig.get("small") else "")
                rows.append(
                    [
                        str(group),
                        students,
                        str(fig.get("positives", "–")),
                        *[with_interval(fig.get(m), digits) for m in measures],
                    ]
                )
            gaps = tab.get("gaps") or {}
            rows.append(
                ["**largest gap**", "", "", *[_gap_cell(gaps.get(m), digits) for m in measures]]
            )
            small = [g for g, f in tab["groups"].items() if f.get("small")]
            caption = f"{name}" + (
                f"; small groups (fewer than {size} students, listed, not judged): "
                f"{', '.join(small)}"
                if small
                else ""
            )
            if kind == "intersection":
                caption = (
                    f"{name} (intersection; {len(small)} groups with fewer than {size} "
                    "students are left out here, their sizes are in fairness.json)"
                )
            out.append(table(header, rows, caption))
    return out


def _any_has(fairness: dict[str, Any], measure: str) -> bool:
    return any(
        measure in fig
        for tab in fairness.get("attributes", {}).values()
        for fig in (tab.get("groups") or {}).values()
    )


def _gap_cell(gap: dict[str, Any] | None, digits: int = 3) -> str:
    if not gap:
        return "–"
    interval = f"[{num(gap['low'], digits)}, {num(gap['high'], digits)}]"
    return f"{num(gap['gap'], digits)} {interval} ({gap['high_group']} vs {gap['low_group']})"


def fairness_section(card: dict[str, Any]) -> list[Block]:
    """The "Fairness" section: per-group rates with intervals and the gate's verdict
    (Mitchell et al. 2019, "quantitative analyses" by group).
    """
    fairness = card.get("fairness") or {}
    if not fairness.get("attributes"):
        return [heading("Fairness"), text("The profile names no sensitive attributes: no audit.")]
    return [
        heading("Fairness"),
        text(
            "Per group of each sensitive attribute, on held-out students: selection rate (share "
            "flagged), recall (at-risk students found), FNR (at-risk students missed), FPR "
            "(students not at risk who were flagged), precision and AUC of the risk score, with "
            f"95% intervals (Wilson; bootstrap for AUC). `*`: fewer than "
            f"{fairness.get('min_denominator')} students behind the rate, not judged. Gaps: "
            "largest difference between judged groups with Newcombe's interval."
        ),
        *fairness_tables(fairness),
        text(
            f"**Promotion gate** (FNR gap, allowed {num(card['gate']['max_gap'])}): "
            f"{card['gate']['verdict']}"
        ),
    ]


def sensitive_section(card: dict[str, Any]) -> list[Block]:
    """The "Sensitive attributes" section: which they are and whether the model uses them."""
    names = ", ".join(card["sensitive"]) or "none"
    if not card["sensitive"]:
        why = "The profile names no sensitive attributes."
    elif card["sensitive_as_features"]:
        why = (
            f"Used as features: {names} (the profile sets `sensitive_as_features: true`), so the "
            "model may use them directly. Check the audit above for the effect on each group."
        )
    else:
        why = (
            f"Not used as features: {names}. They are kept out so the model cannot use them "
            "directly, and kept in the data so this audit can measure how each group is served, "
            "because other features can carry their information."
        )
    return [heading("Sensitive attributes"), text(why)]


def monitoring_section(card: dict[str, Any]) -> list[Block]:
    """The "Monitoring plan" section: what is logged, checked for drift and alerted on."""
    p = card["profile"]
    return [
        heading("Monitoring plan"),
        bullets(
            [
                "Every prediction is logged with a pseudonymous student key (keyed hash, never the "
                "raw id), the model version and the risk score.",
                f"Input and prediction drift against this version's reference profile: "
                f"`studentops monitor --profile {p}` (in the scheduled flows).",
                "When outcomes arrive (end of term): "
                f"`studentops outcomes --profile {p} --data FILE`, "
                "then performance, calibration and the same per-group figures over time.",
                "Alerts on drift, decay or a fairness gap; retraining goes through the same "
                "promotion gates (score and FNR gap with its interval) as a manual promotion.",
                f"Logged rows are purged after {card['retention_days']} days "
                "(`studentops privacy purge`); one student's rows can be erased on request "
                "(`studentops privacy erase`). See docs/privacy.md.",
            ]
        ),
    ]


def card_blocks(card: dict[str, Any]) -> list[Block]:
    """Every block of the card, in reading order."""
    title = f"Model card: {card['name']} version {card['version']}"
    summary = (
        f"{card['algorithm']} trained {card['trained_at']} for profile `{card['profile']}` "
        f"({card['task']}); MLflow run `{card['run_id']}`."
    )
    return [
        heading(title, 1),
        text(summary),
        heading("Intended use"),
        text(INTENDED_USE),
        text("Not for:"),
        bullets(OUT_OF_SCOPE),
        *data_section(card),
        *metrics_section(card),
        *calibration_section(card),
        *operating_section(card),
        *reasons_section(card),
        *fairness_section(card),
        *sensitive_section(card),
        heading("Known limitations"),
        bullets(LIMITATIONS),
        *monitoring_section(card),
    ]
