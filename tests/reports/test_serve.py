"""The report server, over real HTTP on 127.0.0.1: its index of versions (newest first, with what each was built
from and whether it was really published) and its Launchpad redirect, built from the settings when asked."""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from reports.serve import ReportHandler
from resources.settings import REPO_ROOT
from tests.browser.ui import free_ports
from tests.publishing import gla_published


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    folder = tmp_path / "reports"
    folder.mkdir()
    live = {"version": "aaaaaaaaaaaa", "file": "cases_report_aaaaaaaaaaaa.html", "mode": "live", "warnings": 2,
            "stale_sources": ["nhs_111"], "publishable": True}
    sample = {"version": "bbbbbbbbbbbb", "file": "cases_report_bbbbbbbbbbbb.html", "mode": "sample", "warnings": 0,
              "stale_sources": [], "publishable": False}
    history = [
        {**live, "rendered_at": "2026-11-20T02:10:00+00:00"},
        {**sample, "rendered_at": "2026-11-21T02:10:00+00:00"},
        # Built again the next night with the same tables: one row, at its latest build.
        {**live, "rendered_at": "2026-11-22T02:10:00+00:00"},
    ]
    (folder / "history.json").write_text(json.dumps(history))
    for version in ("aaaaaaaaaaaa", "bbbbbbbbbbbb"):
        (folder / f"cases_report_{version}.html").write_text(f"<p>report {version}</p>")
    return folder


@pytest.fixture
def audit_log(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    records = [
        {"report_version": "aaaaaaaaaaaa", "approved_by": "Ana Analyst", "published_at": "2026-11-22T09:00:00+00:00",
         "kind": "publish"},
        {"report_version": "bbbbbbbbbbbb", "approved_by": "Ben Borough", "published_at": "2026-11-21T09:00:00+00:00",
         "kind": "rehearsal"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def server(reports: Path, audit_log: Path) -> Iterator[str]:
    handler = functools.partial(ReportHandler, folder=reports, audit_log=audit_log)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # Polling for shutdown every 0.05 s, not every 0.5 s: each test's teardown waited for the next poll.
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_the_index_lists_versions_newest_first_with_what_they_were(server: str) -> None:
    page = requests.get(f"{server}/", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert html.index('data-testid="version-aaaaaaaaaaaa"') < html.index('data-testid="version-bbbbbbbbbbbb"')
    assert html.count('data-testid="version-aaaaaaaaaaaa"') == 1
    live = html[html.index('data-testid="version-aaaaaaaaaaaa"'):html.index('data-testid="version-bbbbbbbbbbbb"')]
    assert "2026-11-22 02:10" in live and "nhs_111" in live and ">live<" in live
    assert "yes</span>, 2026-11-22 09:00 (approved by Ana Analyst)" in live
    sample = html[html.index('data-testid="version-bbbbbbbbbbbb"'):]
    # A rehearsal is not a publication.
    assert "shipped samples" in sample and 'data-testid="published-bbbbbbbbbbbb">no<' in sample
    assert requests.get(f"{server}/cases_report_bbbbbbbbbbbb.html", timeout=5).text == "<p>report bbbbbbbbbbbb</p>"


@pytest.mark.parametrize("damaged", ["history.json", "audit.jsonl"])
def test_a_damaged_list_of_versions_is_named_on_the_index(server: str, reports: Path, audit_log: Path,
                                                          damaged: str) -> None:
    """The list of versions cut short, or the publish log spoiled, on the disk: the index says which file and what
    to do (the connection was dropped, with no answer), and each report still opens by its own address."""
    if damaged == "history.json":
        path = reports / "history.json"
        path.write_text(path.read_text()[:60])  # cut short
    else:
        path = audit_log
        path.write_text(path.read_text().replace('"approved_by"', 'approved_by', 1))  # a line edited by hand
    page = requests.get(f"{server}/", timeout=5)
    assert page.status_code == 500 and page.text.startswith(f"{path} could not be read (")
    assert requests.get(f"{server}/cases_report_aaaaaaaaaaaa.html", timeout=5).text == "<p>report aaaaaaaaaaaa</p>"


def test_the_launchpad_link_follows_the_ui_s_address_when_it_is_followed(server: str, monkeypatch) -> None:
    for address in ("http://127.0.0.1:3000", "http://dagster.internal:8080"):
        monkeypatch.setenv("DAGSTER_UI_URL", address)
        answer = requests.get(f"{server}/launchpad/aaaaaaaaaaaa", allow_redirects=False, timeout=5)
        assert answer.status_code == 302
        target = urllib.parse.urlsplit(answer.headers["Location"])
        assert f"{target.scheme}://{target.netloc}" == address
        assert target.path == "/locations/london_covid/jobs/publish/playground/setup"
        config = yaml.safe_load(urllib.parse.parse_qs(target.query)["config"][0])
        assert config["ops"]["datastore_publish"]["config"] == {"approved_by": "", "report_version": "aaaaaaaaaaaa"}
    assert requests.get(f"{server}/launchpad/not-a-version", allow_redirects=False, timeout=5).status_code == 404


def test_an_earlier_version_s_compressed_files_open_as_the_csv_published(server: str, reports: Path) -> None:
    """An earlier version's CSVs are kept compressed at rest; its report's links still open the CSV it published."""
    folder = reports / "files" / "aaaaaaaaaaaa"
    folder.mkdir(parents=True)
    published = gla_published("phe_cases_london_england.csv")
    (folder / "phe_cases_london_england.csv.gz").write_bytes(gzip.compress(published))
    answer = requests.get(f"{server}/files/aaaaaaaaaaaa/phe_cases_london_england.csv", timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "text/csv"
    assert answer.content == published
    assert requests.get(f"{server}/files/aaaaaaaaaaaa/phe_healthcare.csv", timeout=5).status_code == 404
    (folder / "phe_cases_london_england.csv.gz").write_bytes(gzip.compress(published)[:500])
    damaged = requests.get(f"{server}/files/aaaaaaaaaaaa/phe_cases_london_england.csv", timeout=5)
    assert damaged.status_code == 500
    assert "phe_cases_london_england.csv.gz could not be read (cannot be decompressed" in damaged.text


def test_a_link_recorded_with_another_port_opens_where_the_reports_are_served_now(reports: Path) -> None:
    """A report built while the reports were served on one port (its link in the Dagster UI fixed then), opened
    after make dev restarted them on another: the old port answers and sends the click on."""
    old, now = free_ports(2)
    history = json.loads((reports / "history.json").read_text())
    history[-1]["report_url"] = f"http://127.0.0.1:{old}/cases_report_aaaaaaaaaaaa.html"
    (reports / "history.json").write_text(json.dumps(history))
    env = {**os.environ, "PIPELINE_DATA_DIR": str(reports.parent), "REPORTS_PORT": str(now),
           "REPORTS_ANSWER_OLD_LINKS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "reports.serve"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                opened = requests.get(history[-1]["report_url"], timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.2)
        assert opened.status_code == 200 and opened.text == "<p>report aaaaaaaaaaaa</p>"
        assert opened.url == f"http://127.0.0.1:{now}/cases_report_aaaaaaaaaaaa.html"
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0]
    assert f"report links recorded with port {old} are sent here" in output


def test_the_server_loads_neither_dagster_nor_pandas_nor_plotly() -> None:
    """`make dev` and `make serve` start the report server beside Dagster every time; it renders only its index. It
    used to load Dagster, pandas and plotly on the way (through the report's modules): about 1 s of a core at each
    start and some 200 MB of memory for as long as it ran, where it needs about 25 MB."""
    heavy = ("dagster", "pandas", "plotly", "numpy", "pyarrow")
    loaded = subprocess.run([sys.executable, "-c", f"import sys, reports.serve; print(*(m for m in {heavy!r} "
                             "if m in sys.modules))"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == []
