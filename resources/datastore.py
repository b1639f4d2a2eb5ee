"""The London Datastore (DataPress) API, as the GLA's own R client (ldndatar2) uses it.

    GET   {LDS_URL}/api/dataset/{id}                          the dataset and its resources (each with an MD5 hash)
    POST  {LDS_URL}/api/dataset/{id}/resources                add a file (multipart: file, title, description,
                                                          temporal_coverage_from, temporal_coverage_to)
    POST  {LDS_URL}/api/dataset/{id}/resources/{resource_id}  replace that resource's file (multipart: file)
    PATCH {LDS_URL}/api/dataset/{id}                          JSON Patch (application/json-patch+json)
    GET   {LDS_URL}/api/table/{ref}?sql=SELECT ... FROM dataset   a CSV resource's queryable table (read only)

A CSV resource can carry "API tables" (the dataset JSON lists their refs under the resource's `tables`) that the
platform builds from the file. No public API call that rebuilds one has been found (not in DataPress's API
documentation, the GLA's ldndatar2 or lds-data-py, nor the `datapress` client), so after a publish the tables are
read back and compared with the files just sent, and one that did not follow is reported for an editor to redeploy.

The API key travels only in the Authorization header. It is never logged, put in metadata or in an error
message: anything that could echo it is redacted first.

The platform's own Python client (`datapress` on PyPI) speaks a different, chunked v3 upload flavour, sets no
timeouts and pulls in boto3; our files are small, so the plain calls above through the project's HTTP client
(timeouts, retries, size limit) are simpler and safer.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import unquote, urlsplit

import dagster as dg

from resources import settings
from resources.errors import FetchError, SourceError
from resources.files import append_line, read_json, write_atomically
from resources.http import RETRYABLE_STATUSES, HttpClient

SOURCE = "london_datastore"
RESOURCE_IDS = "resource_ids.json"


class DatastoreError(SourceError):
    """A London Datastore request failed; the message says what to check and never contains the key."""

    def __init__(self, location: str, problem: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(SOURCE, location, problem)


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def md5_matches(remote_hash: str | None, content: bytes) -> bool:
    """Whether the Datastore's `hash` describes `content`. It is the file's MD5, or for files the platform stored
    in parts an S3-style `md5(part md5s)-N`; one-part uploads ("-1") are checked exactly, larger multipart hashes
    cannot be recomputed without the part size and count as different (the file is re-sent, never skipped
    wrongly)."""
    if not remote_hash:
        return False
    plain = hashlib.md5(content).hexdigest()
    if "-" not in remote_hash:
        return remote_hash == plain
    digest, parts = remote_hash.rsplit("-", 1)
    return parts == "1" and digest == hashlib.md5(hashlib.md5(content).digest()).hexdigest()


class PublishSession(Protocol):
    """What the publish step needs of a Datastore: the real API (DatastoreSession) or a dry run's folder
    (DryRunSession)."""

    @property
    def target(self) -> str: ...

    def get_dataset(self) -> dict: ...

    def add_resource(self, file_name: str, content: bytes, fields: Mapping[str, str]) -> dict: ...

    def replace_resource(self, resource_id: str, file_name: str, content: bytes) -> dict: ...

    def patch_dataset(self, operations: list[dict]) -> dict: ...

    def table_url(self, ref: str) -> str: ...

    def table_summary(self, ref: str, date_column: str) -> tuple[int, str | None]: ...


class DatastoreSession:
    """The calls the publish step makes, on one HTTP session with the key in its Authorization header."""

    def __init__(self, http: HttpClient, base_url: str, dataset: str, api_key: str) -> None:
        self.http, self.dataset, self._key = http, dataset, api_key
        self.base_url = base_url.rstrip("/")
        self.dataset_url = f"{self.base_url}/api/dataset/{dataset}"
        self.session = http.session()
        self.session.headers["Authorization"] = api_key

    @property
    def target(self) -> str:
        return self.dataset_url

    def _explain(self, error: FetchError, url: str) -> DatastoreError:
        problems = {
            None: f"could not reach the London Datastore at {url}: {redact(error.problem, self._key)}; check LDS_URL "
                  "and the network",
            401: "the London Datastore did not accept the API key: check LDS_API_KEY",
            403: f"the API key has no permission to change dataset {self.dataset!r}: ask its owner for write access",
            404: f"there is no dataset {self.dataset!r} at {url}: check LDS_DATASET and LDS_URL",
        }
        problem = problems.get(error.status, redact(error.problem, self._key))
        return DatastoreError(redact(url, self._key), problem, error.status)

    def _call(self, method: str, url: str, *, retry: bool = True, **body: object) -> dict:
        try:
            result = self.http.request(self.session, SOURCE, method, url, retry=retry, **body)
        except FetchError as error:
            raise self._explain(error, url) from None  # `from None`: the original could quote the request
        try:
            return json.loads(result.content)
        except ValueError:
            raise DatastoreError(url, f"answered {result.status} with something that is not JSON") from None

    def get_dataset(self) -> dict:
        return self._call("GET", self.dataset_url)

    def replace_resource(self, resource_id: str, file_name: str, content: bytes) -> dict:
        # Replacing is idempotent: retried like any request.
        return self._call("POST", f"{self.dataset_url}/resources/{resource_id}",
                          files={"file": (file_name, content, "text/csv")})

    def add_resource(self, file_name: str, content: bytes, fields: Mapping[str, str]) -> dict:
        """Add a file. A retried add could create a duplicate, so after a failure the dataset is read again and
        an upload that did land (found by its title) counts as done."""
        url = f"{self.dataset_url}/resources"
        for attempt in range(1, self.http.max_attempts + 1):
            try:
                return self._call("POST", url, retry=False, data=dict(fields),
                                  files={"file": (file_name, content, "text/csv")})
            except DatastoreError as error:
                if error.status is not None and error.status not in RETRYABLE_STATUSES:
                    raise
                if attempt == self.http.max_attempts:
                    raise
                landed = find_resource(self.get_dataset(), fields["title"])
                if landed is not None:
                    return {"readonly": {"resource_id": landed[0], "resource": landed[1]}}
                dg.get_dagster_logger().warning(f"[{SOURCE}] adding {file_name}: {error.problem}; retrying")
                time.sleep(self.http.backoff(attempt))
        raise AssertionError("unreachable")

    def patch_dataset(self, operations: list[dict]) -> dict:
        return self._call("PATCH", self.dataset_url, data=json.dumps(operations).encode(),
                          headers={"Content-Type": "application/json-patch+json"})

    def table_url(self, ref: str) -> str:
        return f"{self.base_url}/api/table/{ref}"

    def table_summary(self, ref: str, date_column: str) -> tuple[int, str | None]:
        """Rows and latest date the API table `ref` serves now (one SQL query, as the platform's clients read it)."""
        sql = f"SELECT COUNT(*) AS row_count, MAX({date_column}) AS latest_date FROM dataset"
        answer = self._call("GET", self.table_url(ref), params={"sql": sql})
        rows = answer.get("rows") if isinstance(answer, dict) else None
        if not rows or not isinstance(rows[0], dict) or "row_count" not in rows[0]:
            raise DatastoreError(self.table_url(ref), f"answered without the row count asked for: {str(answer)[:200]}")
        latest = rows[0].get("latest_date")
        return int(rows[0]["row_count"]), None if latest is None else str(latest)[:10]

    def close(self) -> None:
        self.session.close()


@dataclass
class TableCheck:
    """Whether one API table serves the file just published (`follows`), as last read."""

    file_name: str
    ref: str
    url: str
    date_column: str
    expected_rows: int
    expected_latest: str | None
    rows: int | None = None
    latest: str | None = None
    problem: str = ""

    @property
    def follows(self) -> bool:
        return self.rows == self.expected_rows and self.latest == self.expected_latest

    def describe(self) -> str:
        if self.follows:
            return f"{self.file_name}: API table {self.ref} follows ({self.rows:,} rows, latest {self.latest})"
        now = self.problem or f"still serves {self.rows:,} rows up to {self.latest}"
        return (f"{self.file_name}: API table {self.ref} did not follow: it {now}, not the {self.expected_rows:,} "
                f"rows up to {self.expected_latest} just published. The file itself is published. Ask a dataset "
                "editor to redeploy this table in the London Datastore's admin pages (no public API call does it), "
                f"then check {self.url}.")


def check_tables(read: Callable[[str, str], tuple[int, str | None]], checks: list[TableCheck], timeout_s: float,
                 interval_s: float) -> list[TableCheck]:
    """Read each table back until it serves what was sent or `timeout_s` passes (the platform may rebuild a table
    a little after its file is replaced). `read(ref, date_column)` is the table query; a failed read is recorded,
    not raised: the files are published whatever the tables do."""
    deadline = time.monotonic() + timeout_s
    while True:
        for check in checks:
            if check.follows:
                continue
            try:
                check.rows, check.latest = read(check.ref, check.date_column)
                check.problem = ""
            except DatastoreError as error:
                check.problem = f"could not be read ({error.problem})"
        if all(c.follows for c in checks) or time.monotonic() >= deadline:
            return checks
        time.sleep(interval_s)


def find_resource(dataset: Mapping, title: str) -> tuple[str, dict] | None:
    """The resource with this title (the lowest `order` if the dataset has several)."""
    matches = [(rid, r) for rid, r in (dataset.get("resources") or {}).items() if r.get("title") == title]
    return min(matches, key=lambda m: m[1].get("order", 0)) if matches else None


def download_file_name(resource: Mapping) -> str | None:
    """The file name a resource's download URL ends with (DataPress serves a resource's file at
    `.../download/<dataset>/<resource id>/<file name>`, the name of the file last uploaded to it, whatever its
    title), decoded; None when the resource has no URL."""
    url = resource.get("url")
    if not isinstance(url, str) or not url:
        return None
    return unquote(PurePosixPath(urlsplit(url).path).name) or None


class DatastoreTarget(dg.ConfigurableResource):
    """Where approved tables are published: the London Datastore, or a local folder for a dry run.
    `state_dir` keeps the resource ids recorded after uploads and the audit log of every publication."""

    dataset: str = settings.DEFAULT_LDS_DATASET
    state_dir: str
    # How long to keep reading a resource's API tables back after a publish before reporting one that did not follow.
    table_follow_timeout_s: float = 120.0
    table_poll_interval_s: float = 10.0

    @property
    def dataset_state(self) -> Path:
        return Path(self.state_dir) / self.dataset

    @property
    def storage(self) -> tuple[Path, str]:
        """The folder the publish writes its records (and a dry run its files) under, and the setting naming it."""
        return Path(self.state_dir).parent, "PIPELINE_DATA_DIR"

    @property
    def audit_log(self) -> Path:
        """Every publication to this dataset, one JSON record a line."""
        return self.dataset_state / "audit.jsonl"

    def known_resource_ids(self) -> dict[str, str]:
        """The resource id each file was published as (file name -> id), recorded after its first upload."""
        return read_json(self.dataset_state / RESOURCE_IDS, default={}, remedy=(
            "it records which Datastore resource each file replaces; restore it from a backup, or move it aside: "
            "the next publish finds each file's resource by its title or download file name"))

    def remember_resource_id(self, file_name: str, resource_id: str) -> None:
        ids = {**self.known_resource_ids(), file_name: resource_id}
        write_atomically(self.dataset_state / RESOURCE_IDS, json.dumps(ids, indent=2, sort_keys=True))

    def append_audit(self, record: Mapping[str, object]) -> Path:
        append_line(self.audit_log, json.dumps(record))
        return self.audit_log

    @property
    def kind(self) -> str:
        """"publish" for a real publication; "dry run" or "rehearsal" for one that must not count as one."""
        raise NotImplementedError

    def open(self):
        raise NotImplementedError


class LondonDatastore(DatastoreTarget):
    """The real London Datastore. `api_key` comes only from the LDS_API_KEY environment variable (dg.EnvVar);
    `base_url` (LDS_URL) and `dataset` (LDS_DATASET) default to the real site and the COVID-19 cases dataset."""

    base_url: str = settings.DEFAULT_LDS_URL
    api_key: str
    # Set (LDS_REHEARSAL) when this Datastore is a test instance: data that is not live may be sent there, and the
    # publication is recorded as a rehearsal.
    rehearsal: bool = False
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    # Quick attempts per request and the first wait between them: the downloads' HTTP_MAX_ATTEMPTS and
    # HTTP_BACKOFF_BASE_S (datastore_from_environment passes their values; these are their declared defaults, so a
    # target built directly retries as an unconfigured download would).
    max_attempts: int = settings.SETTINGS["HTTP_MAX_ATTEMPTS"].default
    backoff_base_s: float = settings.SETTINGS["HTTP_BACKOFF_BASE_S"].default

    @property
    def kind(self) -> str:
        return "rehearsal" if self.rehearsal else "publish"

    @contextmanager
    def open(self) -> Iterator[DatastoreSession]:
        if not self.api_key.strip():
            raise DatastoreError("LDS_API_KEY", "is empty: set LDS_API_KEY (or lds_api_key, as the GLA's R scripts "
                                 "did) to your London Datastore API key")
        if self.rehearsal and self.base_url.rstrip("/") == settings.DEFAULT_LDS_URL.rstrip("/"):
            raise DatastoreError("LDS_REHEARSAL", "is set, but LDS_URL is the real London Datastore: a rehearsal "
                                 "needs a test Datastore's address in LDS_URL (or use a dry run). Nothing was sent.")
        http = HttpClient(connect_timeout_s=self.connect_timeout_s, read_timeout_s=self.read_timeout_s,
                          max_attempts=self.max_attempts, backoff_base_s=self.backoff_base_s)
        session = DatastoreSession(http, self.base_url, self.dataset, self.api_key)
        try:
            yield session
        finally:
            session.close()


class DryRunSession:
    """Writes exactly what would be sent into a folder instead: each file, one JSON line per request
    (requests.jsonl) and held_back.txt, the files a real publish of the version would hold back and why."""

    def __init__(self, folder: Path, dataset: str) -> None:
        self.folder, self.dataset = folder, dataset
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.run_folder = folder / stamp
        self.run_folder.mkdir(parents=True, exist_ok=True)
        self.state_file = folder / "dataset.json"
        self.count = 0

    @property
    def target(self) -> str:
        return f"dry run: {self.run_folder}"

    def _state(self) -> dict:
        return read_json(self.state_file, default={"id": self.dataset, "description": "", "resources": {}}, remedy=(
            "the dry runs' stand-in for the dataset's state; delete it: the next dry run starts from an empty "
            "dataset"))

    def _log(self, method: str, path: str, detail: dict, content: bytes | None = None, name: str = "") -> None:
        self.count += 1
        entry = {"n": self.count, "method": method, "path": f"/api/dataset/{self.dataset}{path}", **detail}
        if content is not None:
            saved = self.run_folder / f"{self.count:02d}_{name}"
            saved.write_bytes(content)
            entry |= {"file": saved.name, "bytes": len(content), "md5": hashlib.md5(content).hexdigest()}
        with (self.run_folder / "requests.jsonl").open("a") as log:
            log.write(json.dumps(entry) + "\n")

    def _resource(self, state: dict, rid: str, name: str, content: bytes, fields: Mapping[str, str]) -> dict:
        resource = {**state["resources"].get(rid, {"order": len(state["resources"])}), **fields,
                    "hash": hashlib.md5(content).hexdigest(), "size": len(content), "format": "csv",
                    "url": f"dry-run://{self.dataset}/{rid}/{name}"}
        state["resources"][rid] = resource
        write_atomically(self.state_file, json.dumps(state, indent=2))
        return {**state, "readonly": {"resource_id": rid, "resource": resource}}

    def get_dataset(self) -> dict:
        self._log("GET", "", {})
        return self._state()

    def add_resource(self, file_name: str, content: bytes, fields: Mapping[str, str]) -> dict:
        self._log("POST", "/resources", {"fields": dict(fields)}, content, file_name)
        state = self._state()
        return self._resource(state, f"dry{len(state['resources']) + 1}", file_name, content, fields)

    def replace_resource(self, resource_id: str, file_name: str, content: bytes) -> dict:
        self._log("POST", f"/resources/{resource_id}", {}, content, file_name)
        return self._resource(self._state(), resource_id, file_name, content, {})

    def table_url(self, ref: str) -> str:
        return f"dry-run://table/{ref}"

    def table_summary(self, ref: str, date_column: str) -> tuple[int, str | None]:
        raise DatastoreError(self.table_url(ref), "a dry run has no API tables")

    def write_note(self, file_name: str, text: str) -> Path:
        """A note for the analyst, written beside the files and requests.jsonl: what the folder alone cannot show
        (which files a real publish would hold back, and why). Never counted as a request: nothing would send it."""
        return write_atomically(self.run_folder / file_name, text)

    def patch_dataset(self, operations: list[dict]) -> dict:
        self._log("PATCH", "", {"json_patch": operations})
        state = self._state()
        for op in operations:
            state[op["path"].lstrip("/")] = op["value"]
        write_atomically(self.state_file, json.dumps(state, indent=2))
        return state


class DryRunDatastore(DatastoreTarget):
    """Set LDS_DRY_RUN_DIR to publish into this folder instead of the London Datastore (no key needed).
    `dataset.json` there plays the dataset's state, so a second dry run shows which files would be skipped. Each
    dry run's dated folder holds the files, requests.jsonl and held_back.txt (DryRunSession)."""

    folder: str

    @property
    def kind(self) -> str:
        return "dry run"

    @property
    def storage(self) -> tuple[Path, str]:
        return Path(self.folder), "LDS_DRY_RUN_DIR"

    @contextmanager
    def open(self) -> Iterator[DryRunSession]:
        yield DryRunSession(Path(self.folder), self.dataset)


def datastore_from_environment(data_dir: Path) -> DatastoreTarget:
    """The publish target the settings describe: a dry-run folder (LDS_DRY_RUN_DIR) or the London Datastore
    (LDS_URL, LDS_DATASET, retrying as downloads do: HTTP_MAX_ATTEMPTS, HTTP_BACKOFF_BASE_S), with the key left as
    a reference to LDS_API_KEY (or lds_api_key when that is unset) until the publish step runs."""
    dataset = settings.lds_dataset()
    tables = {"table_follow_timeout_s": settings.lds_table_timeout_s(),
              "table_poll_interval_s": settings.lds_table_poll_s()}
    if folder := settings.lds_dry_run_dir():
        return DryRunDatastore(folder=folder, dataset=dataset, state_dir=str(Path(folder) / "state"), **tables)
    return LondonDatastore(base_url=settings.lds_url(), dataset=dataset, state_dir=str(data_dir / "publish"),
                           api_key=dg.EnvVar(settings.api_key_variable()), rehearsal=settings.lds_rehearsal(),
                           max_attempts=settings.http_max_attempts(), backoff_base_s=settings.http_backoff_base_s(),
                           **tables)

