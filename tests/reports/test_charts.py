"""Chart details a reader notices: a measure with no figures is named as missing, not listed in the legend; a
one-day release is a point on a date axis read in days; figures that stop early say so, with the date."""

from __future__ import annotations

import csv
from datetime import date, datetime

import pandas as pd
import plotly.graph_objects as go
import pytest

from assets.publication.datastore_tables import build_datastore_tables
from reports.charts import borough_heatmap, build_charts, healthcare_lines, london_england_rate, nhs_111_lines
from resources.settings import REPO_ROOT
from tests.samples import clean_sample_tables, sample_path

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def charts() -> dict[str, go.Figure]:
    return build_charts(build_datastore_tables(clean_sample_tables()), provisional_from=None)


def x_range(figure: go.Figure) -> tuple[pd.Timestamp, pd.Timestamp]:
    first, last = figure.layout.xaxis.range
    return pd.Timestamp(first), pd.Timestamp(last)


def notes(figure: go.Figure) -> list[str]:
    return [a.text for a in figure.layout.annotations if "release" in (a.text or "")]


def test_a_healthcare_measure_with_no_figures_is_named_in_its_panel_not_in_the_legend() -> None:
    days = pd.date_range("2023-11-01", periods=10, freq="D")
    rows = []
    for area in ("London", "Rest of England"):
        for day in days:
            rows += [
                {"area_name": area, "date": day, "healthcare_type": "Patients admitted to Hospital", "patients": 40},
                {"area_name": area, "date": day, "healthcare_type": "Patients in Hospital", "patients": 500},
                # Mechanical ventilation beds stopped being reported for London only.
                {"area_name": area, "date": day, "healthcare_type": "Patients in mechanical ventilation beds",
                 "patients": None if area == "London" else 30},
            ]
    figure = healthcare_lines(pd.DataFrame(rows))
    ventilation = [t for t in figure.data if t.name == "Patients in mechanical ventilation beds"]
    # Only the Rest of England panel draws it (the second row's axes), and its legend entry is shown once.
    assert [t.yaxis for t in ventilation] == ["y3"] and ventilation[0].showlegend
    notes = [a for a in figure.layout.annotations if a.text.startswith("No data")]
    assert [(a.text, a.yref) for a in notes] == [
        ("No data in this release: Patients in mechanical ventilation beds", "y domain")]


def test_the_one_day_nhs_111_release_is_points_on_an_axis_of_days(charts: dict[str, go.Figure]) -> None:
    with sample_path("nhs_111", "NHS Pathways Covid-19 data CCG mapped.csv").open(newline="") as handle:
        days = {datetime.strptime(row["Call Date"], "%d/%m/%Y") for row in csv.DictReader(handle)}
    assert len(days) == 1, "the shipped NHS 111 sample is a one-day release"
    [day] = days
    figure = charts["nhs_111"]
    first, last = x_range(figure)
    # Days either side of the one day, not a millisecond around midnight (23:59:59.999 to 00:00:00.0005).
    assert first < pd.Timestamp(day) < last and last - first >= 2 * DAY
    assert figure.layout.xaxis.dtick == DAY / pd.Timedelta(milliseconds=1)
    assert figure.layout.xaxis.tickformat == "%-d %b %Y"
    assert figure.data and all("markers" in trace.mode for trace in figure.data), [t.mode for t in figure.data]


def test_the_rest_of_england_panel_says_its_figures_end_on_the_england_files_last_day(
        charts: dict[str, go.Figure]) -> None:
    with sample_path("phe_healthcare", "nation_england.csv").open(newline="") as handle:
        last = max(date.fromisoformat(row["date"]) for row in csv.DictReader(handle))
    assert last == date(2021, 11, 15)  # the sample file this test was written against
    figure = charts["healthcare"]
    [note] = [a for a in figure.layout.annotations if a.text.startswith("Rest of England:")]
    assert note.text == "Rest of England: no figures after 15 Nov 2021 in this release"
    # In the Rest of England panel (the second row's axes), in the blank stretch after its last day.
    assert (note.xref, note.yref) == ("x2", "y3 domain") and pd.Timestamp(note.x) > pd.Timestamp(last)
    # London's panel runs to the chart's end: no such note there.
    assert not [a for a in figure.layout.annotations if a.text.startswith("London:")]


def test_a_measure_that_stops_well_before_its_panel_says_when(charts: dict[str, go.Figure]) -> None:
    with sample_path("phe_healthcare", "nhs_region_london.csv").open(newline="") as handle:
        beds = [date.fromisoformat(row["date"]) for row in csv.DictReader(handle) if row["covidOccupiedMVBeds"]]
    assert max(beds) == date(2023, 5, 31)
    london = [a.text for a in charts["healthcare"].layout.annotations if a.yref == "y domain"]
    assert "Patients in mechanical ventilation beds: figures end on 31 May 2023 in this release" in london


def test_a_single_estimate_among_lines_is_drawn_as_a_point(charts: dict[str, go.Figure]) -> None:
    [estimate] = [t for t in charts["ons_positivity"].data if t.name == "London (regional estimate)"]
    assert len(estimate.x) == 1 and "markers" in estimate.mode and estimate.marker.size == (6,)
    # Series of many points keep their plain lines.
    assert all(t.mode == "lines" for t in charts["ons_positivity"].data if t.name == "London (modelled daily)")


def rates(ends: dict[str, str]) -> pd.DataFrame:
    rows = [{"area_name": area, "date": day, "rolling_7day_rate": 100.0}
            for area, end in ends.items() for day in pd.date_range("2021-09-01", end, freq="D")]
    return pd.DataFrame(rows)


def test_a_series_that_ends_weeks_early_is_named_with_its_last_day() -> None:
    figure = london_england_rate(rates({"England": "2021-11-23", "London": "2022-01-31"}), None)
    assert notes(figure) == ["England: figures end on 23 Nov 2021 in this release"]
    # A week's lag (a weekly figure, a late file) is not a gap worth a note.
    assert notes(london_england_rate(rates({"England": "2022-01-24", "London": "2022-01-31"}), None)) == []


def test_a_chart_of_two_days_reads_in_days_and_a_one_day_heatmap_is_a_day_wide() -> None:
    figure = london_england_rate(rates({"England": "2021-09-02", "London": "2021-09-02"}), None)
    first, last = x_range(figure)
    assert first <= pd.Timestamp("2021-08-31") and last >= pd.Timestamp("2021-09-03")
    assert all(trace.mode == "lines+markers" for trace in figure.data)

    boroughs = pd.DataFrame({"area_name": ["Camden", "Hackney"], "date": pd.Timestamp("2021-09-01"),
                             "new_cases_rate": [10.0, 12.0]})
    heatmap = borough_heatmap(boroughs)
    [trace] = heatmap.data
    assert trace.dx == DAY / pd.Timedelta(milliseconds=1) and pd.Timestamp(trace.x0) == pd.Timestamp("2021-09-01")
    assert x_range(heatmap)[1] - x_range(heatmap)[0] >= 2 * DAY


def test_a_chart_with_no_figures_says_so() -> None:
    empty = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "site_type": pd.Series(dtype="object"),
                          "count": pd.Series(dtype="int64")})
    assert notes(nhs_111_lines(empty)) == ["No figures in this release"]


def test_both_age_charts_name_the_bands_as_the_gla_s_published_file_does(charts: dict[str, go.Figure]) -> None:
    """One style everywhere: the band names of the GLA's own phe_cases_age_london.csv (read with the csv module)."""
    published = REPO_ROOT / "data" / "reference" / "gla_published" / "phe_cases_age_london.csv"
    with published.open(newline="") as handle:
        gla_bands = {row["age_band"] for row in csv.DictReader(handle)} - {"unassigned"}
    for name in ("age_band_heatmap", "age_sex_heatmap"):
        [heatmap] = charts[name].data
        assert set(heatmap.y) == gla_bands, name
