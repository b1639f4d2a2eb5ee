"""`make parse SOURCE=<name> FILE=<path or URL>`: read one real file through a source's parser and say what came out.

What an analyst runs when a publisher changes a format: it touches no stored table, archive or Dagster instance.
It prints the clean table's rows, date range, London's latest values, the parser's notes and the validation result.
Every failure is one line on stderr naming the file (and, where the parser knows them, the column or sheet and the
line) with exit code 1: a file that cannot be read, a table that fails validation (the summary is printed first),
a whole release without figures for an area the source must cover, or an unexpected error (its type and message;
VERBOSE=1 or --verbose adds the traceback).

FILE is one path or URL, or several separated by spaces, each optionally `name=` the request it stands for (a
source that reads several files, e.g. `pathways=a.csv online=b.csv` for nhs_111; the names are those of the
source's requests, which an unknown name lists). Without names, files take the source's request names in order; for
a source that finds its files by following links from a page (nhs_111), the names of the files the shipped release's
page links to (`pathways`, then `online`). A name with spaces is quoted as a shell would quote it, unless FILE is
that one existing file.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import traceback
from pathlib import Path

import pandas as pd

from assets.formats.ukhsa_api import as_not_given
from assets.ingest.clean import areas_lacking
from assets.ingest.source import RawFile, Source, Variant
from assets.sources import SOURCES
from checks.validation import ValidationOutcome, validate_table
from pipelines.commands import exit_with
from resources import settings
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


def names_in_order(source: Source, variant: Variant) -> list[str]:
    """The names a release's files take, in the order files given without a name take them: the source's requests,
    or, where its files are found by following links from a page (NHS 111), the names of the files the shipped
    release's page links to (the parser reads those, not the page)."""
    names = request_names(variant)
    if variant.follow_links is None or variant is not source.sample:
        return names
    return [request.name for request, _ in source.sample_walk() if request.name not in names]


def named(item: str) -> tuple[str, str]:
    """(the request name given as `name=`, or "", the path or URL)."""
    name, _, location = item.partition("=") if "=" in item.split("/")[0] else ("", "", item)
    return name, location


def split_files(text: str) -> list[str]:
    """FILE's names, split as a shell would split them; the whole of FILE where it is one existing file (a path
    with spaces given unquoted, as NHS Digital named its files), so that it is not read as several."""
    whole = text.strip()
    if whole and Path(named(whole)[1]).expanduser().is_file():
        return [whole]
    return shlex.split(text)


def order_hint(items: list[str], order: list[str]) -> str:
    """For a source of several files, what the files given without a name were read as, to end an error with."""
    guessed = [f"{Path(location).name} as {name}"
               for name, (given, location) in zip(order, map(named, items), strict=False) if not given]
    if len(order) < 2 or not guessed:
        return ""
    return (f" (files given without a name are read as {', '.join(order)} in that order, so {', '.join(guessed)}; "
            f"name them if that is wrong, e.g. {order[-1]}=<file>)")


def assign(files: list[str], variant: Variant, names: list[str]) -> dict[str, RawFile]:
    """Each file given by the request name it stands for: `name=` where given, else `names` (names_in_order) in
    order."""
    known = list(dict.fromkeys([*request_names(variant), *names]))
    assigned: dict[str, RawFile] = {}
    for position, item in enumerate(files):
        name, location = named(item)
        if name and name not in known:
            raise SystemExit(f"{name!r} is not one of this source's requests: {', '.join(known)}")
        if not name:
            if position >= len(names):
                raise SystemExit(f"more files than the source's requests ({', '.join(names)}): name them, e.g. "
                                 f"{names[0]}=<file>")
            name = names[position]
        assigned[name] = read(location)
    return assigned


def london_latest(table: pd.DataFrame, date_column: str) -> tuple[str, pd.DataFrame]:
    """The heading and rows `make parse` shows as the latest: London's rows on the table's latest date, or every row
    of that date, said so, where the table has no London row (an early ONS workbook has England only)."""
    heading = "latest values for London:"
    if "area_code" in table:
        london = table[table["area_code"].isin(LONDON) | table["area_code"].astype(str).str.startswith("E09")]
        if len(london):
            table = london
        else:
            heading = "latest values (the table has no row for London):"
    return heading, table[table[date_column] == table[date_column].max()]


def _day(value: object) -> str:
    """A date as YYYY-MM-DD; a table whose dates are all missing shows `?` (validation then names them)."""
    return "?" if pd.isna(value) else f"{value:%Y-%m-%d}"


def summary(source: Source, table: pd.DataFrame, outcome: ValidationOutcome, lacking: list[str], whole: bool) -> str:
    """What `make parse` prints about a table: rows, date range, notes, the validation result, the areas it must
    cover that it has no figures for (`lacking`; `whole`: read from every file of a release, not some alone),
    London's latest."""
    column = source.presentation.date_column
    lines = [
        f"{source.name}: {len(table):,} rows, {_day(table[column].min())} .. {_day(table[column].max())}",
        # Files are given here, not fetched: a series with no page was not given, which the pipeline would call a 404.
        *(f"note: {as_not_given(note)}" for note in table.attrs.get("notes", [])),
        f"validation ({source.schema.__name__}): " + ("passed" if outcome.passed else f"FAILED: {outcome.summary()}"),
    ]
    if lacking:
        lines.append(f"areas: no figures for {', '.join(lacking)}: the pipeline stores a release only with figures for "
                     f"each{'' if whole else ' (read alone, one file of several may lack some)'}")
    heading, latest = london_latest(table, column)
    lines += [heading, latest.head(SHOWN_ROWS).to_string(index=False)]
    return "\n".join(lines)


# The columns that say which row of a clean table a validation failure is about (those the table has).
ROW_KEYS = ("area_code", "area_name", "ccg_code", "site_type", "sex", "age_band", "age")


def first_failing_row(source: Source, table: pd.DataFrame, outcome: ValidationOutcome) -> str:
    """`; first at date 2031-01-01, area_code E09000007`: the clean table's first failing row, by the values that
    find it in the file (validation sees the clean table, not the file's lines)."""
    rows = pd.to_numeric(outcome.failures.get("row", pd.Series(dtype=object)), errors="coerce").dropna()
    if rows.empty or rows.iloc[0] not in table.index:
        return ""
    row = table.loc[rows.iloc[0]]
    keys = [source.presentation.date_column, *(key for key in ROW_KEYS if key in table.columns)]
    return "; first at " + ", ".join(f"{key} {_day(row[key]) if key == keys[0] else row[key]}" for key in keys)


def one_line(message: str) -> str:
    """A message as one line: a multi-line one (pandas and pandera write some) is joined, not cut."""
    return " | ".join(part.strip() for part in str(message).splitlines() if part.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", choices=list(SOURCES), help="the source whose parser reads the file")
    parser.add_argument("files", help="path(s) or URL(s), space-separated, each optionally name=...")
    parser.add_argument("--api", help="the format the file is in (an upstream name: phe, ukhsa, ons, nhs111); "
                                      "default: the format of the source's shipped sample")
    parser.add_argument("--verbose", action="store_true", default=settings.verbose(),
                        help="show the traceback of an unexpected error (also VERBOSE=1)")
    args = parser.parse_args(argv)
    source = SOURCES[args.source]
    try:
        variant = source.variant(args.api) if args.api else source.sample
    except KeyError as error:
        parser.error(f"{error.args[0]} (it reads {', '.join(v.api for v in source.variants)})")
    try:
        names = split_files(args.files)
    except ValueError as error:  # an unmatched quote: say so, as the shell would
        parser.error(f"the file list {args.files!r} cannot be split into names: {error} (quote a name with "
                     "spaces or quotes in it as a shell would, or escape them)")
    if not names:
        parser.error("name at least one file: make parse SOURCE=<source> FILE=<path or URL>")
    order = names_in_order(source, variant)  # walks the shipped release for a source that follows links: once
    try:
        files = assign(names, variant, order)
        whole = set(files) >= set(order)  # every file of a release, not some read alone
        if whole and variant.check_release is not None:
            variant.check_release(files)
        table = variant.parse(files)
        outcome = validate_table(table, source.schema)
        lacking = areas_lacking(source, table)
        print(summary(source, table, outcome, lacking, whole))
        file_names = ", ".join(file.name for file in files.values())
        if not outcome.passed:
            print(one_line(f"{source.name}: {file_names} failed validation ({source.schema.__name__}): "
                           f"{outcome.summary()}{first_failing_row(source, table, outcome)}"), file=sys.stderr)
            return 1
        if lacking and whole:
            print(one_line(f"{source.name}: {file_names}: no figures for {', '.join(lacking)}: the pipeline would not "
                           "store this release"), file=sys.stderr)
            return 1
    except ParseError as error:
        hint = order_hint(names, order)
        print(one_line(f"{source.name} could not read it: {error}{hint}"), file=sys.stderr)
        return 1
    except (FetchError, OSError) as error:
        # A name with spaces, unquoted and not found whole, was split at them: say so, not only that a piece of it
        # ("no") is missing. Not where a piece is found: those were meant as several names.
        split = (isinstance(error, FileNotFoundError) and len(names) > 1 and not set("'\"") & set(args.files)
                 and not any(Path(named(name)[1]).expanduser().exists() for name in names))
        hint = (f" (FILE is split at its spaces into {len(names)} names; quote a name with spaces in it, e.g. "
                f"FILE='\"{args.files.strip()}\"')" if split else "")
        print(one_line(f"{source.name} could not read it: {error}{hint}"), file=sys.stderr)
        return 1
    except Exception as error:  # a parser's bug or a file it never met: one line, the traceback on request
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        hint = "" if args.verbose else " (VERBOSE=1 shows the traceback)"
        print(one_line(f"{source.name} could not read {args.files}: unexpected {type(error).__name__}: {error}"
                       f"{hint}"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    exit_with(main)
