"""Run a pandera model and turn its failures into something an analyst can act on."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

FIRST_FAILURES_SHOWN = 10
# Rows of a publisher's file that look like data but were not read (a parser's `attrs["left_out"]`): a few are
# named in the notes and the table is kept; more than this means the parser no longer understands the file, and the
# table fails validation with the list, so nothing is stored or published short of those rows.
LEFT_OUT_ALLOWED = 5


@dataclass(frozen=True)
class ValidationOutcome:
    passed: bool
    failure_count: int
    failures: pd.DataFrame  # column, check, failure_case, row

    def summary(self, limit: int = 5) -> str:
        """One line per failed check, e.g. "new_cases: greater_than_or_equal_to(0) failed for 2 rows (-5, -1)"."""
        lines = []
        grouped = self.failures.groupby(["column", "check"], sort=False, dropna=False)
        for (column, check), cases in list(grouped)[:limit]:
            examples = ", ".join(str(v) for v in cases["failure_case"].head(3))
            where = "table" if pd.isna(column) or column is None else f"column {column!r}"
            lines.append(f"{where}: {check} failed for {len(cases)} row(s) (e.g. {examples})")
        return "; ".join(lines)

    def markdown(self) -> str:
        if self.failures.empty:
            return "No failures."
        return self.failures.head(FIRST_FAILURES_SHOWN).to_markdown(index=False)


def validate_table(frame: pd.DataFrame, schema: type[pa.DataFrameModel]) -> ValidationOutcome:
    left_out = _left_out(frame)
    try:
        schema.validate(frame, lazy=True)
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
