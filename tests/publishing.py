"""What the publish tests expect of a publication, shared by the asset, command and browser tests: which files a live
version sends, which it holds back, and the GLA's files as they stand on the real dataset."""

from __future__ import annotations

import gzip
from pathlib import Path

from checks.published import PUBLISHED
from pipelines.commands.datastore_standin import StandIn
from resources.settings import REPO_ROOT

# PHE stopped these series (cases by age; by age and sex; admissions by age): a live build has only their shipped
# releases, so their files are held back and the Datastore keeps its copies.
HELD_BACK = {"phe_cases_age_london.csv", "phe_cases_age_sex_london.csv", "phe_healthcare_admissions_age.csv"}
# Every version's provenance manifest goes with its files, as a resource of its own.
PROVENANCE = "provenance.json"
SENT = sorted([*(t.file_name for t in PUBLISHED.values() if t.file_name not in HELD_BACK), PROVENANCE])

# The GLA's five files on the dataset: resource id and API tables (ref -> whether the table follows a new file).
GLA_RESOURCES = {
    "phe_cases_london_boroughs.csv": ("151e497c", {"s8c9t_j4fs2": True}),
    "phe_cases_london_england.csv": ("7a3c305c", {}),
    "phe_cases_age_london.csv": ("d15e692d", {"a6e_lon_tbl": False}),
    "phe_healthcare.csv": ("hc0a1b2c", {"hc9_lon_tbl": False}),
    "phe_healthcare_admissions_age.csv": ("ad037e43", {}),
}


def gla_published(title: str) -> bytes:
    """The GLA's own published copy of one of its files (data/reference/gla_published/)."""
    return (REPO_ROOT / "data" / "reference" / "gla_published" / title).read_bytes()


def preload_gla(standin: StandIn) -> None:
    """The dataset as the GLA left it: its five files, with their ids and API tables."""
    for title, (resource_id, tables) in GLA_RESOURCES.items():
        standin.preload(resource_id, title, gla_published(title), tables)


def kept_csvs(folder: Path) -> dict[str, bytes]:
    """A report version's published CSVs from its folder, by the name sent, read with gzip where kept compressed at
    rest (every version but the newest)."""
    return {**{path.name: path.read_bytes() for path in folder.glob("*.csv")},
            **{path.name.removesuffix(".gz"): gzip.decompress(path.read_bytes()) for path in folder.glob("*.csv.gz")}}
