"""The PHE coronavirus dashboard API v2 (retired; its recorded releases are the offline default).

`GET {PHE_API_URL}?areaType=...&areaCode=...&metric=...&format=csv` answers with the CSV columns
`areaCode,areaName,areaType,date,<metric>...` (nested metrics such as maleCases must be requested alone, as JSON).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from urllib.parse import urlencode

import pandas as pd

from assets.parsing import read_csv_typed


def phe_v2_url(base_url: str, area_type: str, metrics: Sequence[str], fmt: str, area_code: str | None = None) -> str:
    params: list[tuple[str, str]] = [("areaType", area_type)]
    if area_code:
        params.append(("areaCode", area_code))
    params += [("metric", m) for m in metrics]
    params.append(("format", fmt))
    return f"{base_url}?{urlencode(params)}"


def parse_v2_csv(
    content: bytes, file: str, metrics: dict[str, str], areas: Collection[str] | None = None
) -> pd.DataFrame:
    """A v2 CSV as a typed frame: area_code, area_name, date, each metric (renamed via `metrics`) as Int64, and
    `provisional`, empty: the PHE API did not flag days inside the reporting delay. `areas` keeps only those
    area codes (read before the other columns are typed, so a file of all England costs little more than
    London's share of it)."""
    raw = read_csv_typed(
        content, file, {"areaCode": "text", "areaName": "text", "date": "date_iso", **dict.fromkeys(metrics, "int")},
        keep_rows=("areaCode", areas) if areas is not None else None,
    )
    frame = raw.rename(columns={"areaCode": "area_code", "areaName": "area_name", **metrics})
    frame = frame[["area_code", "area_name", "date", *metrics.values()]]
    frame["provisional"] = pd.array([pd.NA] * len(frame), dtype="boolean")
    return frame.reset_index(drop=True)


CASES_METRICS = {"newCasesBySpecimenDate": "new_cases", "cumCasesBySpecimenDate": "cumulative_cases"}
