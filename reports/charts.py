"""The report's plotly charts, one function per chart, each with labelled axes and provisional days marked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from checks.published import (
    AGE_SEX,
    BOROUGH_RATES,
    GLA_CASES_AGE,
    GLA_HEALTHCARE,
    LONDON_ENGLAND_RATES,
    NHS_111,
    ONS_POSITIVITY,
)
from checks.schemas import GLA_AGE_BANDS, GLA_HEALTHCARE_TYPES, LONDON_AND_REST, PHE_AGE_BANDS

LAYOUT = {
    "template": "plotly_white",
    "height": 420,
    "margin": {"l": 70, "r": 30, "t": 60, "b": 60},
    "legend": {"orientation": "h", "y": -0.2},
    "font": {"family": "Arial, sans-serif", "size": 12},
}


def _mark_provisional(figure: go.Figure, provisional_from: date | None, last: pd.Timestamp) -> None:
    if provisional_from is not None:
        figure.add_vrect(
            x0=pd.Timestamp(provisional_from) - pd.Timedelta(hours=12), x1=last + pd.Timedelta(hours=12),
            fillcolor="#999", opacity=0.15, line_width=0, layer="below",
            annotation_text="provisional", annotation_position="top left",
        )


def _finish(figure: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    figure.update_layout(title=title, **LAYOUT)
    figure.update_xaxes(title_text=x_title)
    figure.update_yaxes(title_text=y_title, rangemode="tozero")
    return figure


# London stands out in its own colour, drawn over everything else; other areas are muted.
LONDON_COLOUR, OTHER_COLOURS = "#c62828", ("#5f6b7a", "#9aa5b1", "#3b4754")


def area_style(name: str, index: int) -> tuple[str, float]:
    """Colour and line width of an area's series: London's own colour and a thicker line, others muted."""
    return (LONDON_COLOUR, 3.0) if name == "London" else (OTHER_COLOURS[index % len(OTHER_COLOURS)], 1.5)


def london_last(names) -> list:
    """Areas in drawing order: London last, so its line is in front."""
    return sorted(names, key=lambda name: (str(name) == "London", str(name)))


def _rgba(hex_colour: str, alpha: float) -> str:
    red, green, blue = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def london_england_rate(table: pd.DataFrame, provisional_from: date | None) -> go.Figure:
    figure = go.Figure()
    for index, name in enumerate(london_last(table["area_name"].unique())):
        area = table[table["area_name"] == name]
        colour, width = area_style(str(name), index)
        figure.add_scatter(x=area["date"], y=area["rolling_7day_rate"], mode="lines", name=str(name),
                           line={"color": colour, "width": width})
    _mark_provisional(figure, provisional_from, table["date"].max())
    return _finish(figure, "Cases per 100,000 people, 7 days to each date: London and England",
                   "Specimen date", "7-day cases per 100,000")


def borough_heatmap(table: pd.DataFrame) -> go.Figure:
    wide = table.pivot(index="area_name", columns="date", values="new_cases_rate").sort_index(ascending=False)
    figure = go.Figure(go.Heatmap(
        z=wide.to_numpy(dtype="float64"), x=list(wide.columns), y=list(wide.index), colorscale="Reds",
        colorbar={"title": {"text": "per 100,000"}},
        hovertemplate="%{y}<br>%{x|%d %b %Y}: %{z} per 100,000<extra></extra>",
    ))
    figure = _finish(figure, "Daily cases per 100,000 people by borough", "Specimen date", "Borough")
    figure.update_layout(height=760)
    figure.update_yaxes(rangemode=None)
    return figure


def age_band_heatmap(table: pd.DataFrame) -> go.Figure:
    """London's 7-day case rate per 100,000 by age band, from phe_cases_age_london.csv."""
    bands = [band for band in GLA_AGE_BANDS if band != "unassigned"]
    wide = table.pivot(index="age_band", columns="date", values="rolling_rate").reindex(bands)
    figure = go.Figure(go.Heatmap(
        z=wide.to_numpy(dtype="float64"), x=list(wide.columns), y=list(wide.index), colorscale="Blues",
        colorbar={"title": {"text": "per 100,000"}},
        hovertemplate="%{y}<br>7 days to %{x|%d %b %Y}: %{z} per 100,000<extra></extra>",
    ))
    figure = _finish(figure, "London: cases in the 7 days to each date per 100,000 people, by age band",
                     "Specimen date", "Age band")
    figure.update_yaxes(rangemode=None)
    return figure


def age_sex_heatmap(table: pd.DataFrame) -> go.Figure:
    totals = table.groupby(["age_band", "date"])["total_cases"].sum().unstack("date")
    daily = totals.diff(axis=1).iloc[:, 1:].reindex(list(PHE_AGE_BANDS))
    figure = go.Figure(go.Heatmap(
        z=daily.to_numpy(dtype="float64"), x=list(daily.columns), y=list(daily.index), colorscale="Blues",
        colorbar={"title": {"text": "cases"}},
        hovertemplate="age %{y}<br>%{x|%d %b %Y}: %{z} new cases<extra></extra>",
    ))
    figure = _finish(figure, "London: new cases by age band, both sexes (day-on-day change in the cumulative "
                             "count by sex and age)", "Specimen date", "Age band")
    figure.update_yaxes(rangemode=None)
    return figure


def _no_data_note(figure: go.Figure, labels: list[str], row: int) -> None:
    """Say in the panel which series have no figures at all, instead of an empty legend entry."""
    if labels:
        figure.add_annotation(text="No data in this release: " + "; ".join(labels), showarrow=False,
                              xref="x domain", yref="y domain", x=0.01, y=0.98, xanchor="left", yanchor="top",
                              font={"color": "#8a1c13"}, bgcolor="rgba(255,255,255,0.8)", row=row, col=1)


def healthcare_lines(table: pd.DataFrame) -> go.Figure:
    """London (NHS region) and Rest of England from phe_healthcare.csv, one panel each: patients in hospital and
    in mechanical ventilation beds as lines, admissions as bars on the right axis. A measure with no figures in a
    panel is named in a note there, not in the legend."""
    admitted, in_hospital, ventilated = GLA_HEALTHCARE_TYPES
    series = (
        (in_hospital, "Patients in hospital", "lines", "#1f77b4"),
        (ventilated, "Patients in mechanical ventilation beds", "lines", "#d62728"),
        (admitted, "Admissions", "bar", "#7f7f7f"),
    )
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, subplot_titles=LONDON_AND_REST,
                           specs=[[{"secondary_y": True}], [{"secondary_y": True}]], vertical_spacing=0.1)
    in_legend: set[str] = set()
    for row, area in enumerate(LONDON_AND_REST, start=1):
        wide = table[table["area_name"] == area].pivot(index="date", columns="healthcare_type", values="patients")
        empty = []
        for healthcare_type, label, kind, colour in series:
            values = wide[healthcare_type] if healthcare_type in wide else pd.Series(dtype="float64")
            if values.notna().sum() == 0:
                empty.append(label)
                continue
            shared = {"x": wide.index, "y": values, "name": label, "legendgroup": healthcare_type,
                      "showlegend": label not in in_legend, "row": row, "col": 1}
            in_legend.add(label)
            if kind == "bar":
                figure.add_bar(opacity=0.5, marker={"color": colour}, secondary_y=True, **shared)
            else:
                figure.add_scatter(mode="lines", line={"color": colour}, **shared)
        _no_data_note(figure, empty, row)
        figure.update_yaxes(title_text="Patients", rangemode="tozero", row=row, col=1, secondary_y=False)
        # Its own round ticks and no grid: ticks synchronised with the left axis land on odd values (163, 326...).
        figure.update_yaxes(title_text="Admissions per day", rangemode="tozero", tickmode="auto", showgrid=False,
                            row=row, col=1, secondary_y=True)
    figure.update_layout(title="Hospital admissions and patients: London (NHS region) and the rest of England",
                         **{**LAYOUT, "height": 640})
    figure.update_xaxes(title_text="Date", row=2, col=1)
    return figure


def ons_positivity_band(table: pd.DataFrame) -> go.Figure:
    """Each area's estimate with its 95% credible interval; London in its own colour, drawn last (in front)."""
    figure = go.Figure()
    kinds = {"modelled_daily": ("modelled daily", "solid"), "official_weekly": ("official weekly", "solid"),
             "regional_estimate": ("regional estimate", "dot")}
    for index, name in enumerate(london_last(table["area_name"].unique())):
        colour, width = area_style(str(name), index)
        for kind, group in table[table["area_name"] == name].groupby("estimate_kind"):
            words, dash = kinds[str(kind)]
            label = f"{name} ({words})"
            group = group.sort_values("period_end")
            figure.add_scatter(x=group["period_end"], y=group["percent_upper"], mode="lines", line={"width": 0},
                               showlegend=False, hoverinfo="skip", legendgroup=label)
            figure.add_scatter(x=group["period_end"], y=group["percent_lower"], mode="lines", line={"width": 0},
                               fill="tonexty", fillcolor=_rgba(colour, 0.25 if name == "London" else 0.12),
                               name=f"{label}: 95% credible interval", legendgroup=label)
            figure.add_scatter(x=group["period_end"], y=group["percent_positive"], mode="lines", name=label,
                               line={"color": colour, "width": width, "dash": dash}, legendgroup=label)
    return _finish(figure, "ONS Infection Survey: % of people testing positive, with 95% credible interval",
                   "End of period", "% testing positive")


def nhs_111_lines(table: pd.DataFrame) -> go.Figure:
    daily = table.groupby(["date", "site_type"])["count"].sum().unstack("site_type")
    labels = {"111": "111 calls (NHS Pathways)", "999": "999 calls (NHS Pathways)", "online": "111 online"}
    figure = go.Figure()
    for site in daily.columns:
        figure.add_scatter(x=daily.index, y=daily[site], mode="lines", name=labels.get(site, site))
    return _finish(figure, "London: potential COVID-19 triages and assessments by route", "Date",
                   "Triages / assessments per day")


def build_charts(tables: Mapping[str, pd.DataFrame], provisional_from: date | None) -> dict[str, go.Figure]:
    return {
        "london_england_rate": london_england_rate(tables[LONDON_ENGLAND_RATES], provisional_from),
        "borough_heatmap": borough_heatmap(tables[BOROUGH_RATES]),
        "age_band_heatmap": age_band_heatmap(tables[GLA_CASES_AGE]),
        "age_sex_heatmap": age_sex_heatmap(tables[AGE_SEX]),
        "healthcare": healthcare_lines(tables[GLA_HEALTHCARE]),
        "ons_positivity": ons_positivity_band(tables[ONS_POSITIVITY]),
        "nhs_111": nhs_111_lines(tables[NHS_111]),
    }
