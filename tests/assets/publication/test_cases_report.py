"""The Datastore tables and the report through Dagster, twice, with a revision injected into the second run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import pandas as pd
import plotly.offline
from pytest_httpserver import HTTPServer

from assets.publication.cases_report import cases_report
from assets.publication.datastore_tables import datastore_tables
from pipelines.commands.outcomes import step_failures
from tests.conftest import all_source_assets, failure_text, pipeline_resources, serve_all_samples, stored_version
from tests.publishing import PROVENANCE, kept_csvs
from tests.samples import revised_london_file

ASSETS = [*all_source_assets(), datastore_tables, cases_report]


def report_metadata(result: dg.ExecuteInProcessResult) -> dict:
    [event] = [e for e in result.get_asset_materialization_events()
               if e.materialization.asset_key == dg.AssetKey("cases_report")]
    return {key: value.value for key, value in event.materialization.metadata.items()}


def test_report_versions_are_kept_and_the_second_says_what_changed(httpserver: HTTPServer, data_dir: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    first = dg.materialize(ASSETS, resources=pipeline_resources(data_dir, serve_all_samples(httpserver)),
                           instance=instance, raise_on_error=False)
    assert first.success, failure_text(first)
    meta = report_metadata(first)
    assert meta["report_version"] == stored_version(data_dir)
    first_report = Path(meta["path"])
    assert first_report.name == f"cases_report_{meta['report_version']}.html"
    assert meta["report_url"] == f"http://127.0.0.1:3001/{first_report.name}"
    # ... and the history keeps it, for the report server to answer wherever it runs later (reports/serve.py).
    history = json.loads((first_report.parent / "history.json").read_text())
    assert history[-1]["report_url"] == meta["report_url"]
    # The shipped NHS 111 files are the first 300 rows of the 1 April 2020 release, all of 18 March: rightly stale.
    assert meta["warnings"] == 0 and meta["stale_sources"] == "nhs_111"
    assert "| London |" in meta["headline"] and "| England |" in meta["headline"]
    first_html = first_report.read_text()
    assert "This is the first report" in first_html
    first_folder = first_report.parent / "files" / meta["report_version"]
    first_files = {path.name: path.read_bytes() for path in first_folder.iterdir()}
    # A file where the versions' files are kept (as a read-only or full disk refuses the report's files): the report
    # step fails in one line naming it and the setting, and the folder put back, the versions are as they were.
    files = first_folder.parent
    files.rename(files.with_name("files aside"))
    files.write_text("a file where the report's files are kept")
    refused = dg.materialize(ASSETS, selection=["cases_report"], resources=pipeline_resources(data_dir, "unused"),
                             instance=instance, raise_on_error=False)
    [(step, message)] = step_failures(refused)  # as make run prints it
    assert step == "cases_report" and message.startswith(
        f"[cases_report] the storage refused {files} (a file where a folder should be): PIPELINE_DATA_DIR "
        f"({data_dir}) must be a folder")
    files.unlink()
    files.with_name("files aside").rename(files)
    # plotly.js cut short on this disk, which would leave every version's page without its charts: the next report
    # mends it.
    [bundle] = first_report.parent.glob("plotly-*.js")
    bundle.write_bytes(bundle.read_bytes()[:1000])

    httpserver.clear()
    revised = revised_london_file("2020-05-01", 100)
    second = dg.materialize(
        ASSETS, resources=pipeline_resources(data_dir, serve_all_samples(httpserver, {"region_london.csv": revised})),
        instance=instance, raise_on_error=False,
    )
    assert second.success, failure_text(second)
    second_meta = report_metadata(second)
    assert second_meta["report_version"] != meta["report_version"]
    assert second_meta["compared_with"] == meta["report_version"]
    second_html = Path(second_meta["path"]).read_text()
    # The first report is kept as it was: one file per version, never overwritten.
    assert first_report.read_text() == first_html
    # The second version's files as they are, the first's CSVs compressed at rest: each still the bytes it published.
    folders = [first_report.parent / "files" / v for v in (meta["report_version"], second_meta["report_version"])]
    assert sorted(p.name for p in folders[1].iterdir()) == sorted(first_files)
    assert {**kept_csvs(folders[0]), PROVENANCE: (folders[0] / PROVENANCE).read_bytes()} == first_files
    assert not list(folders[0].glob("*.csv"))
    # plotly.js is stored once beside both versions, which load it from there, whole again.
    assert [bundle] == list(first_report.parent.glob("plotly-*.js"))
    assert bundle.read_text() == plotly.offline.get_plotlyjs()
    for html in (first_html, second_html):
        assert f'<script src="{bundle.name}"' in html and len(html.encode()) < 1_000_000
    assert f"Compared with report <code>{meta['report_version']}</code>" in second_html
    assert "Largest revisions in phe_cases_rates_london_england.csv" in second_html
    section = second_html.split("Largest revisions in phe_cases_rates_london_england.csv")[1]
    first_row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", section, re.S)[1]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", first_row)
    assert cells[:2] == ["E12000007", "1 May 2020"] and cells[-1] == "100"
    # In the GLA's file the same revision moves London up and the rest of England down by as much.
    section = second_html.split("Largest revisions in phe_cases_london_england.csv")[1].split("</table>")[0]
    section = section.split("<tbody>")[1]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)]
    assert sorted((row[0], row[1], row[-1]) for row in rows[:2]) == [
        ("London", "1 May 2020", "100"), ("Rest of England", "1 May 2020", "-100")]

    # A night with nothing new builds the second version again, compared with the first, whose kept copy is now
    # damaged: the report is still built and says so, rather than failing every night until the copy is mended.
    damaged = folders[0] / "phe_cases_london_england.csv.gz"
    damaged.write_bytes(damaged.read_bytes()[:200])
    third = dg.materialize(ASSETS, selection=["cases_report"], resources=pipeline_resources(data_dir, "unused"),
                           instance=instance, raise_on_error=False)
    assert third.success, failure_text(third)
    third_meta = report_metadata(third)
    assert third_meta["warnings"] == second_meta["warnings"] + 1
    assert third_meta["compared_with"] == "no earlier report readable (see the warnings)"
    [said] = [entry.user_message for entry in instance.all_logs(third.run_id)
              if "[earlier_version_unreadable]" in entry.user_message]
    assert f"not report {meta['report_version']}, whose kept copy {damaged} could not be read" in said


def test_days_the_source_flags_as_delayed_set_the_provisional_window() -> None:
    from assets.publication.cases_report import reporting_delay

    dates = pd.date_range("2024-01-01", periods=10)
    table = pd.DataFrame({"area_code": "E12000007", "date": dates,
                          "provisional": pd.array([False] * 7 + [True] * 3, dtype="boolean")})
    assert reporting_delay(table, configured=5) == 3
    table["provisional"] = pd.array([pd.NA] * 10, dtype="boolean")  # the PHE API did not say
    assert reporting_delay(table, configured=5) == 5


def test_live_mode_says_which_sources_have_ended() -> None:
    from assets.publication.cases_report import source_remark

    assert "ended in March 2023" in source_remark("ons_infection_survey", "live")
    assert "No live source" in source_remark("phe_cases_by_age_sex", "live")
    assert source_remark("phe_cases_by_region", "live") == ""
    assert source_remark("ons_infection_survey", "sample") == ""
