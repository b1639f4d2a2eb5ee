"""Every source module exposes the same small contract, so the definitions, the report and the tests can treat
sources alike, and a new layout or API only ever touches its own source's module."""

from __future__ import annotations

import inspect

import pytest

from assets.ingest.source import Source, Status
from assets.sources import SOURCE_MODULES, SOURCES
from resources.settings import UPSTREAMS, samples_dir


@pytest.mark.parametrize("module", SOURCE_MODULES, ids=lambda m: m.__name__)
def test_a_source_module_exposes_one_source_named_after_it(module) -> None:
    assert isinstance(module.SOURCE, Source)
    assert module.__name__ == f"assets.sources.{module.SOURCE.name}"
    # The module docstring is the clean asset's help text in the UI.
    assert module.SOURCE.presentation.description == module.__doc__
    # Nothing else of Dagster's lives in a source module: its assets and job come from the factory.
    assert not hasattr(module, "assets") and not hasattr(module, "SPEC")
    assert "dagster" not in inspect.getsource(module)


@pytest.mark.parametrize("name", list(SOURCES))
def test_each_variant_reads_a_known_upstream_and_one_ships_a_sample(name: str) -> None:
    source = SOURCES[name]
    assert {v.api for v in source.variants} <= set(UPSTREAMS)
    assert len({v.api for v in source.variants}) == len(source.variants)
    assert source.sample is not None and source.sample.sample_release
    for url, path in source.sample_routes("https://example.invalid/base").items():
        assert path.is_file() and path.parent == samples_dir() / name, url
    assert source.presentation.date_column in source.schema.to_schema().columns


@pytest.mark.parametrize("name", list(SOURCES))
def test_status_has_the_reason_an_analyst_reads(name: str) -> None:
    source = SOURCES[name]
    assert (source.status is Status.ACTIVE) == (source.status_note == "")


def test_an_archived_file_is_parsed_by_the_variant_that_fetched_it() -> None:
    from resources.archive import ArchivedFile

    region = SOURCES["phe_cases_by_region"]

    def entry(api: str) -> ArchivedFile:
        return ArchivedFile(source=region.name, request="x", url="u", path="raw/x", sha256="0", bytes=0, status=200,
                            fetched_at="", headers={}, api=api)

    assert region.variant_of([entry("ukhsa"), entry("ukhsa")]).api == "ukhsa"
    assert region.variant_of([entry("phe")]).api == "phe"
    with pytest.raises(Exception, match="more than one API"):
        region.variant_of([entry("phe"), entry("ukhsa")])
    with pytest.raises(Exception, match="cannot read"):
        region.variant_of([entry("ons")])
