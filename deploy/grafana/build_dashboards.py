"""Build the provisioned Grafana dashboards with Grafana's own SDK (grafana-foundation-sdk).

    .venv/bin/python deploy/grafana/build_dashboards.py          # rewrite dashboards/*.json
    .venv/bin/python deploy/grafana/build_dashboards.py --check  # exit 1 if they are stale

The JSON files are committed (Grafana reads them at start-up through
provisioning/dashboards/studentops.yaml); tests/deploy checks they match this script, and the
integration tests run every PromQL query against a real Prometheus scraping the API and every
SQL query against PostgreSQL holding the prediction log. The SDK has no builder for Grafana's
PostgreSQL data source, so :class:`SqlQuery` writes its documented query model
(refId, datasource, rawSql, format).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import piechart, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

HERE = Path(__file__).parent
OUT = HERE / "dashboards"
# The data sources' uids (provisioning/datasources/studentops.yaml).
PROM = DataSourceRef(type_val="prometheus", uid="prometheus")
PG = DataSourceRef(type_val="grafana-postgresql-datasource", uid="studentops-postgres")
# The prediction log's table (studentops/monitoring/predlog.py).
LOG = "predictions"


class SqlQueryModel(cogvariants.Dataquery):
    """A raw SQL query of Grafana's PostgreSQL data source."""

    def __init__(self, ref_id: str, raw_sql: str, fmt: str) -> None:
        self.ref_id, self.raw_sql, self.fmt = ref_id, raw_sql, fmt

    def to_json(self) -> dict[str, Any]:
        """The query as Grafana's dashboard JSON: raw SQL on the PostgreSQL data source."""
        return {
            "refId": self.ref_id,
            "datasource": {"type": PG.type_val, "uid": PG.uid},
            "editorMode": "code",
            "rawQuery": True,
            "rawSql": self.raw_sql,
            "format": self.fmt,
        }


class SqlQuery(cogbuilder.Builder[SqlQueryModel]):
    """A grafana-foundation-sdk builder for :class:`SqlQueryModel` (whitespace in the SQL
    folded)."""

    def __init__(self, raw_sql: str, fmt: str = "time_series", ref_id: str = "A") -> None:
        self._internal = SqlQueryModel(ref_id, " ".join(raw_sql.split()), fmt)

    def build(self) -> SqlQueryModel:
        """The built query model (the SDK's builder protocol)."""
        return self._internal


def promql(expr: str, legend: str = "", ref_id: str = "A") -> prometheus.Dataquery:
    """A Prometheus query with whitespace folded and an optional legend."""
    query = prometheus.Dataquery().expr(" ".join(expr.split())).ref_id(ref_id)
    return query.legend_format(legend) if legend else query


def api_dashboard() -> dash.Dashboard:
    """Traffic, latency, errors, prediction mix and model state of the API (Prometheus)."""
    rate = "$__rate_interval"
    return (
        dash.Dashboard("studentops API")
        .uid("studentops-api")
        .tags(["studentops"])
        .refresh("30s")
        .time("now-6h", "now")
        .with_panel(
            timeseries.Panel()
            .title("Requests per second by route")
            .datasource(PROM)
            .unit("reqps")
            .with_target(
                promql(f"sum by (route) (rate(studentops_requests_total[{rate}]))", "{{route}}")
            )
            .span(12)
            .height(8)
        )
        .with_panel(
            timeseries.Panel()
            .title("Latency of POST /v1/predict")
            .datasource(PROM)
            .unit("s")
            .with_target(
                promql(
                    "histogram_quantile(0.5, sum by (le) (rate("
                    f'studentops_request_latency_seconds_bucket{{route="/v1/predict"}}[{rate}])))',
                    "p50",
                )
            )
            .with_target(
                promql(
                    "histogram_quantile(0.99, sum by (le) (rate("
                    f'studentops_request_latency_seconds_bucket{{route="/v1/predict"}}[{rate}])))',
                    "p99",
                    ref_id="B",
                )
            )
            .span(12)
            .height(8)
        )
        .with_panel(
            timeseries.Panel()
            .title("Error responses per second by status")
            .datasource(PROM)
            .unit("reqps")
            .with_target(
                promql(
                    f"sum by (status) (rate(studentops_request_errors_total[{rate}]))",
                    "{{status}}",
                )
            )
            .span(12)
            .height(8)
        )
        .with_panel(
            timeseries.Panel()
            .title("Students scored per second by prediction and risk band")
            .datasource(PROM)
            .unit("ops")
            .with_target(
                promql(
                    f"sum by (predicted, band) (rate(studentops_predictions_total[{rate}]))",
                    "{{predicted}} / {{band}}",
                )
            )
            .span(12)
            .height(8)
        )
        .with_panel(
            table.Panel()
            .title("Served model")
            .datasource(PROM)
            .with_target(
                promql("max by (name, version) (studentops_model_info) == 1")
                .instant()
                .format(PromQueryFormat.TABLE)
            )
            .span(8)
            .height(6)
        )
        .with_panel(
            timeseries.Panel()
            .title("Rows rejected by validation per second")
            .datasource(PROM)
            .unit("ops")
            .with_target(
                promql(
                    f"sum by (endpoint) (rate(studentops_invalid_rows_total[{rate}]))",
                    "{{endpoint}}",
                )
            )
            .span(8)
            .height(6)
        )
        .with_panel(
            timeseries.Panel()
            .title("Model reloads and prediction log drops")
            .datasource(PROM)
            .with_target(
                promql(
                    f"sum by (outcome) (increase(studentops_model_reloads_total[{rate}]))",
                    "reload {{outcome}}",
                )
            )
            .with_target(
                promql(
                    f"sum by (reason) (increase(studentops_prediction_log_dropped_total[{rate}]))",
                    "log dropped ({{reason}})",
                    ref_id="B",
                )
            )
            .span(8)
            .height(6)
        )
    )


def predictions_dashboard() -> dash.Dashboard:
    """What the models predicted, from the prediction log in PostgreSQL (SQL panels)."""
    return (
        dash.Dashboard("studentops predictions")
        .uid("studentops-predictions")
        .tags(["studentops"])
        .refresh("5m")
        .time("now-7d", "now")
        .with_panel(
            timeseries.Panel()
            .title("Students scored per hour by model version")
            .datasource(PG)
            .with_target(
                SqlQuery(
                    f"""SELECT date_trunc('hour', ts) AS time, model_version AS metric,
                    count(*) AS students FROM {LOG} WHERE $__timeFilter(ts)
                    GROUP BY 1, 2 ORDER BY 1"""
                )
            )
            .span(12)
            .height(8)
        )
        .with_panel(
            timeseries.Panel()
            .title("Mean risk score per hour by model version")
            .datasource(PG)
            .min(0)
            .max(1)
            .with_target(
                SqlQuery(
                    f"""SELECT date_trunc('hour', ts) AS time, model_version AS metric,
                    avg(risk_score) AS mean_risk FROM {LOG} WHERE $__timeFilter(ts)
                    GROUP BY 1, 2 ORDER BY 1"""
                )
            )
            .span(12)
            .height(8)
        )
        .with_panel(
            piechart.Panel()
            .title("Risk band mix")
            .datasource(PG)
            .with_target(
                SqlQuery(
                    f"""SELECT risk_band, count(*) AS students FROM {LOG}
                    WHERE $__timeFilter(ts) GROUP BY risk_band ORDER BY risk_band""",
                    fmt="table",
                )
            )
            .span(8)
            .height(8)
        )
        .with_panel(
            table.Panel()
            .title("Predictions by class and channel")
            .datasource(PG)
            .with_target(
                SqlQuery(
                    f"""SELECT prediction, source, count(*) AS students,
                    round(avg(risk_score)::numeric, 3) AS mean_risk FROM {LOG}
                    WHERE $__timeFilter(ts) GROUP BY prediction, source
                    ORDER BY students DESC""",
                    fmt="table",
                )
            )
            .span(8)
            .height(8)
        )
        .with_panel(
            stat.Panel()
            .title("Students scored (whole range)")
            .datasource(PG)
            .with_target(
                SqlQuery(
                    f"SELECT count(*) AS students FROM {LOG} WHERE $__timeFilter(ts)", fmt="table"
                )
            )
            .span(8)
            .height(8)
        )
    )


def monitoring_dashboard() -> dash.Dashboard:
    """Drift and performance: the API's monitoring gauges and the monitoring tables (#12)."""
    checks, features, metrics = "monitor_checks", "monitor_features", "monitor_metrics"
    return (
        dash.Dashboard("studentops drift and performance")
        .uid("studentops-monitoring")
        .tags(["studentops"])
        .refresh("5m")
        .time("now-30d", "now")
        .with_panel(
            stat.Panel()
            .title("Share of drifted features (latest check)")
            .datasource(PROM)
            .unit("percentunit")
            .with_target(promql("max by (profile) (studentops_drift_share)", "{{profile}}"))
            .span(8)
            .height(6)
        )
        .with_panel(
            timeseries.Panel()
            .title("Model performance by version (latest check)")
            .datasource(PROM)
            .with_target(
                promql(
                    'max by (profile, version, metric) (studentops_model_performance{group="all"})',
                    "{{profile}} v{{version}} {{metric}}",
                )
            )
            .span(16)
            .height(6)
        )
        .with_panel(
            timeseries.Panel()
            .title("Drifted share per check")
            .datasource(PG)
            .min(0)
            .max(1)
            .with_target(
                SqlQuery(
                    f"""SELECT started_at AS time, profile AS metric, drifted_share
                    FROM {checks} WHERE $__timeFilter(started_at) AND drifted_share IS NOT NULL
                    ORDER BY 1"""
                )
            )
            .span(12)
            .height(8)
        )
        .with_panel(
            table.Panel()
            .title("Features in the latest check")
            .datasource(PG)
            .with_target(
                SqlQuery(
                    f"""SELECT f.feature, f.statistic, round(f.value::numeric, 4) AS value,
                    f.threshold, f.drifted, f.missing_share FROM {features} f
                    WHERE f.check_id = (SELECT max(id) FROM {checks}
                    WHERE $__timeFilter(started_at)) ORDER BY f.drifted DESC, f.value DESC""",
                    fmt="table",
                )
            )
            .span(12)
            .height(8)
        )
        .with_panel(
            timeseries.Panel()
            .title("Performance over time by model version")
            .datasource(PG)
            .with_target(
                SqlQuery(
                    f"""SELECT c.started_at AS time,
                    m.metric || ' v' || coalesce(m.model_version, '?') AS metric, m.value
                    FROM {metrics} m JOIN {checks} c ON c.id = m.check_id
                    WHERE $__timeFilter(c.started_at) AND m.group_column IS NULL
                    AND m.value IS NOT NULL ORDER BY 1"""
                )
            )
            .span(12)
            .height(8)
        )
        .with_panel(
            table.Panel()
            .title("Performance per sensitive group (latest check)")
            .datasource(PG)
            .with_target(
                SqlQuery(
                    f"""SELECT m.model_version, m.metric, m.group_column, m.group_value,
                    round(m.value::numeric, 4) AS value, m.n FROM {metrics} m
                    WHERE m.check_id = (SELECT max(c.id) FROM {checks} c
                    JOIN {metrics} x ON x.check_id = c.id
                    WHERE $__timeFilter(c.started_at))
                    AND m.group_column IS NOT NULL ORDER BY m.metric, m.group_column""",
                    fmt="table",
                )
            )
            .span(12)
            .height(8)
        )
    )


DASHBOARDS = {
    "studentops-api.json": api_dashboard,
    "studentops-predictions.json": predictions_dashboard,
    "studentops-monitoring.json": monitoring_dashboard,
}


def render(name: str) -> str:
    """The JSON text of one dashboard, as committed."""
    return JSONEncoder(sort_keys=True, indent=2).encode(DASHBOARDS[name]().build()) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write every dashboard's JSON, or with ``--check`` return 1 if a committed file is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for name in DASHBOARDS:
        path, text = OUT / name, render(name)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}; run {Path(__file__).name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
