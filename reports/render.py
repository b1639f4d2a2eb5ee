"""Render the cases report: tables and findings in, one HTML page out that needs nothing but plotly.js beside it
(`plotly_bundle`, stored once for every version; no Dagster, no network)."""

from __future__ import annotations

import plotly.offline

from reports.charts import build_charts
from reports.inputs import ReportInputs
from reports.pages import environment


def plotly_bundle() -> tuple[str, str]:
    """plotly.js, named by its version, as a file stored once beside the reports: every version's page loads it from
    its own folder, so a page works offline (from disk or the report server) without carrying 4.6 MB of JavaScript
    in each of a year's nightly versions."""
    return plotly_file_name(), plotly.offline.get_plotlyjs()


def plotly_file_name() -> str:
    return f"plotly-{plotly.offline.get_plotlyjs_version()}.min.js"


def render_report(inputs: ReportInputs) -> str:
    provisional_from = inputs.headlines[0].provisional_from if inputs.headlines else None
    charts = {
        name: figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{name}",
                             config={"displaylogo": False, "responsive": True})
        for name, figure in build_charts(inputs.tables, provisional_from).items()
    }
    return environment().get_template("cases_report.html").render(
        report=inputs,
        charts=charts,
        # Beside the page, never from a CDN: analysts open reports offline or behind a proxy.
        plotly_src=plotly_file_name(),
    )
