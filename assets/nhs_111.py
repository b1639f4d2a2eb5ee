"""NHS 111/999/online: potential COVID-19 triages (111 and 999 calls through NHS Pathways) and completed 111
online assessments, for London's clinical commissioning groups, by day, site type, sex and age band.

One row per date, `site_type` (111, 999, online), sex, age band and CCG. `count` is the number of triages or
assessments with a potential COVID-19 outcome; these are not confirmed cases. London means the CCGs of NHS region
London (data/lookups/nhs_london_ccgs.csv). Source: NHS Digital's daily open-data CSVs, found by their link titles
on the "MI Potential COVID-19 symptoms reported through NHS Pathways and 111 online" publication page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from urllib.parse import urljoin

import pandas as pd

from assets.parsing import read_csv_typed
from assets.source import Freshness, Presentation, RawFile, Source, SourceRequest, Status, Variant
from checks.lookups import london_ccg_codes
from checks.schemas import Nhs111Triages
from resources.errors import ParseError

# The publisher's own link titles; the online one really is spelt "COIVD".
LINK_TITLES = {
    "pathways": "nhs pathways potential covid-19 open data",
    "online": "111 online potential coivd-19 open data",
}
SAMPLE_FILES = {"pathways": "NHS_Pathways_SYNTHETIC_sample.csv", "online": "111_Online_SYNTHETIC_sample.csv"}
PATHWAYS_COLUMNS = {"sitetype": "site_type", "calldate": "date", "sex": "sex", "ageband": "age_band",
                    "ccgcode": "ccg_code", "ccgname": "ccg_name", "triagecount": "count"}
ONLINE_COLUMNS = {"journeydate": "date", "sex": "sex", "ageband": "age_band", "ccgcode": "ccg_code",
                  "ccgname": "ccg_name", "total": "count"}


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
    return {urljoin(base_url, file): file for file in SAMPLE_FILES.values()}


def _header_key(name: str) -> str:
    # Header case and spacing vary between releases ("Call Date", "CCGCode"); compare them normalised.
    return "".join(name.split()).lower()


def _read(file: RawFile, columns: dict[str, str], kinds: dict[str, str]) -> pd.DataFrame:
    raw = read_csv_typed(file.content, file.name, {key: kinds.get(key, "text") for key in columns},
                         header_key=_header_key, keep_rows=("ccgcode", set(london_ccg_codes())))
    frame = raw.rename(columns=columns)
    frame["sex"] = frame["sex"].fillna("").str.lower().replace({"": "unknown", "not known": "unknown"})
    frame["age_band"] = frame["age_band"].fillna("unknown")
    frame["ccg_name"] = frame["ccg_name"].fillna("")
    return frame


def parse_nhs_111(files: Mapping[str, RawFile]) -> pd.DataFrame:
    pathways, online = files["pathways"], files["online"]
    triages = _read(pathways, PATHWAYS_COLUMNS, {"calldate": "date_dmy", "triagecount": "int"})
    assessments = _read(online, ONLINE_COLUMNS, {"journeydate": "date_dmy", "total": "int"})
    assessments["site_type"] = "online"
    table = pd.concat([triages, assessments], ignore_index=True)
    if table.empty:
        raise ParseError(pathways.name, "has no rows for London CCGs (data/lookups/nhs_london_ccgs.csv)")
    columns = ["date", "site_type", "sex", "age_band", "ccg_code", "ccg_name", "count"]
    table = table[columns].astype({c: str for c in ("site_type", "sex", "age_band", "ccg_code", "ccg_name")})
    return table.sort_values(["date", "site_type", "ccg_code", "sex", "age_band"], ignore_index=True)


SOURCE = Source(
    name="nhs_111",
    presentation=Presentation(title="NHS 111/999/online potential COVID-19 triages and assessments",
                              description=__doc__),
    schema=Nhs111Triages,
    variants=(
        Variant(api="nhs111", build_requests=build_requests, parse=parse_nhs_111, follow_links=follow_links,
                sample_release="2021-05-27", extra_sample_routes=sample_routes),
    ),
    freshness=Freshness(expected_lag_days=3),
    status=Status.ENDED,
    status_note="NHS Digital discontinued this series: the publication page holds its last release.",
)
