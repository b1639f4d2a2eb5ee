"""`make parse SOURCE=<name> FILE=<path or URL>`: read one real file through a source's parser and say what came out.

What an analyst runs when a publisher changes a format: it touches no stored table, archive or Dagster instance.
It prints the clean table's rows, date range, London's latest values, the parser's notes and the validation result,
or the error that names the file and the problem (exit code 1).

FILE is one path or URL, or several separated by spaces, each optionally `name=` the request it stands for (a
source that reads several files, e.g. `pathways=a.csv online=b.csv` for nhs_111; the names are those of the
source's requests, which an unknown name lists). Without names, files take the source's request names in order.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd

from assets.ingest.source import RawFile, Source, Variant
from assets.sources import SOURCES
from checks.validation import validate_table
from resources.errors import FetchError, ParseError
from resources.http import HttpClient

LONDON = ("E12000007", "E40000003")
SHOWN_ROWS = 40


def read(location: str) -> RawFile:
    """The bytes of a local file or a URL (through the pipeline's HTTP client: timeouts, retries)."""
    if location.startswith(("http://", "https://")):
        http = HttpClient()
        with http.session() as session:
            result = http.get(session, "make parse", location)
        return RawFile(location.rsplit("/", 1)[-1].split("?")[0] or "download", result.content)
    path = Path(location).expanduser()
    return RawFile(path.name, path.read_bytes())


def request_names(variant: Variant) -> list[str]:
    return [request.name for request in variant.build_requests("https://example.invalid/")]


def assign(files: list[str], variant: Variant) -> dict[str, RawFile]:
    names = request_names(variant)
    assigned: dict[str, RawFile] = {}
    for position, item in enumerate(files):
        name, _, location = item.partition("=") if "=" in item.split("/")[0] else ("", "", item)
        # A source that finds its files by following links (NHS 111's page) reads names the page gives them.
        if name and name not in names and variant.follow_links is None:
            raise SystemExit(f"{name!r} is not one of this source's requests: {', '.join(names)}")
        if not name:
            if position >= len(names):
                raise SystemExit(f"more files than the source's requests ({', '.join(names)}): name them, e.g. "
                                 f"{names[0]}=<file>")
            name = names[position]
        assigned[name] = read(location)
    return assigned


def london_latest(table: pd.DataFrame, date_column: str) -> pd.DataFrame:
    """London's rows on the table's latest date (every row of that date if the table has no London code)."""
    if "area_code" in table:
        london = table[table["area_code"].isin(LONDON) | table["area_code"].astype(str).str.startswith("E09")]
        table = london if len(london) else table
    return table[table[date_column] == table[date_column].max()]


def summary(source: Source, table: pd.DataFrame) -> str:
    column = source.presentation.date_column
    outcome = validate_table(table, source.schema)
    lines = [
        f"{source.name}: {len(table):,} rows, {table[column].min():%Y-%m-%d} .. {table[column].max():%Y-%m-%d}",
        *(f"note: {note}" for note in table.attrs.get("notes", [])),
        f"validation ({source.schema.__name__}): " + ("passed" if outcome.passed else f"FAILED: {outcome.summary()}"),
        "latest values for London:",
        london_latest(table, column).head(SHOWN_ROWS).to_string(index=False),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", choices=list(SOURCES), help="the source whose parser reads the file")
    parser.add_argument("files", help="path(s) or URL(s), space-separated, each optionally name=...")
    parser.add_argument("--api", help="the format the file is in (an upstream name: phe, ukhsa, ons, nhs111); "
                                      "default: the format of the source's shipped sample")
    args = parser.parse_args(argv)
    source = SOURCES[args.source]
    try:
        variant = source.variant(args.api) if args.api else source.sample
    except KeyError as error:
        parser.error(f"{error.args[0]} (it reads {', '.join(v.api for v in source.variants)})")
    try:
        files = assign(shlex.split(args.files), variant)
        table = variant.parse(files)
    except (ParseError, FetchError, OSError) as error:
        print(f"{source.name} could not read it: {error}", file=sys.stderr)
        return 1
    print(summary(source, table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
