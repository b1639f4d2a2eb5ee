"""Published files read back as their users read them, for "what changed" between versions: the GLA's own published
copies (data/reference/gla_published/: R's quoted, CRLF write.csv and readr's NA), read again with the csv module."""

from __future__ import annotations

import csv
import io

import pytest

from checks.published import GLA_FILES, PUBLISHED, read_back
from tests.publishing import gla_published


@pytest.mark.parametrize("name", GLA_FILES)
def test_each_cell_reads_back_as_written_in_the_gla_s_own_files(name: str) -> None:
    content = gla_published(PUBLISHED[name].file_name)
    header, *rows = csv.reader(io.StringIO(content.decode("utf-8"), newline=""))
    frame = read_back(content)
    assert list(frame.columns) == header
    assert frame.to_numpy().tolist() == rows  # "NA" stays "NA", empty cells stay empty, no number retyped
    assert len(rows) > 100


def test_a_revised_value_is_the_only_difference_found() -> None:
    from reports.analysis import compare_published

    content = gla_published(PUBLISHED[GLA_FILES[0]].file_name)
    lines = content.decode("utf-8").splitlines(keepends=True)
    header, *rows = csv.reader(io.StringIO(content.decode("utf-8"), newline=""))
    value = header.index(PUBLISHED[GLA_FILES[0]].main_value)
    row = next(i for i, cells in enumerate(rows) if cells[value].isdigit())
    cells = rows[row]
    cells[value] = str(int(cells[value]) + 7)
    lines[row + 1] = ",".join(cells) + "\n"
    [change] = compare_published({GLA_FILES[0]: content}, {GLA_FILES[0]: "".join(lines).encode("utf-8")})
    assert (change.added, change.removed, change.revised) == (0, 0, 1)
    assert change.largest.iloc[0]["change"] == 7
