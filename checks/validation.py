"""Run a pandera model and turn its failures into something an analyst can act on."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

FIRST_FAILURES_SHOWN = 10


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
        failures = cases[keep].astype({"failure_case": str}).reset_index(drop=True)
        return ValidationOutcome(False, len(failures), failures)
    return ValidationOutcome(True, 0, pd.DataFrame(columns=["column", "check", "failure_case", "row"]))
