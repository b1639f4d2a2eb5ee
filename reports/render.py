"""Render the cases report: tables and findings in, one HTML page out that needs nothing but plotly.js beside it
(`plotly_bundle`, stored once for every version; no Dagster, no network)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import plotly.offline

from reports import wording
from reports.charts import build_charts
from reports.inputs import ReportInputs

TEMPLATES = Path(__file__).resolve().parent / "templates"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["thousands"] = lambda n: "n/a" if n is None else f"{n:,}"
    env.filters["signed"] = lambda n: "n/a" if n is None else f"{n:+,}"
    env.filters["day"] = wording.day
    env.filters["count"] = wording.count
    env.filters["heading"] = wording.heading
    env.filters["cell"] = wording.cell
    return env


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
