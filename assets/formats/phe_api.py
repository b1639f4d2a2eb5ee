"""The PHE coronavirus dashboard API (retired; its recorded releases are the offline default), v1 and v2.

`GET {PHE_API_URL}?areaType=...&areaCode=...&metric=...&format=csv` answers with the CSV columns
`areaCode,areaName,areaType,date,<metric>...` (nested metrics such as maleCases must be requested alone, as JSON).
Real releases vary, and the readers here take them as they came: columns in any order (early 2021 files start
`date,areaType,...`; the server wrote metric columns alphabetically), extra metrics, no `areaType`, the header
repeated before each area (archives that saved one v1 response per area), a requested metric missing from a
mirror's copy. JSON comes as v2 `{"body": [...]}` (with or without `length`) or v1 `{"data": [...]}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from assets.formats.reading import LeftOut, add_note, check_not_error_page, note_left_out
from assets.formats.typed_csv import read_csv_typed, rows_with, to_date, to_float, to_int
from assets.ingest.source import RawFile
from resources.errors import ParseError

CASES_METRICS = {"newCasesBySpecimenDate": "new_cases", "cumCasesBySpecimenDate": "cumulative_cases"}
# The summer 2020 downloads' own revision columns, beside each day's count: the count the previous release gave, and
# the change since (read where present, to rebuild a day the release left blank: fill_blank_daily).
REVISION_METRICS = {"previouslyReportedDailyCases": "previously_reported", "changeInDailyCases": "change"}
# Cases by specimen date before March 2020 were a handful: a release whose daily series starts by then holds the
# whole history, so a cumulative count it lacks can be rebuilt as the running total of its daily counts.
COMPLETE_HISTORY_BY = pd.Timestamp("2020-03-01")


def phe_v2_url(base_url: str, area_type: str, metrics: Sequence[str], fmt: str, area_code: str | None = None) -> str:
    params: list[tuple[str, str]] = [("areaType", area_type)]
    if area_code:
        params.append(("areaCode", area_code))
    params += [("metric", m) for m in metrics]
    params.append(("format", fmt))
    return f"{base_url}?{urlencode(params)}"


# The dashboard's own CSV downloads of 2020 (before the API) named the same columns for people.
LEGACY_HEADERS = {"area code": "areaCode", "area name": "areaName", "area type": "areaType", "specimen date": "date",
                  "daily lab-confirmed cases": "newCasesBySpecimenDate",
                  "cumulative lab-confirmed cases": "cumCasesBySpecimenDate",
                  "previously reported daily cases": "previouslyReportedDailyCases",
                  "change in daily cases": "changeInDailyCases"}
# Area types as the API and the 2020 downloads wrote them ("utla", "Upper tier local authority").
AREA_TYPES = {"uppertierlocalauthority": "utla", "lowertierlocalauthority": "ltla"}


def _header_key(name: str) -> str:
    key = " ".join(name.split())
    return LEGACY_HEADERS.get(key.lower(), key)


# What an empty frame's file held instead of the areas asked for (`; it holds 48,072 rows of other areas (utla)`).
HELD_INSTEAD = "held_instead"


def parse_v2_csv(
    content: bytes, file: str, metrics: dict[str, str], areas: Collection[str] | None = None,
    optional: Collection[str] = (), area_types: Collection[str] | None = None,
) -> pd.DataFrame:
    """A PHE file of daily metrics as a typed frame: area_code, area_name, date, each metric (renamed via `metrics`)
    as Int64, and `provisional`, empty: the PHE API did not flag days inside the reporting delay. Reads v1/v2 CSV
    (any column order, the 2020 downloads' headers too) and v1/v2 JSON. `areas` keeps only those area codes (read
    before the other columns are typed, so a file of all England costs little more than London's share of it);
    `area_types` keeps only those area types where the file says (the 2020 downloads list every borough twice, as
    an upper- and a lower-tier authority). A metric in `optional` may be missing: its column comes back empty."""
    rows = AreaRows(areas, area_types)
    if content.lstrip()[:1] in (b"{", b"["):
        raw = _flat_json(content, file, metrics, optional)
        raw = raw[rows(pa.Table.from_pandas(raw[["areaCode", "areaType"]].astype("string"), preserve_index=False))
                  .to_numpy(zero_copy_only=False)]
    else:
        raw = read_csv_typed(
            content, file, {"areaCode": "text", "areaName": "text", "areaType": "text", "date": "date_iso",
                            **dict.fromkeys(metrics, "int")},
            header_key=_header_key, keep_rows=rows, optional={"areaType", *optional},
        )
    frame = raw.rename(columns={"areaCode": "area_code", "areaName": "area_name", **metrics})
    frame = frame[["area_code", "area_name", "date", *metrics.values()]]
    frame["provisional"] = pd.arrays.BooleanArray(np.zeros(len(frame), dtype=bool), np.ones(len(frame), dtype=bool))
    frame = frame.reset_index(drop=True)
    frame.attrs = {}  # a missing optional metric is for the caller to explain (fill_cumulative)
    note_left_out(frame, file, rows.left_out, rows.skipped)
    if frame.empty:
        frame.attrs[HELD_INSTEAD] = _held_instead(rows)  # for the caller's error (each_file_by_area)
    return frame


class AreaRows:
    """Which rows of a PHE file are read: those of `areas` (all if None) and, where the file says, of `area_types`;
    a filter for read_csv_typed's keep_rows (a JSON file's area columns go through it as a table too). It counts
    the rest by kind (`rows of other areas (utla)`, `rows of the same areas under another area type (ltla)`), and
    a row with no area code is left out by name: every row of the file is accounted for."""

    def __init__(self, areas: Collection[str] | None, area_types: Collection[str] | None) -> None:
        self.areas, self.area_types = areas, area_types
        self.skipped: dict[str, int] = {}
        self.left_out: list[LeftOut] = []

    def __call__(self, table: pa.Table) -> pa.ChunkedArray:
        codes = pc.utf8_trim_whitespace(table["areaCode"])
        known = pc.is_valid(codes)
        in_areas = pc.is_in(codes, value_set=pa.array(sorted(self.areas))) if self.areas is not None else known
        types = distinct = None
        if "areaType" in table.column_names and pc.sum(pc.is_valid(table["areaType"])).as_py():
            # Each way of writing an area type ("utla", "Upper tier local authority") is read once, not once a row.
            types, distinct = table["areaType"], pc.unique(table["areaType"])
        of_type = known
        if types is not None and self.area_types is not None:
            of_type = rows_with(types, distinct, pc.is_in(_area_type_keys(distinct),
                                                          value_set=pa.array(sorted(self.area_types))))
        keep = pc.fill_null(pc.and_(in_areas, of_type), False)
        self._count(table, types, distinct, known, in_areas, keep)
        return keep

    def _count(self, table: pa.Table, types: pa.ChunkedArray | None, distinct: pa.Array | None,
               known: pa.ChunkedArray, in_areas: pa.ChunkedArray, keep: pa.ChunkedArray) -> None:
        def tally(mask: pa.ChunkedArray, kind: str) -> None:
            mask = pc.fill_null(mask, False)
            if types is None:
                self.skipped[kind] = pc.sum(mask).as_py() or 0
                return
            counted = _counts_where(types, distinct, mask)
            keys = _area_type_keys(pa.array([value for value, _ in counted], pa.string())).to_pylist()
            # Two spellings of one area type add up under one label, in the order the file first has them.
            for key, (_, count) in zip(keys, counted, strict=True):
                label = f"{kind} ({key or 'no area type'})"
                self.skipped[label] = self.skipped.get(label, 0) + count

        tally(pc.and_(known, pc.invert(in_areas)), "rows of other areas")
        tally(pc.and_(in_areas, pc.invert(keep)), "rows of the same areas under another area type")
        unknown = pc.invert(known)
        if pc.sum(unknown).as_py():
            lines = table["__line"] if "__line" in table.column_names else pa.array(range(1, table.num_rows + 1))
            names = table["areaName"] if "areaName" in table.column_names else pa.nulls(table.num_rows, pa.string())
            for line, name in zip(pc.filter(lines, unknown).to_pylist(), pc.filter(names, unknown).to_pylist(),
                                  strict=True):
                where = f"line {line:,}" if "__line" in table.column_names else f"record {line:,}"
                self.left_out.append(LeftOut(where, name or "", "no area code"))


def _counts_where(column: pa.ChunkedArray, distinct: pa.Array, mask: pa.ChunkedArray) -> list[tuple[str | None, int]]:
    """How many rows `mask` marks hold each of the column's `distinct` values, in the order the rows first have them
    (pc.value_counts); a column of one value is counted without a copy of the rows."""
    if len(distinct) == 1:
        count = pc.sum(mask).as_py() or 0
        return [(distinct[0].as_py(), count)] if count else []
    counted = pc.value_counts(pc.filter(column, mask))
    return list(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True))


def _area_type_keys(types: pa.Array) -> pa.Array:
    """Area types as the API writes them: "Upper tier local authority" -> "utla"; none -> ""."""
    kinds = pc.utf8_lower(pc.replace_substring(pc.fill_null(types, ""), " ", ""))
    for long, short in AREA_TYPES.items():
        kinds = pc.replace_substring(kinds, long, short)
    return kinds


# Reads one file's rows for some areas and area types: (content, file name, area codes, area types) -> frame.
AreaReader = Callable[[bytes, str, Collection[str], Collection[str]], pd.DataFrame]


def each_file_by_area(files: Mapping[str, RawFile], read: AreaReader, areas: Mapping[str, str],
                      area_types: Collection[str]) -> Iterator[tuple[RawFile, pd.DataFrame]]:
    """Each file of a release with its rows for `areas` (code -> the area's name in an error), read by `read`; a
    file with none of them is an error naming the areas looked for."""
    for file in files.values():
        frame = read(file.content, file.name, set(areas), area_types)
        if frame.empty:
            wanted = " or ".join(f"{name} ({code})" for code, name in areas.items())
            raise ParseError(file.name, f"has no rows for {wanted}{frame.attrs.get(HELD_INSTEAD, '')}")
        yield file, frame


def _flat_json(content: bytes, file: str, metrics: Mapping[str, str], optional: Collection[str]) -> pd.DataFrame:
    """v1 `{"data": [...]}` or v2 `{"body": [...]}` records keyed by metric name, as a frame of text and numbers."""
    records = json_records(content, file)
    rows = []
    for record in records:
        code, name, kind = _area_of(record)
        rows.append({"areaCode": code, "areaName": name, "areaType": kind, "date": record.get("date"),
                     **{metric: record.get(metric) for metric in metrics}})
    frame = pd.DataFrame(rows)
    missing = [m for m in metrics if m not in optional and not any(m in record for record in records)]
    if missing or "date" not in frame or frame["date"].isna().any():
        raise ParseError(file, f"records lack {', '.join(map(repr, missing or ['date']))}")
    frame["date"] = to_date(frame, "date", file)
    for metric in metrics:
        frame[metric] = to_int(frame, metric, file)
    return frame


def read_cases(content: bytes, file: str, areas: Collection[str], area_types: Collection[str]) -> pd.DataFrame:
    """Daily cases by specimen date for `areas` (parse_v2_csv): new_cases, cumulative_cases where the release has it,
    and a day the release left blank rebuilt where its own figures allow (fill_blank_daily)."""
    frame = parse_v2_csv(content, file, {**CASES_METRICS, **REVISION_METRICS}, areas=areas,
                         optional={"cumCasesBySpecimenDate", *REVISION_METRICS}, area_types=area_types)
    return fill_blank_daily(frame, file)


def fill_blank_daily(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """A day the release lists without a daily count (the summer 2020 downloads left a few blank) gets the count the
    release implies: the previously reported count plus the change it gives (0 when cases were moved to other
    days), or else the step in the area's cumulative count since its previous day listed. A note says how many; a
    day neither gives stays empty, and validation names it. Drops the revision columns."""
    if frame["new_cases"].isna().any():
        frame = frame.sort_values(["area_code", "date"], ignore_index=True)
        blank = frame["new_cases"].isna()
        before = frame.groupby("area_code")["cumulative_cases"].shift(1)
        first = frame.groupby("area_code").cumcount() == 0
        # An area's first day listed: its cumulative count is its count; a later one: the step since the day before
        # (none when that day's cumulative count is missing).
        step = (frame["cumulative_cases"] - before.fillna(0)).mask(~first & before.isna())
        rebuilt = (frame["previously_reported"] + frame["change"]).fillna(step)
        frame.loc[blank, "new_cases"] = rebuilt[blank]
        filled = blank & frame["new_cases"].notna()
        if filled.any():
            days = ", ".join(f"{row.area_name} {row.date:%d %b %Y}" for row in frame[filled].head(3).itertuples())
            add_note(frame, f"{where} lists {int(filled.sum())} day(s) with no daily count ({days}"
                            f"{' ...' if filled.sum() > 3 else ''}): each is the count its previous report and change, "
                            "or its cumulative count, gives")
    return frame.drop(columns=list(REVISION_METRICS.values()))


def fill_cumulative(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """`cumulative_cases` where the release has none: the running total of `new_cases` per area when the release
    holds the whole daily history (it starts by COMPLETE_HISTORY_BY), otherwise left empty. A note says which."""
    if frame.empty or frame["cumulative_cases"].notna().any():
        return frame
    first = frame["date"].min()
    frame = frame.sort_values(["area_code", "date"], ignore_index=True)
    if first <= COMPLETE_HISTORY_BY:
        frame["cumulative_cases"] = frame.groupby("area_code")["new_cases"].cumsum().astype("Int64")
        add_note(frame, f"The cumulative count is the running total of daily cases since {first:%d %b %Y}, where "
                        f"the release's daily history starts: {where} has no cumulative column")
    else:
        add_note(frame, f"No cumulative count: {where} has no cumulative column, and its daily history starts on "
                        f"{first:%d %b %Y}, too late to rebuild one")
    return frame


def json_records(content: bytes, file: str) -> list[dict]:
    """The records of a PHE API JSON file: v2 `{"body": [...]}` or v1 `{"data": [...]}` (one page)."""
    check_not_error_page(content, file, "JSON")
    try:
        payload = json.loads(content)
    except json.JSONDecodeError as exc:
        raise ParseError(file, f"is not valid JSON (truncated?): {exc}") from exc
    records = None
    if isinstance(payload, dict):
        records = payload.get("body", payload.get("data"))
    if not isinstance(records, list) or not records:
        raise ParseError(file, "has no 'body' (v2) or 'data' (v1) list of records")
    # A record must name its fields ({"date": ..., "areaCode": ...}); rows given as bare lists have lost their names.
    not_objects = [record for record in records if not isinstance(record, dict)]
    if not_objects:
        raise ParseError(file, f"has {len(not_objects):,} records that are not objects with named fields (e.g. "
                               f"{str(not_objects[0])[:80]})")
    return records


def normalise_age_band(label: str) -> str:
    """'0_to_4', '0_4', '00_04' and UKHSA's '00-04' all become '00_04'; '90+', 'unassigned' stay. Unknown labels
    are returned unchanged (validation then names them)."""
    match = re.fullmatch(r"(\d+)(?:_to_|_|-)(\d+)", label.strip())
    if match:
        return f"{int(match[1]):02d}_{int(match[2]):02d}"
    return label.strip()


AREA_CODE = re.compile(r"^[EKNSW]\d{8}$")


def _area_of(record: dict) -> tuple[str | None, str | None, str | None]:
    """(code, name, type) of a JSON record. The v2 server mislabelled nested records once, swapping areaCode and
    areaType (UKHSA-Internal/coronavirus-dashboard-api-v2-server issue #9): a code is recognised by its shape."""
    code, kind = record.get("areaCode"), record.get("areaType")
    if code is not None and not AREA_CODE.match(str(code)) and kind is not None and AREA_CODE.match(str(kind)):
        code, kind = kind, code
    return code, record.get("areaName"), kind


def _held_instead(rows: AreaRows) -> str:
    """What a file without the area wanted holds instead, for its error: `; it holds 7,788 rows of other areas
    (overview)`."""
    held = [f"{count:,} {kind}" for kind, count in rows.skipped.items() if count]
    if rows.left_out:
        held.append(f"{len(rows.left_out):,} with no area code")
    return f"; it holds {', '.join(held)}" if held else ""


def nested_metric(
    content: bytes, file: str, metric: str, fields: Mapping[str, str], area: tuple[str, str, str],
    headers: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One area's rows of a nested metric (cases by age, admissions by age, ...), from any shape the PHE API gave
    it: v2 CSV exploded one row per band (`...,date,age,<fields>`, columns in any order, an extra `metric`
    column), or JSON (v2 `body` / v1 `data`) with a list per record. `fields` maps each nested field to its kind
    ("int" or "float"); `area` is (code, name, type): records are kept by code, or by name and type where the
    release gives no code (v1 JSON). `headers` maps other names a CSV's header gave the fields to theirs. Returns
    date, age (normalised) and the fields."""
    code, name, kind = area
    others = AreaRows({code}, None)
    if content.lstrip()[:1] in (b"{", b"["):
        rows = []
        for record in json_records(content, file):
            record_code, record_name, record_kind = _area_of(record)
            if record_code != code and not (record_code is None and record_name == name
                                            and record_kind in (None, kind)):
                other = f"records of other areas ({record_kind or 'no area type'})"
                others.skipped[other] = others.skipped.get(other, 0) + 1
                continue
            if "date" not in record or not isinstance(record.get(metric), list):
                raise ParseError(file, f"a record lacks 'date' or a '{metric}' list: {str(record)[:120]}")
            if not all(isinstance(band, dict) for band in record[metric]):
                raise ParseError(file, f"a record's '{metric}' list holds items that are not objects with named "
                                       f"fields: {str(record)[:120]}")
            for band in record[metric]:
                rows.append({"date": record["date"], "age": str(band.get("age", "")),
                             **{f: band.get(f) for f in fields}})
        frame = pd.DataFrame(rows, columns=["date", "age", *fields])
        if frame.empty:
            raise ParseError(file, f"has no {metric} records for {name} ({code}){_held_instead(others)}")
        frame["date"] = to_date(frame, "date", file)
        for field, field_kind in fields.items():
            frame[field] = to_int(frame, field, file) if field_kind == "int" else to_float(frame, field, file)
    else:
        named = headers or {}
        # areaType only names the kind of the rows of other areas, in the notes and errors.
        frame = read_csv_typed(content, file, {"areaCode": "text", "areaType": "text", "date": "date_iso",
                                               "age": "text", **fields},
                               header_key=lambda name: named.get(name.strip(), name.strip()), keep_rows=others,
                               optional={"areaType"})
        if frame.empty:
            raise ParseError(file, f"has no rows for {name} ({code}){_held_instead(others)}")
        frame = frame.drop(columns=["areaCode", "areaType"])
    frame["age"] = frame["age"].fillna("").map(normalise_age_band)
    frame = frame.reset_index(drop=True)
    note_left_out(frame, file, others.left_out, others.skipped)
    return frame
