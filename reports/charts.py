"""The report's plotly charts, one function per chart, each with labelled axes and provisional days marked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
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
from checks.schemas import GLA_AGE_BANDS, GLA_HEALTHCARE_TYPES, LONDON_AND_REST, PHE_AGE_BANDS, gla_band
from reports import wording

# Every chart's look. As plotly's default a new figure takes it as it is; named in each figure's layout it was
# validated and deep-copied again for every chart: a quarter of the time the charts took.
pio.templates.default = "plotly_white"
LAYOUT = {
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


DAY = pd.Timedelta(days=1)
DAY_MS = DAY.total_seconds() * 1000  # plotly measures widths and ticks on a date axis in milliseconds
# Fewer days than this between a chart's first and last date and plotly's own ticks fall on hours or, for a single
# day, milliseconds (23:59:59.999 to 00:00:00.0005): such charts get day ticks and a few days either side.
SHORT_SPAN = pd.Timedelta(days=7)
# A series stopping this much earlier than the rest of its chart leaves a gap a reader sees; a weekly figure's usual
# lag (up to 6 days) and a last provisional week do not.
ENDS_EARLY = pd.Timedelta(days=14)
NOTE_STYLE = {"showarrow": False, "font": {"color": "#8a1c13"}, "bgcolor": "rgba(255,255,255,0.8)"}


def _as_dates(values: object) -> pd.DatetimeIndex | None:
    """A trace's x values as dates, or None when they are not dates (or there are none)."""
    if values is None:
        return None
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(list(values)))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return dates if len(dates) else None


def _drawn(trace: go.BaseTraceType) -> pd.Series:
    """Which of the trace's x positions have a value drawn (a heatmap column with at least one cell)."""
    if trace.type == "heatmap":
        return pd.DataFrame(list(trace.z)).notna().any(axis=0).reset_index(drop=True)
    return pd.Series(list(trace.y), dtype="float64").notna()


def _drawn_dates(trace: go.BaseTraceType) -> pd.DatetimeIndex | None:
    dates = _as_dates(trace.x)
    if dates is None or trace.type not in ("scatter", "bar", "heatmap"):
        return None
    drawn = dates[_drawn(trace).to_numpy()]
    return drawn if len(drawn) else None


def _shows_a_line(trace: go.BaseTraceType) -> bool:
    # Credible-interval edges are lines of width 0: markers on them would draw the band's edges as dots.
    return trace.type == "scatter" and trace.mode == "lines" and (trace.line.width is None or trace.line.width > 0)


def _readable_dates(figure: go.Figure, drawn_dates: list[pd.DatetimeIndex | None]) -> None:
    """Every point visible and a date axis that reads in days, whatever span of dates the release holds."""
    spans = [dates for dates in drawn_dates if dates is not None]
    if not spans:
        return
    first, last = min(d.min() for d in spans), max(d.max() for d in spans)
    short = last - first < SHORT_SPAN
    if short:
        figure.update_xaxes(type="date", range=[first - 3 * DAY, last + 3 * DAY], dtick=DAY_MS,
                            tickformat="%-d %b %Y")
    for trace in figure.data:
        if _shows_a_line(trace):
            drawn = _drawn(trace)
            # Plotly joins neighbours in the order given: a value with no neighbour is drawn as nothing at all.
            alone = drawn & ~drawn.shift(1, fill_value=False) & ~drawn.shift(-1, fill_value=False)
            if short:
                trace.mode = "lines+markers"
            elif alone.any():
                trace.mode = "lines+markers"
                trace.marker.size = [6 if point else 0 for point in alone]
        elif short and trace.type == "bar":
            # With one date there is no spacing to size a bar from, and plotly draws it a millisecond wide.
            trace.width = 0.8 * DAY_MS
        elif short and trace.type == "heatmap" and len(set(trace.x)) == 1:
            # Likewise a single column of cells: given as a start and a day's step it is a day wide.
            trace.update(x0=trace.x[0], dx=DAY_MS, x=None)


def _note_ends(figure: go.Figure, panels: Mapping[str, str], drawn_dates: list[pd.DatetimeIndex | None]) -> None:
    """Say in words where a panel or a series stops well before the rest of the chart, so a blank stretch reads as
    the end of the release's figures, not a fault. `panels` names each panel by its x axis ("x", "x2", ...)."""
    # One entry per series as the legend shows it: an estimate and its credible band share a legend group.
    series: dict[tuple[str, str], tuple[str, pd.Timestamp]] = {}
    for trace, dates in zip(figure.data, drawn_dates, strict=True):
        if dates is None or not trace.name:
            continue
        key = (trace.xaxis or "x", trace.legendgroup or trace.name)
        name, last = series.get(key, (trace.name, dates.max()))
        series[key] = (min(name, trace.name, key=len), max(last, dates.max()))
    if not series:
        return
    chart_end = max(last for _, last in series.values())
    chart_start = min(dates.min() for dates in drawn_dates if dates is not None)
    for xaxis in dict.fromkeys(x for x, _ in series):
        anchor = figure.layout[xaxis.replace("x", "xaxis", 1)].anchor
        yaxis = anchor if anchor and anchor != "free" else "y"
        ends = {name: last for (x, _), (name, last) in series.items() if x == xaxis}
        panel_end = max(ends.values())
        if chart_end - panel_end > ENDS_EARLY:
            # In the blank stretch itself, beside the last figure, unless that is in the right half of the chart.
            left = panel_end - chart_start < (chart_end - chart_start) / 2
            panel = panels.get(xaxis, "This panel")
            figure.add_annotation(text=f"{panel}: no figures after {wording.day(panel_end)} in this release",
                                  x=panel_end + DAY, xref=xaxis, xanchor="left" if left else "right",
                                  y=0.5, yref=f"{yaxis} domain", yanchor="middle", **NOTE_STYLE)
        stopped = sorted((last, name) for name, last in ends.items() if panel_end - last > ENDS_EARLY)
        for row, (last, name) in enumerate(stopped):
            figure.add_annotation(text=f"{name}: figures end on {wording.day(last)} in this release",
                                  x=0.99, xref=f"{xaxis} domain", xanchor="right",
                                  y=0.98 - 0.1 * row, yref=f"{yaxis} domain", yanchor="top", **NOTE_STYLE)


def _fit_dates(figure: go.Figure, panels: Mapping[str, str] | None = None) -> None:
    """What every chart gets once its traces are in: readable dates, and notes where figures stop early."""
    # Each trace's drawn dates, found once (reading a trace's values back from plotly is slow).
    drawn_dates = [_drawn_dates(trace) for trace in figure.data]
    if not panels and all(dates is None for dates in drawn_dates):
        # An empty plot with no word reads as a chart that failed to draw (a panelled chart names its own gaps).
        figure.add_annotation(text="No figures in this release", x=0.5, xref="paper", y=0.5, yref="paper",
                              **NOTE_STYLE)
    _readable_dates(figure, drawn_dates)
    _note_ends(figure, panels or {}, drawn_dates)


def _finish(figure: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    figure.update_layout(title=title, **LAYOUT)
    figure.update_xaxes(title_text=x_title)
    figure.update_yaxes(title_text=y_title, rangemode="tozero")
    _fit_dates(figure)
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
    # PHE's band names (00_04) in the GLA's words (0 - 4 years), as the age chart above and the files have them.
    figure = go.Figure(go.Heatmap(
        z=daily.to_numpy(dtype="float64"), x=list(daily.columns), y=[gla_band(band)[0] for band in daily.index],
        colorscale="Blues", colorbar={"title": {"text": "cases"}},
        hovertemplate="%{y}<br>%{x|%d %b %Y}: %{z} new cases<extra></extra>",
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
    panel is named in a note there, not in the legend; a panel or measure whose figures stop early says when."""
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
    # The panels share the x axis: a panel whose figures stop early is named in the blank stretch it leaves.
    _fit_dates(figure, {"x" if row == 1 else f"x{row}": area for row, area in enumerate(LONDON_AND_REST, start=1)})
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
