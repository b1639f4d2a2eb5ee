"""Run a pandera model and turn its failures into something an analyst can act on."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

FIRST_FAILURES_SHOWN = 10
# Rows of a publisher's file that look like data but were not read (a parser's `attrs["left_out"]`): a few are
# named in the notes and the table is kept; more than this means the parser no longer understands the file, and the
# table fails validation with the list, so nothing is stored or published short of those rows.
LEFT_OUT_ALLOWED = 5


def without_attrs(frame: pd.DataFrame) -> pd.DataFrame:
    """The same rows and columns (no copy of the data) without `attrs`. pandas deep-copies a frame's attrs into the
    result of every operation; where many operations run and the notes, raw files and origins are not needed
    (validation, building tables, the report's analysis and charts) that copying took as long as the work."""
    bare = frame.copy(deep=False)
    bare.attrs = {}
    return bare


@dataclass(frozen=True)
class ValidationOutcome:
    passed: bool
    failure_count: int
    failures: pd.DataFrame  # column, check, failure_case, row

    def summary(self, limit: int = 5) -> str:
        """One line per failed check, in words: "column 'new_cases': 2 rows below 0 (e.g. -5, -1)"."""
        lines = []
        grouped = self.failures.groupby(["column", "check"], sort=False, dropna=False)
        for (column, check), cases in list(grouped)[:limit]:
            examples = ", ".join(str(v) for v in cases["failure_case"].head(3))
            where = "table" if pd.isna(column) or column is None else f"column {column!r}"
            rows = f"{len(cases)} row" if len(cases) == 1 else f"{len(cases)} rows"
            lines.append(f"{where}: {failed_check_in_words(str(check), rows)} (e.g. {examples})")
        return "; ".join(lines)

    def markdown(self) -> str:
        if self.failures.empty:
            return "No failures."
        return self.failures.head(FIRST_FAILURES_SHOWN).to_markdown(index=False)


# pandera's names for its built-in checks, as what the failing rows are: the report, `make parse` and every refusal
# show them to analysts, who should not have to know pandera.
BUILT_IN_CHECKS: tuple[tuple[str, str], ...] = (
    (r"greater_than_or_equal_to\((.*)\)", "{rows} below {0}"),
    (r"greater_than\((.*)\)", "{rows} not above {0}"),
    (r"less_than_or_equal_to\((.*)\)", "{rows} above {0}"),
    (r"less_than\((.*)\)", "{rows} not below {0}"),
    (r"in_range\((.*), (.*)\)", "{rows} outside {0} to {1}"),
    (r"str_matches\('(.*)'\)", "{rows} not in the expected form ({0})"),
    (r"isin\((.*)\)", "{rows} not one of the expected values"),
    (r"not_nullable", "{rows} empty"),
    (r"field_uniqueness", "{rows} with a duplicate value"),
    (r"multiple_fields_uniqueness", "{rows} that are duplicates (same values in the columns that identify a row)"),
    (r"(?:coerce_)?dtype\('(.*)'\)", "{rows} not of the expected type ({0})"),
    (r"column_in_dataframe", "a column is missing"),
    (r"column_in_schema", "a column that is not expected"),
)


def failed_check_in_words(check: str, rows: str) -> str:
    """`greater_than_or_equal_to(0)` for 2 rows -> "2 rows below 0"; the project's own checks are named in words
    already ("credible interval not ordered ..."), and keep their name."""
    for pattern, words in BUILT_IN_CHECKS:
        found = re.fullmatch(pattern, check)
        if found:
            return words.format(*found.groups(), rows=rows)
    return f"{check} failed for {rows}"


def validate_table(frame: pd.DataFrame, schema: type[pa.DataFrameModel]) -> ValidationOutcome:
    left_out = _left_out(frame)
    try:
        schema.validate(without_attrs(frame), lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases.rename(columns={"index": "row"})
        # A failed table-wide check (interval order, uniqueness) is reported by pandera once per column of
        # each failing row; count it once per row and show the row instead.
        table_wide = (cases["schema_context"] == "DataFrameSchema") & cases["row"].notna()
        rows = cases[table_wide].drop_duplicates(subset=["check", "row"]).assign(
            column=None, failure_case=lambda f: "row " + f["row"].astype("Int64").astype(str)
        )
        cases = pd.concat([cases[~table_wide], rows], ignore_index=True)
        keep = [c for c in ("column", "check", "failure_case", "row") if c in cases.columns]
        failures = pd.concat([cases[keep].astype({"failure_case": str}), left_out], ignore_index=True)
        return ValidationOutcome(False, len(failures), failures)
    if len(left_out):
        return ValidationOutcome(False, len(left_out), left_out)
    return ValidationOutcome(True, 0, pd.DataFrame(columns=["column", "check", "failure_case", "row"]))


def _left_out(frame: pd.DataFrame) -> pd.DataFrame:
    """A failure per row left out unread, when there are more than LEFT_OUT_ALLOWED of them."""
    rows = frame.attrs.get("left_out") or []
    count = frame.attrs.get("left_out_count", len(rows))
    if count <= LEFT_OUT_ALLOWED:
        return pd.DataFrame(columns=["column", "check", "failure_case", "row"])
    check = f"{count:,} rows that look like data left out unread (more than {LEFT_OUT_ALLOWED})"
    return pd.DataFrame({"column": None, "check": check,
                         "failure_case": [f"{r['file']} {r['where']} {r['label']!r}: {r['why']}" for r in rows],
                         "row": None})
