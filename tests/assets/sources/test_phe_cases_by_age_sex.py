from __future__ import annotations

import json

import pandas as pd
import pytest

from assets.formats.phe_api import normalise_age_band
from assets.ingest.source import RawFile
from assets.sources.phe_cases_by_age_sex import SOURCE, parse_cases_by_age_sex
from checks.schemas import PHE_AGE_BANDS
from checks.validation import validate_table
from resources.errors import ParseError
from tests.samples import sample_files, sample_json


def test_totals_per_sex_match_the_sample_json() -> None:
    table = parse_cases_by_age_sex(sample_files(SOURCE))
    for sex in ("male", "female"):
        body = sample_json("phe_cases_by_age_sex", f"{sex}_cases.json")["body"]
        latest = max(body, key=lambda r: r["date"])
        expected = sum(band["value"] for band in latest[f"{sex}Cases"])
        got = table[(table.sex == sex) & (table.date == pd.Timestamp(latest["date"]))]["cumulative_cases"].sum()
        assert got == expected
    assert set(table["age_band"]) == set(PHE_AGE_BANDS)
    assert validate_table(table, SOURCE.schema).passed


@pytest.mark.parametrize(
    ("label", "band"), [("0_to_4", "00_04"), ("5_to_9", "05_09"), ("00_04", "00_04"), ("0_4", "00_04"),
                        ("90+", "90+"), ("85_to_89", "85_89")]
)
def test_age_labels_from_every_release_normalise(label: str, band: str) -> None:
    assert normalise_age_band(label) == band


def test_truncated_json_is_a_clear_error() -> None:
    files = sample_files(SOURCE)
    whole = files["male_cases"].content
    files["male_cases"] = RawFile("male_cases.json", whole[: len(whole) // 2])
    with pytest.raises(ParseError, match=r"male_cases\.json: is not valid JSON \(truncated\?\)"):
        parse_cases_by_age_sex(files)


def test_records_that_are_not_objects_are_a_clear_error() -> None:
    """The same release with each record (or each age band of a record) written as a bare list of its values: the
    error names the file and what is wrong, not a Python AttributeError."""
    files = sample_files(SOURCE)
    payload = sample_json("phe_cases_by_age_sex", "male_cases.json")
    as_lists = {**payload, "body": [list(record.values()) for record in payload["body"]]}
    files["male_cases"] = RawFile("male_cases.json", json.dumps(as_lists).encode())
    with pytest.raises(ParseError, match=rf"male_cases\.json: has {len(payload['body']):,} records that are not "
                                         r"objects with named fields"):
        parse_cases_by_age_sex(files)
    bands_as_lists = {**payload, "body": [{**record, "maleCases": [list(band.values()) for band in record["maleCases"]]}
                                          for record in payload["body"]]}
    files["male_cases"] = RawFile("male_cases.json", json.dumps(bands_as_lists).encode())
    with pytest.raises(ParseError, match=r"male_cases\.json: a record's 'maleCases' list holds items that are not "
                                         r"objects"):
        parse_cases_by_age_sex(files)
