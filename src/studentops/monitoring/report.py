"""The check's report: one self-contained HTML file (inline SVG, no scripts, opens offline) and
the result as JSON beside it.

The HTML shows the verdict in words, a table of every feature, a chart of reference vs
current shares for each drifted feature and for the prediction, the performance figures, and
the performance of each model version over time (from the monitoring tables).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studentops.monitoring.results import CheckResult, FeatureDrift

if TYPE_CHECKING:
    import pandas as pd

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:left}th{background:#f3f3f3}.bad{color:#b00020;font-weight:600}
.ok{color:#1b5e20}.muted{color:#777}pre{white-space:pre-wrap;background:#f8f8f8;padding:1em}
figure{display:inline-block;margin:0 1em 1em 0}figcaption{font-size:13px}
"""
_REF, _CUR = "#7a8fa6", "#d9822b"
_NOT_PLOTTED = ("positive_rate", "outcome_rate", "mae")  # shares and a twin of rmse
_LINE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: float, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def bars_svg(feature: FeatureDrift, width: int = 460, height: int = 190) -> str:
    """Reference vs current shares per bin or category, as an inline SVG."""
    d = feature.details
    ref = d.get("reference") or []
    cur = d.get("current") or []
    if "categories" in d:
        labels = [str(c) for c in d.get("labels") or d["categories"]]
    else:
        edges = d.get("edges") or []
        bounds = ["-inf", *[f"{e:.3g}" for e in edges], "inf"]
        labels = [
            f"<= {bounds[i + 1]}" if i < len(edges) else f"> {bounds[i]}" for i in range(len(ref))
        ]
    k = max(len(ref), 1)
    top = max([*ref, *cur, 1e-9])
    left, bottom = 34, 40
    plot_w, plot_h = width - left - 6, height - bottom - 10
    slot = plot_w / k
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(feature.feature)}">',
        f'<text x="2" y="12" font-size="10">{top:.0%}</text>',
        f'<line x1="{left}" y1="{10 + plot_h}" x2="{width}" y2="{10 + plot_h}" stroke="#999"/>',
    ]
    for i in range(k):
        x = left + i * slot
        for j, (series, color) in enumerate(((ref, _REF), (cur, _CUR))):
            value = series[i] if i < len(series) else 0.0
            h = plot_h * value / top
            parts.append(
                f'<rect x="{x + 2 + j * (slot - 4) / 2:.1f}" y="{10 + plot_h - h:.1f}" '
                f'width="{max((slot - 4) / 2, 1):.1f}" height="{h:.1f}" fill="{color}">'
                f"<title>{_e(labels[i] if i < len(labels) else i)}: {value:.1%}</title></rect>"
            )
        if k <= 16:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{height - 24}" font-size="9" '
                f'text-anchor="middle">{_e((labels[i] if i < len(labels) else "")[:9])}</text>'
            )
    parts.append(
        f'<rect x="{left}" y="{height - 14}" width="10" height="10" fill="{_REF}"/>'
        f'<text x="{left + 14}" y="{height - 5}" font-size="10">reference</text>'
        f'<rect x="{left + 80}" y="{height - 14}" width="10" height="10" fill="{_CUR}"/>'
        f'<text x="{left + 94}" y="{height - 5}" font-size="10">current</text></svg>'
    )
    return "".join(parts)


def lines_svg(history: pd.DataFrame, metric: str, width: int = 460, height: int = 190) -> str:
    """One line per model version: ``metric`` (everyone) at each check, as an inline SVG."""
    rows = history[(history["metric"] == metric) & history["group_column"].isna()]
    rows = rows.dropna(subset=["value"])
    if rows.empty:
        return ""
    times = rows["started_at"].astype("int64").to_numpy() / 1e9
    t0, t1 = float(times.min()), float(times.max())
    lo, hi = float(rows["value"].min()), float(rows["value"].max())
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    left, pad = 40, 12
    plot_w, plot_h = width - left - pad, height - 2 * pad - 14

    def xy(t: float, v: float) -> tuple[float, float]:
        x = left + (plot_w * (t - t0) / (t1 - t0) if t1 > t0 else plot_w / 2)
        return x, pad + plot_h * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(metric)} over time">',
        f'<text x="2" y="{pad + 4}" font-size="10">{hi:.3g}</text>',
        f'<text x="2" y="{pad + plot_h}" font-size="10">{lo:.3g}</text>',
    ]
    for i, (version, group) in enumerate(rows.groupby("model_version", sort=True)):
        color = _LINE[i % len(_LINE)]
        stamps = group["started_at"].astype("int64").to_numpy() / 1e9
        points = [xy(float(t), float(v)) for t, v in zip(stamps, group["value"], strict=True)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in points]
        parts.append(
            f'<text x="{left + 70 * i}" y="{height - 3}" font-size="10" fill="{color}">'
            f"v{_e(version)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(result: CheckResult, history: pd.DataFrame | None = None) -> str:
    """The whole report as one HTML document (see the module docstring)."""
    v = result.verdict
    status_class = "bad" if v.status == "drift" else ("muted" if v.status != "ok" else "ok")
    window = (
        f"{result.window_start:%Y-%m-%d %H:%M} to {result.window_end:%Y-%m-%d %H:%M} UTC"
        if result.window_start and result.window_end
        else _e(result.source)
    )
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>studentops monitoring: {_e(result.profile)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Monitoring report: {_e(result.profile)}</h1>",
        f"<p>Model {_e(result.model_name)} v{_e(result.model_version)}; window {window}; "
        f"{result.n_rows:,} rows vs a reference of {result.n_reference:,}. "
        f"Checked {result.started_at:%Y-%m-%d %H:%M} UTC.</p>",
        f"<h2>Verdict: <span class='{status_class}'>{_e(v.status.replace('_', ' '))}</span></h2>",
        f"<pre>{_e(v.message)}</pre>",
    ]
    drifted = result.drifted
    if drifted or any(p.any_drift for p in result.prediction):
        out.append("<h2>Drifted features</h2>")
        for f in [*drifted, *[p for p in result.prediction if p.any_drift]]:
            out.append(
                f"<figure id='drift-{_e(f.feature)}'>{bars_svg(f)}"
                f"<figcaption>{_e(f.message)}</figcaption></figure>"
            )
    out.append(
        "<h2>Every feature</h2><table><tr><th>feature</th><th>kind</th>"
        "<th>statistic</th><th>value</th><th>threshold</th><th>drifted</th>"
        "<th>missing (ref -> now)</th><th>unseen</th><th>rows</th></tr>"
    )
    for f in [*result.features, *result.prediction, *([result.target] if result.target else [])]:
        flag = "<span class='bad'>yes</span>" if f.any_drift else "no"
        out.append(
            f"<tr><td>{_e(f.feature)}</td><td>{_e(f.kind)}</td><td>{_e(f.statistic)}</td>"
            f"<td>{_num(f.value)}</td><td>{_num(f.threshold)}</td><td>{flag}</td>"
            f"<td>{f.reference_missing_share:.1%} -> {f.missing_share:.1%}</td>"
            f"<td>{f.unseen_share:.1%}</td><td>{f.n:,}</td></tr>"
        )
    out.append("</table>")
    if result.target is not None:
        out.append(f"<h2>Target drift</h2><p>{_e(result.target.message)}</p>")
    out.append("<h2>Performance on arrived outcomes</h2>")
    if result.metrics:
        out.append(
            "<table><tr><th>version</th><th>group</th><th>metric</th><th>value</th><th>n</th></tr>"
        )
        for m in result.metrics:
            group = f"{m.group_column}={m.group_value}" if m.group_column else "everyone"
            out.append(
                f"<tr><td>v{_e(m.model_version)}</td><td>{_e(group)}</td><td>{_e(m.metric)}</td>"
                f"<td>{_num(m.value)}</td><td>{m.n:,}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append("<p class='muted'>No outcomes in this window yet.</p>")
    if history is not None and not history.empty:
        charts = [
            (name, lines_svg(history, name))
            for name in sorted(set(history["metric"]))
            if name not in _NOT_PLOTTED
        ]
        charts = [(n, c) for n, c in charts if c]
        if charts:
            out.append("<h2>Performance over time</h2>")
            out += [f"<figure>{c}<figcaption>{_e(n)}</figcaption></figure>" for n, c in charts]
    out.append("</body></html>")
    return "\n".join(out)


def write_report(
    result: CheckResult, folder: Path, history: pd.DataFrame | None = None
) -> tuple[Path, Path]:
    """Write ``<profile>-<time>.html`` and ``.json`` into ``folder``; sets the result's paths.

    Args:
        result: the check.
        folder: created when missing.
        history: :meth:`MonitorStore.read_metrics` rows, for the performance-over-time plots.

    Returns:
        ``(html path, json path)``; the HTML is self-contained (inline SVG, no scripts).

    Raises:
        OSError: the folder cannot be written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamp = result.started_at
    stem = f"{result.profile}-{stamp:%Y%m%dT%H%M%S}-{stamp.microsecond // 1000:03d}"
    html_path, json_path = folder / f"{stem}.html", folder / f"{stem}.json"
    result.report_html, result.report_json = str(html_path), str(json_path)
    html_path.write_text(render_html(result, history), encoding="utf-8")
    json_path.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
    return html_path, json_path
