"""NHS 111/999/online: potential COVID-19 triages (111 and 999 calls through NHS Pathways) and completed 111
online assessments, for London's clinical commissioning groups, by day, site type, sex and age band.

One row per date, `site_type` (111, 999, online), sex, age band and CCG. `count` is the number of triages or
assessments with a potential COVID-19 outcome; these are not confirmed cases. `ccg_code` and `ccg_name` are the CCG
as the release published it (the first release used the 2019 CCGs); `merged_ccg_code` and `merged_ccg_name` are
the April 2021 London CCG it belongs to, so every release adds up the same way. London means NHS region London in
the ONS CCG lookups of April 2020 and April 2021 (data/lookups/), by ONS (E38) or NHS ODS code; a release that maps
its CCGs to the April 2020 ones (`April20 mapped CCGCode`) is judged by that mapping. Rows that are not London (other
regions, Wales, Scotland, `NULL` codes) are left out and counted in the metadata's notes, as are blank age bands
(kept as `unknown`). Most of London's 999 calls are not here: the London Ambulance Service does not triage with NHS
Pathways. Source: NHS Digital's open-data CSVs, found by their link titles on the "MI Potential COVID-19 symptoms
reported through NHS Pathways and 111 online" publication page; the series has ended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from urllib.parse import quote, urljoin

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from assets.formats.reading import add_note, concat_noted
from assets.formats.typed_csv import read_csv_typed, rows_with
from assets.ingest.source import Freshness, Presentation, RawFile, Source, SourceRequest, Status, Variant
from checks.lookups import ccg_lookup, english_ccg_codes, london_ccg_codes
from checks.schemas import Nhs111Triages
from resources.errors import ParseError

# The publisher's own link titles; the online one really is spelt "COIVD".
LINK_TITLES = {
    "pathways": "nhs pathways potential covid-19 open data",
    "online": "111 online potential coivd-19 open data",
}
# The first release's file names: the shipped sample is a cut of them (data/PROVENANCE.md).
SAMPLE_FILES = {"pathways": "NHS Pathways Covid-19 data CCG mapped.csv",
                "online": "111 Online Covid-19 data_CCG mapped.csv"}
# Header keys (spaces removed, lower case) -> our column. "Gender" in the first release, "Sex" later.
PATHWAYS_COLUMNS = {"sitetype": "site_type", "calldate": "date", "sex": "sex", "ageband": "age_band",
                    "ccgcode": "ccg_code", "ccgname": "ccg_name", "triagecount": "count"}
ONLINE_COLUMNS = {"journeydate": "date", "sex": "sex", "ageband": "age_band", "ccgcode": "ccg_code",
                  "ccgname": "ccg_name", "total": "count"}
# The first release put the April 2020 CCG beside each 2019 CCG ("April20 mapped CCGName" once lost its space).
MAPPED = {"april20mappedccgcode": "mapped_code", "april20mappedccgname": "mapped_name"}
HEADER_ALIASES = {"gender": "sex"}
KINDS = {"calldate": "date_dmy", "journeydate": "date_dmy", "triagecount": "int", "total": "int"}


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (href, title or text)
        self._href: str | None = None
        self._title = ""
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            values = dict(attrs)
            self._href, self._title, self._text = values.get("href"), values.get("title") or "", []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, f"{self._title} {' '.join(self._text)}"))
            self._href = None


def find_data_links(page: bytes, page_url: str) -> dict[str, str]:
    """The two CSV URLs on the publication page, matched by link title (or link text), case and spacing ignored."""
    collector = _LinkCollector()
    collector.feed(page.decode("utf-8", "replace"))
    found: dict[str, str] = {}
    for href, label in collector.links:
        label = " ".join(label.split()).lower().replace("covid", "coivd")
        for name, title in LINK_TITLES.items():
            if name not in found and title.replace("covid", "coivd") in label:
                found[name] = urljoin(page_url, href)
    return found


def build_requests(base_url: str) -> list[SourceRequest]:
    return [SourceRequest("page", base_url, ".html", "page.html")]


def follow_links(request: SourceRequest, content: bytes, url: str) -> Sequence[SourceRequest]:
    if request.name != "page":
        return []
    links = find_data_links(content, url)
    missing = [LINK_TITLES[name] for name in LINK_TITLES if name not in links]
    if missing:
        raise ParseError(url, f"the publication page has no link titled {' or '.join(map(repr, missing))}"
                              " (has the page changed?)")
    return [SourceRequest(name, links[name], ".csv") for name in LINK_TITLES]


def sample_routes(base_url: str) -> dict[str, str]:
    return {urljoin(base_url, quote(file)): file for file in SAMPLE_FILES.values()}


def _header_key(name: str) -> str:
    # Header case and spacing vary between releases ("Call Date", "CCGCode", "ccgcode"); compare them normalised.
    key = "".join(name.split()).lower()
    return HEADER_ALIASES.get(key, key)


class LondonRows:
    """Marks the rows of London's CCGs in a release (by the April 2020 mapping where the release has one) and
    counts the others by why they were left out."""

    def __init__(self) -> None:
        self.left_out: Counter[str] = Counter()
        self.unknown_codes: Counter[str] = Counter()

    def __call__(self, table: pa.Table) -> pa.ChunkedArray:
        code = table["ccgcode"]
        if "april20mappedccgcode" in table.column_names:
            mapped = pc.utf8_trim_whitespace(table["april20mappedccgcode"])
            code = pc.if_else(pc.greater(pc.utf8_length(pc.fill_null(mapped, "")), 0), mapped,
                              pc.utf8_trim_whitespace(code))
        # Each distinct code (a few hundred in a national file's millions of rows) is judged once, with its count.
        counted = pc.value_counts(code)
        values, counts = counted.field("values"), counted.field("counts")
        codes = pc.utf8_trim_whitespace(values)
        london = pc.fill_null(pc.is_in(codes, value_set=pa.array(sorted(london_ccg_codes()))), False)
        rest, rest_counts = pc.filter(codes, pc.invert(london)), pc.filter(counts, pc.invert(london))
        blank = pc.fill_null(pc.equal(pc.utf8_length(pc.fill_null(rest, "")), 0), True)
        named_null = pc.equal(pc.fill_null(rest, ""), "NULL")
        # English: a CCG code in the lookups (ONS or ODS, e.g. W2U3Z is London's), or an ONS CCG code (E38...).
        known = pc.fill_null(pc.is_in(rest, value_set=pa.array(sorted(english_ccg_codes()))), False)
        english = pc.or_(known, pc.starts_with(pc.fill_null(rest, ""), "E38"))

        def rows(mask: pa.Array) -> int:
            return pc.sum(pc.filter(rest_counts, mask)).as_py() or 0

        self.left_out.update({
            "blank": rows(blank),
            "NULL": rows(named_null),
            "outside England": rows(pc.and_(pc.invert(blank), pc.invert(pc.or_(english, named_null)))),
            "other English": rows(pc.and_(english, known)),
        })
        unknown = pc.and_(english, pc.invert(known))
        for value, count in zip(pc.filter(rest, unknown).to_pylist(), pc.filter(rest_counts, unknown).to_pylist(),
                                strict=True):
            self.unknown_codes[value] += count
        return rows_with(code, values, london)

    def notes(self, file: str, rows: int) -> list[str]:
        """What the analyst should know about the rows left out of `file` (`rows` kept)."""
        parts = [f"{n:,} {reason}" for reason, n in (
            ("of other English CCGs", self.left_out["other English"]),
            ("from outside England (Welsh, Scottish and other codes)", self.left_out["outside England"]),
            ("with the code NULL", self.left_out["NULL"]),
            ("with no code (empty rows)", self.left_out["blank"])) if n]
        notes = [f"{file}: {rows:,} London rows kept; left out " + ", ".join(parts)] if parts else []
        if self.unknown_codes:
            shown = ", ".join(code for code, _ in self.unknown_codes.most_common(5))
            notes.append(f"{file}: {sum(self.unknown_codes.values()):,} rows have English CCG codes in neither the "
                         f"April 2020 nor the April 2021 lookup ({shown}), so they could not be placed and were left "
                         "out; a release using other CCG codes needs its mapping")
        return notes


def _read(file: RawFile, columns: dict[str, str]) -> pd.DataFrame:
    london = LondonRows()
    kinds = {key: KINDS.get(key, "text") for key in [*columns, *MAPPED]}
    raw = read_csv_typed(file.content, file.name, kinds, header_key=_header_key, keep_rows=london,
                         optional=set(MAPPED))
    frame = raw.rename(columns={**columns, **MAPPED})
    for note in london.notes(file.name, len(frame)):
        add_note(frame, note)
    blank_bands = int(frame["age_band"].isna().sum())
    if blank_bands:
        add_note(frame, f"{file.name}: {blank_bands:,} London rows have no age band (kept as 'unknown')")
    frame["sex"] = frame["sex"].fillna("").str.lower().replace({"": "unknown", "not known": "unknown"})
    frame["age_band"] = frame["age_band"].fillna("unknown")
    frame["ccg_name"] = frame["ccg_name"].fillna("")
    # The CCG whose figures these are: the release's April 2020 one where it maps its CCGs, else its own.
    if frame["mapped_code"].notna().any():
        frame["mapped_code"] = frame["mapped_code"].fillna(frame["ccg_code"])
    else:
        frame["mapped_code"] = frame["ccg_code"]
    return frame


def _looked_up(codes: pd.Series, table: pd.DataFrame) -> pd.DataFrame:
    """`table`'s row for each of `codes` (missing where it has none), looked up once per distinct code: a few dozen
    in half a million rows, where Series.map would turn every row's text into a Python object to look it up."""
    positions, distinct = pd.factorize(codes)
    found = table.reindex(distinct)
    return pd.DataFrame({column: found[column].array.take(positions, allow_fill=True) for column in table},
                        index=codes.index)


def parse_nhs_111(files: Mapping[str, RawFile]) -> pd.DataFrame:
    parts = []
    if "pathways" in files:
        triages = _read(files["pathways"], PATHWAYS_COLUMNS)
        triages["site_type"] = triages["site_type"].str.removesuffix(".0")  # 111 once came as 111.0
        parts.append(triages)
    if "online" in files:
        assessments = _read(files["online"], ONLINE_COLUMNS)
        assessments["site_type"] = "online"
        parts.append(assessments)
    if not parts:
        raise ParseError(", ".join(f.name for f in files.values()), "holds neither the NHS Pathways nor the 111 online "
                                                                     "file")
    table = concat_noted(parts)
    if table.empty:
        raise ParseError(", ".join(f.name for f in files.values()), "has no rows for London's CCGs (by the ONS CCG "
                                                                     "lookups in data/lookups/)")
    notes = table.attrs
    # Sorted before the merged CCG's columns are added: two columns of long names fewer to move about.
    table = table[["date", "site_type", "sex", "age_band", "ccg_code", "ccg_name", "mapped_code", "count"]]
    table = table.sort_values(["date", "site_type", "ccg_code", "sex", "age_band"], ignore_index=True)
    merged = _looked_up(table["mapped_code"], ccg_lookup().set_index("code")[["merged_code", "merged_name"]])
    table["merged_ccg_code"], table["merged_ccg_name"] = merged["merged_code"], merged["merged_name"]
    columns = ["date", "site_type", "sex", "age_band", "ccg_code", "ccg_name", "merged_ccg_code", "merged_ccg_name",
               "count"]
    table = table[columns].astype({c: str for c in columns if c not in ("date", "count")})
    table.attrs = notes
    return table


SOURCE = Source(
    name="nhs_111",
    presentation=Presentation(title="NHS 111/999/online potential COVID-19 triages and assessments",
                              description=__doc__),
    schema=Nhs111Triages,
    variants=(
        Variant(api="nhs111", build_requests=build_requests, parse=parse_nhs_111, follow_links=follow_links,
                sample_release="2020-04-01", extra_sample_routes=sample_routes),
    ),
    freshness=Freshness(expected_lag_days=3),
    status=Status.ENDED,
    status_note="NHS Digital discontinued this series: the publication page holds its last release.",
)
