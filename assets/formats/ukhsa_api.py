"""The UKHSA data dashboard API: the live successor of the PHE coronavirus API (live mode's default).

    GET {UKHSA_API_URL}/themes/infectious_disease/sub_themes/respiratory/topics/COVID-19/
        geography_types/{geography_type}/geographies/{geography}/metrics/{metric}?page_size=365&page=1
    -> {"count": n, "next": url | null, "previous": url | null, "results": [{"geography", "geography_code",
        "metric", "stratum", "sex", "age", "date", "metric_value", "in_reporting_delay_period", ...}]}

Default page size is 5 and the maximum 365, so we ask for 365 and follow `next` to the end. No data is a 200 with
empty `results`. Metric names as used in UKHSA's documentation and clients: `COVID-19_cases_casesByDay`
(see https://ukhsa-dashboard.data.gov.uk/access-our-data and the ukhsadatR vignette,
https://stat.ethz.ch/CRAN/web/packages/ukhsadatR/vignettes/ukhsadatR.html), and the healthcare metrics
`COVID-19_healthcare_admissionByDay` and `COVID-19_healthcare_occupiedBedsByDay` (UKHSA-Internal/data-dashboard-api
`source_data/`). The API has no mechanically-ventilated-beds metric and no cumulative case count: those columns
stay empty in live mode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import quote, unquote, urlencode, urlsplit

import pandas as pd

from assets.formats.reading import LeftOut, note_left_out
from assets.ingest.source import Parser, RawFile, SourceRequest, Variant
from resources.errors import ParseError

PAGE_SIZE = 365
TOPIC_PATH = "themes/infectious_disease/sub_themes/respiratory/topics/COVID-19"
CASES_BY_DAY = "COVID-19_cases_casesByDay"
ADMISSIONS_BY_DAY = "COVID-19_healthcare_admissionByDay"
OCCUPIED_BEDS_BY_DAY = "COVID-19_healthcare_occupiedBedsByDay"
PAGE_SUFFIX = re.compile(r"_p(\d+)$")


def ukhsa_url(base_url: str, geography_type: str, geography: str, metric: str, page: int = 1) -> str:
    path = (f"{TOPIC_PATH}/geography_types/{quote(geography_type)}/geographies/{quote(geography)}"
            f"/metrics/{quote(metric)}")
    return f"{base_url.rstrip('/')}/{path}?{urlencode({'page_size': PAGE_SIZE, 'page': page})}"


def ukhsa_requests(base_url: str, series: Sequence[tuple[str, str, str, str]]) -> list[SourceRequest]:
    """One chain of pages per (name, geography type, geography, metric); this is its first page. Request names
    start `ukhsa_`, so the archive keeps these files apart from the same source's files in other formats."""
    # Optional: a geography or metric the API does not hold answers 404, and is reported rather than failing.
    return [SourceRequest(f"ukhsa_{name}_p1", ukhsa_url(base_url, kind, geography, metric), ".json", optional=True)
            for name, kind, geography, metric in series]


def read_page(content: bytes, where: str) -> dict:
    try:
        page = json.loads(content)
    except ValueError as exc:
        raise ParseError(where, f"is not valid JSON (truncated or an error page?): {exc}") from exc
    if not isinstance(page, dict) or not isinstance(page.get("results"), list) or "next" not in page:
        raise ParseError(where, "is not a page of the UKHSA API (expected 'count', 'next' and a 'results' list)")
    return page


def follow_pages(request: SourceRequest, content: bytes, url: str) -> list[SourceRequest]:
    """The next page of a chain, until `next` is null."""
    page = read_page(content, url)
    if not page["next"]:
        return []
    number = int(PAGE_SUFFIX.search(request.name)[1]) + 1
    return [SourceRequest(PAGE_SUFFIX.sub(f"_p{number}", request.name), page["next"], ".json")]


def _answers(files: Mapping[str, RawFile], series: Sequence[SourceRequest]) -> list[tuple[str, str, str, str]]:
    """(geography, metric, path, answer) for each series: answer "results", "404" (no page: not found, or not given)
    or "empty" (pages without results)."""
    answers = []
    for first in series:
        chain = PAGE_SUFFIX.sub("", first.name)
        pages = [file for name, file in files.items() if PAGE_SUFFIX.sub("", name) == chain]
        path = unquote(urlsplit(first.url).path)
        parts = dict(zip(*[iter(path.split("/")[-6:])] * 2, strict=True))
        answer = ("404" if not pages else
                  "results" if any(read_page(page.content, page.name)["results"] for page in pages) else "empty")
        answers.append((f"{parts.get('geographies')} ({parts.get('geography_types')})", parts.get("metrics"), path,
                        answer))
    return answers


SERIES_NOTES = {"404": "the UKHSA API does not hold {metric} for {geography} (404): left out",
                "empty": "the UKHSA API has no data for {metric} for {geography} (empty results): left out"}
# The same series where the files were given by hand (make parse): there no page means no page given, not a 404.
NOT_GIVEN = "{metric} for {geography}: no page of it given: left out"


def series_notes(files: Mapping[str, RawFile], series: Sequence[SourceRequest]) -> list[str]:
    """What the analyst should know about series the API did not give: not found (404) or no results."""
    return [SERIES_NOTES[answer].format(metric=metric, geography=geography)
            for geography, metric, _, answer in _answers(files, series) if answer in SERIES_NOTES]


# SERIES_NOTES' 404 note as a pattern, to find it among a table's notes.
NOT_HELD = re.compile(re.escape(SERIES_NOTES["404"]).replace(r"\{metric\}", "(?P<metric>.+?)").replace(
    r"\{geography\}", "(?P<geography>.+)"))


def as_not_given(note: str) -> str:
    """A note of series_notes as it reads where the files were given by hand (make parse): a series said not to be
    held (404) was only not given. Other notes as they are."""
    found = NOT_HELD.fullmatch(note)
    return NOT_GIVEN.format(**found.groupdict()) if found else note


def every_geography_answered(files: Mapping[str, RawFile], series: Sequence[SourceRequest]) -> None:
    """Raise a ParseError naming a geography none of whose series answered (a name the API does not know, or no
    longer uses): the table would lack that area or, for City of London and Hackney, count one of them as both. A
    metric missing for a geography that has others is only a note (series_notes)."""
    answers = _answers(files, series)
    answered = {geography for geography, _, _, answer in answers if answer == "results"}
    for geography, _, path, _ in answers:
        if geography not in answered:
            why = "; ".join(f"{metric} {'not found (404)' if answer == '404' else 'has no results'}"
                            for place, metric, _, answer in answers if place == geography)
            # The series' path names it: a 404 is not archived, so there is no file to name.
            raise ParseError(f"the UKHSA API's {path}", (
                f"no series answered for {geography} ({why}), so the table would lack it: has the API renamed the "
                "geography? Nothing was stored; the last good table stays"))


def records(files: Mapping[str, RawFile]) -> pd.DataFrame:
    """Every result of every page, for the whole-population stratum only (age and sex 'all')."""
    rows = []
    strata: dict[str, int] = {}
    for file in files.values():
        for result in read_page(file.content, file.name)["results"]:
            missing = [k for k in ("geography", "geography_code", "metric", "date", "metric_value") if k not in result]
            if missing:
                raise ParseError(file.name, f"a result lacks {missing}: {str(result)[:150]}")
            if str(result.get("age", "all")) != "all" or str(result.get("sex", "all")).lower() != "all":
                strata[file.name] = strata.get(file.name, 0) + 1
                continue
            rows.append((result["geography_code"], result["geography"], result["metric"], result["date"],
                         result["metric_value"], bool(result.get("in_reporting_delay_period", False)), file.name))
    frame = pd.DataFrame(rows, columns=["area_code", "area_name", "metric", "date", "value", "provisional", "file"])
    if frame.empty:
        where = ", ".join(f.name for f in files.values()) or "the UKHSA API"
        raise ParseError(where, "holds no results for the whole population in any series (every series was not "
                                "found or empty)")
    dates = pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        bad = frame[dates.isna()].iloc[0]
        raise ParseError(bad["file"], f"date {bad['date']!r} is not YYYY-MM-DD")
    frame["date"] = dates.astype("datetime64[ns]")
    values = pd.to_numeric(frame["value"], errors="coerce")
    if (frame["value"].notna() & values.isna()).any():
        bad = frame[frame["value"].notna() & values.isna()].iloc[0]
        raise ParseError(bad["file"], f"metric_value {bad['value']!r} for {bad['date']:%Y-%m-%d} is not a number")
    frame["value"] = values.astype("float64")
    for name, count in strata.items():
        note_left_out(frame, name, [], {"results for one age or sex (only the whole population's are read)": count})
    return frame


def wide(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """One row per area and date, a column of counts per metric (renamed by `columns`), `provisional` if any
    metric was still inside its reporting delay on that date."""
    keys = ["area_code", "area_name", "date"]
    fractional = frame[frame["metric"].isin(list(columns)) & (frame["value"] % 1 != 0)]
    if len(fractional):
        bad = fractional.iloc[0]
        raise ParseError(bad["file"], f"{bad['metric']} {bad['value']!r} for {bad['date']:%Y-%m-%d} is not a count")
    _account_for_collapsed(frame, keys)
    table = frame.pivot_table(index=keys, columns="metric", values="value", aggfunc="first").reset_index()
    table = table.rename(columns=dict(columns)).rename_axis(columns=None)
    for column in columns.values():
        table[column] = (table[column].round().astype("Int64") if column in table
                         else pd.array([pd.NA] * len(table), dtype="Int64"))
    flags = frame.groupby(keys)["provisional"].any().reset_index()
    table = table.merge(flags, on=keys, how="left")
    table["provisional"] = table["provisional"].astype("boolean")
    table["area_code"] = table["area_code"].astype(str)
    table["area_name"] = table["area_name"].astype(str)
    table = table[[*keys, *columns.values(), "provisional"]]
    table.attrs = dict(frame.attrs)  # the notes on what was read
    return table


def _account_for_collapsed(frame: pd.DataFrame, keys: list[str]) -> None:
    """Name what turning results into one row per area and day loses: a second result for the same area, day and
    metric (the same value is counted; another value is left out by name, the first being read), and results with
    no value (a day whose results all have none has no row)."""
    key = [*keys, "metric"]
    first = frame.drop_duplicates(key).set_index(key)["value"]
    repeated = frame[frame.duplicated(key)]
    read = first.reindex(pd.MultiIndex.from_frame(repeated[key])).to_numpy()
    same = (repeated["value"].to_numpy() == read) | (repeated["value"].isna().to_numpy() & pd.isna(read))
    for file, rows in frame.groupby("file", sort=False):
        mine = (repeated["file"] == file).to_numpy()
        note_left_out(frame, str(file), [
            LeftOut(f"{row.metric} for {row.date:%Y-%m-%d}", str(row.area_name),
                    f"a second value {row.value!r} (the first, {value!r}, is read)")
            for row, value in zip(repeated[mine & ~same].itertuples(), read[mine & ~same], strict=True)],
            {"repeated results (the same value twice)": int((mine & same).sum()),
             "results with no value": int(rows["value"].isna().sum())})


def ukhsa_variant(
    build_requests: Callable[[str], list[SourceRequest]], parse: Parser, parallel_requests: int
) -> Variant:
    """A source's variant reading the UKHSA API: its series' first pages, followed page by page; a release is read
    only if every geography asked for answered (every_geography_answered)."""
    return Variant(api="ukhsa", build_requests=build_requests, parse=parse, follow_links=follow_pages,
                   parallel_requests=parallel_requests,
                   check_release=lambda files: every_geography_answered(files, build_requests("")))
