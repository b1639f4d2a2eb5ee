"""London: cumulative COVID-19 cases by sex and five-year age band, by specimen date.

One row per date, sex (female, male) and age band (00_04 ... 90+). `cumulative_cases` is the running total the
source publishes for that band; `cumulative_rate` is per 100,000 people where the source gives it. Cases with
unknown sex are not in these series. Source: PHE coronavirus dashboard API v2 `maleCases` / `femaleCases` for
the London region (nested metrics, each requested alone as JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import pandas as pd

from assets.parsing import check_not_error_page
from assets.phe_api import phe_v2_url
from assets.source import Freshness, Presentation, RawFile, Source, SourceRequest, Status, Variant
from checks.geography import LONDON_REGION
from checks.schemas import PHE_AGE_BANDS, PheCasesByAgeSex
from resources.errors import ParseError

SEXES = ("male", "female")


def build_requests(base_url: str) -> list[SourceRequest]:
    return [
        SourceRequest(f"{sex}_cases", phe_v2_url(base_url, "region", [f"{sex}Cases"], "json", LONDON_REGION),
                      ".json", f"{sex}_cases.json")
        for sex in SEXES
    ]


def normalise_age_band(label: str) -> str:
    """'0_to_4', '0_4' and '00_04' all become '00_04'; '90+' stays. Unknown labels are returned unchanged
    (validation then names them)."""
    match = re.fullmatch(r"(\d+)_(?:to_)?(\d+)", label.strip())
    if match:
        return f"{int(match[1]):02d}_{int(match[2]):02d}"
    return label.strip()


def parse_sex_file(file: RawFile, sex: str) -> pd.DataFrame:
    check_not_error_page(file.content, file.name, "JSON")
    try:
        payload = json.loads(file.content)
    except json.JSONDecodeError as exc:
        raise ParseError(file.name, f"is not valid JSON (truncated?): {exc}") from exc
    body = payload.get("body") if isinstance(payload, dict) else None
    if not isinstance(body, list) or not body:
        raise ParseError(file.name, "has no 'body' list of records (expected the v2 JSON envelope)")
    metric = f"{sex}Cases"
    rows = []
    for record in body:
        if metric not in record or "date" not in record:
            raise ParseError(file.name, f"a record lacks 'date' or '{metric}': {str(record)[:120]}")
        for band in record[metric] or []:
            rows.append((record["date"], normalise_age_band(str(band.get("age", ""))), band.get("value"),
                         band.get("rate")))
    frame = pd.DataFrame(rows, columns=["date", "age_band", "value", "rate"])
    unknown = sorted(set(frame["age_band"]) - set(PHE_AGE_BANDS) - {"00_59", "60+", "unassigned"})
    if unknown:
        raise ParseError(file.name, f"unknown age band label(s) {unknown}")
    # 00_59 and 60+ are aggregates of the five-year bands; keeping them would double-count.
    frame = frame[frame["age_band"].isin(PHE_AGE_BANDS)]
    dates = pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        raise ParseError(file.name, f"dates not in YYYY-MM-DD: {frame['date'][dates.isna()].head(3).tolist()}")
    values = pd.to_numeric(frame["value"], errors="coerce")
    if values.isna().any() or (values % 1 != 0).any():
        raise ParseError(file.name, f"'value' is missing or not a whole number for {int(values.isna().sum())} band(s)")
    return pd.DataFrame(
        {
            "area_code": LONDON_REGION,
            "date": dates.astype("datetime64[ns]"),
            "sex": sex,
            "age_band": frame["age_band"],
            "cumulative_cases": values.astype("Int64"),
            "cumulative_rate": pd.to_numeric(frame["rate"], errors="coerce").astype("float64"),
        }
    )


def parse_cases_by_age_sex(files: Mapping[str, RawFile]) -> pd.DataFrame:
    frames = [parse_sex_file(files[f"{sex}_cases"], sex) for sex in SEXES]
    table = pd.concat(frames, ignore_index=True)
    table["area_code"] = table["area_code"].astype(str)
    table["sex"] = table["sex"].astype(str)
    table["age_band"] = table["age_band"].astype(str)
    return table.sort_values(["date", "sex", "age_band"], ignore_index=True)


SOURCE = Source(
    name="phe_cases_by_age_sex",
    presentation=Presentation(title="PHE cases by age band and sex for London", description=__doc__),
    schema=PheCasesByAgeSex,
    variants=(
        Variant(api="phe", build_requests=build_requests, parse=parse_cases_by_age_sex, sample_release="2020-05-21"),
    ),
    freshness=Freshness(expected_lag_days=7),
    # Live mode keeps the last archived PHE release (or the shipped one) and the report says so.
    status=Status.RETIRED,
    status_note="The UKHSA API does not publish cumulative cases by sex and age band.",
)
