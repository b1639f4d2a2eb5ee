"""Read the shipped samples directly (csv/json/openpyxl), independent of the pipeline's parsers, so tests can
compare the pipeline's output with numbers taken straight from the files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from assets.source import RawFile, SourceSpec
from resources.settings import SAMPLES_DIR


def sample_path(source: str, file: str) -> Path:
    return SAMPLES_DIR / source / file


def sample_rows(source: str, file: str) -> list[dict[str, str]]:
    with sample_path(source, file).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def sample_json(source: str, file: str) -> dict:
    return json.loads(sample_path(source, file).read_text(encoding="utf-8"))


def sample_files(spec: SourceSpec, base_url: str = "https://example.test/base") -> dict[str, RawFile]:
    """The shipped files keyed by request name, as the clean asset would receive them."""
    files = {}
    routes = spec.sample_routes(base_url)
    for request in spec.build_requests(base_url):
        path = routes[request.url]
        files[request.name] = RawFile(path.name, path.read_bytes())
    return files


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()
