"""typed_csv's shared pieces: rows_with (a keep_rows condition judged once per distinct value) and the reading of
repeated header lines (searched for only when a row holds the first column's name)."""

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from assets.formats.typed_csv import read_csv_typed, rows_with


@pytest.mark.parametrize("column", [
    ["a", "b", None, "a", "c"],  # several values and a null: one look-up per row
    ["a", "a", "a"],  # one value throughout: every row or none, without a look-up
    [None, None],  # all null: null is its one value
])
def test_rows_with_marks_the_rows_of_the_chosen_distinct_values(column: list[str | None]) -> None:
    table = pa.chunked_array([column[:2], column[2:]], pa.string())
    distinct = pc.unique(table)
    for chosen in ([True] * len(distinct), [False] * len(distinct), [i % 2 == 0 for i in range(len(distinct))]):
        picked = {value for value, keep in zip(distinct.to_pylist(), chosen, strict=True) if keep}
        marked = rows_with(table, distinct, pa.array(chosen)).to_pylist()
        assert marked == [value in picked for value in column]


def test_rows_with_takes_a_null_choice_as_not_chosen() -> None:
    table = pa.chunked_array([["a", "b", "a"]])
    assert rows_with(table, pa.array(["a", "b"]), pa.array([None, True])).to_pylist() == [False, True, False]
    assert rows_with(pa.chunked_array([["a"]]), pa.array(["a"]), pa.array([None], pa.bool_())).to_pylist() == [False]


def test_repeated_header_lines_are_dropped_and_a_value_like_a_header_name_is_kept() -> None:
    header = "code,name,count"
    lines = [header, "A,first,1", header, "B,second,2", "code,code,3", header + "\r", "C,third,3"]
    frame = read_csv_typed("\n".join(lines).encode(), "f.csv", {"code": "text", "name": "text", "count": "int"})
    assert frame["code"].tolist() == ["A", "B", "code", "C"]
    assert frame["count"].tolist() == [1, 2, 3, 3]
    plain = read_csv_typed(b"code,name,count\nA,code,1\n", "f.csv", {"code": "text", "name": "text", "count": "int"})
    pd.testing.assert_series_equal(plain["name"], pd.Series(["code"], name="name", dtype=plain["name"].dtype))
