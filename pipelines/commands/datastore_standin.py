"""A small London Datastore (DataPress API) stand-in: a real HTTP server on 127.0.0.1. `make replay` rehearses each
night's approval against it (never the real Datastore), and the publish tests publish to it.

It checks the API key, keeps datasets and their resources with MD5 hashes, implements add / replace / JSON Patch
as the real API answers them (shape from the GLA's recorded response), and injects faults on request: a status
(500, 401, ...) or a dropped connection on the Nth request, slow answers, or every request refused. Resources can
be pre-loaded (the GLA's files as they stand on the real dataset) and given API tables (`/api/table/<ref>`,
answering `$limit`/`$offset` pages and the `SELECT COUNT(*) ..., MAX(col) ... FROM dataset` query), which either
follow a replaced file or keep serving the old one, as a table the platform did not redeploy would.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
import socket
import threading
import time
from dataclasses import MISSING, dataclass, field, fields
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DATASET_PATH = re.compile(r"^/api/dataset/(?P<dataset>[^/]+)(?:/resources(?:/(?P<resource>[^/]+))?)?/?$")
TABLE_PATH = re.compile(r"^/api/table/(?P<ref>[^/]+)/?$")
SUMMARY_SQL = re.compile(r"^SELECT COUNT\(\*\) AS (\w+), MAX\((\w+)\) AS (\w+) FROM dataset$", re.I)
TABLE_PAGE = 5000
# The API key the stand-in accepts by default: tests set LDS_API_KEY to it, and look for it where it must never appear.
STANDIN_KEY = "lds-test-key-5f1c2b9e-not-a-real-secret"


@dataclass
class Recorded:
    method: str
    path: str
    status: int
    title: str | None = None


@dataclass
class StandIn:
    api_key: str = STANDIN_KEY
    dataset: str = "coronavirus--covid-19--cases"
    # request number (from 1) -> a status to answer with, "drop" (close the connection without doing anything) or
    # "drop-after" (do the work, then close the connection before answering: the client never hears it landed)
    faults: dict[int, object] = field(default_factory=dict)
    refuse_all_with: int | None = None
    delay_s: float = 0.0
    datasets: dict[str, dict] = field(default_factory=dict)
    log: list[Recorded] = field(default_factory=list)
    content: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (dataset, resource id) -> file bytes
    # API tables: ref -> {"dataset", "resource_id", "follows" (rebuilt when the file is replaced), "content"}
    tables: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._add_dataset()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _add_dataset(self) -> None:
        self.datasets.setdefault(self.dataset, {
            "id": self.dataset, "site": "london", "title": "Coronavirus (COVID-19) Cases",
            "description": "<p>Cases of COVID-19 in London.</p>", "sharing": "public", "resources": {},
            "updatedAt": "2023-12-14T16:00:00.000Z",
        })

    def reset(self) -> StandIn:
        """Back to a new stand-in's state (one empty dataset, nothing logged, no faults), at the same address."""
        with self._lock:
            for spec in fields(self):
                if spec.name not in ("api_key", "dataset"):
                    setattr(self, spec.name, spec.default_factory() if spec.default is MISSING else spec.default)
            self._add_dataset()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def resources(self, dataset: str | None = None) -> dict[str, dict]:
        return self.datasets[dataset or self.dataset]["resources"]

    def titles(self) -> list[str]:
        return sorted(r["title"] for r in self.resources().values())

    def uploads(self) -> list[Recorded]:
        return [r for r in self.log if r.method == "POST" and r.status == 200]

    def preload(self, resource_id: str, title: str, content: bytes, tables: dict[str, bool] | None = None,
                file_name: str | None = None) -> None:
        """A resource already on the dataset (as the GLA left it), with API tables: ref -> whether the table
        follows a replaced file. Its download URL ends with `file_name`, the name of the file uploaded to it (by
        default its title; on the real platform an editor may have titled it otherwise)."""
        resources = self.resources()
        resources[resource_id] = {"order": len(resources), "title": title, "format": "csv",
                                  "hash": hashlib.md5(content).hexdigest(), "size": len(content),
                                  "url": f"{self.url}/download/{self.dataset}/{resource_id}/{file_name or title}"}
        self.content[(self.dataset, resource_id)] = content
        for ref, follows in (tables or {}).items():
            resources[resource_id].setdefault("tables", {})[ref] = {"name": title.removesuffix(".csv")}
            self.tables[ref] = {"dataset": self.dataset, "resource_id": resource_id, "follows": follows,
                                "content": content}

    def table_rows(self, ref: str) -> list[dict]:
        """The rows the API table serves now, as the platform would: every cell text, NA read as empty."""
        text = self.tables[ref]["content"].decode("utf-8")
        return [{k: (None if v in ("", "NA") else v) for k, v in row.items()}
                for row in csv.DictReader(io.StringIO(text, newline=""))]


class _Handler(BaseHTTPRequestHandler):
    """Answers the stand-in's API; `standin` is the StandIn whose state it reads and changes."""

    protocol_version = "HTTP/1.1"

    def __init__(self, standin: StandIn, *args, **kwargs) -> None:
        self.standin = standin
        super().__init__(*args, **kwargs)

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        body = self._body()
        with self.standin._lock:
            number = len(self.standin.log) + 1
            fault = self.standin.faults.get(number)
            match = DATASET_PATH.match(self.path.split("?")[0])
            record = Recorded(method, self.path, 0)
            self.standin.log.append(record)
        if self.standin.delay_s:
            time.sleep(self.standin.delay_s)
        if fault == "drop":
            record.status = -1
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, payload = self._answer(method, match, body, fault)
        record.status = status
        if fault == "drop-after":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if isinstance(payload, dict) and method == "POST":
            record.title = ((payload.get("readonly") or {}).get("resource") or {}).get("title")
        self._send(status, payload)

    def _answer(self, method: str, match: re.Match | None, body: bytes, fault: object) -> tuple[int, object]:
        if isinstance(fault, int):
            return fault, {"error": f"injected fault {fault}"}
        if self.standin.refuse_all_with:
            return self.standin.refuse_all_with, {"error": "refused"}
        table = TABLE_PATH.match(self.path.split("?")[0])
        if table is not None and method == "GET":  # API tables are public: no key needed
            return self._table(table["ref"])
        if self.headers.get("Authorization") != self.standin.api_key:
            return 401, {"error": "Unauthorized"}
        if match is None or match["dataset"] not in self.standin.datasets:
            return 404, {"error": "Not found"}
        dataset = self.standin.datasets[match["dataset"]]
        with self.standin._lock:
            if method == "GET" and not match["resource"] and "/resources" not in self.path:
                return 200, dataset
            if method == "PATCH":
                return self._patch(dataset, body)
            if method == "POST" and "/resources" in self.path:
                return self._upload(dataset, match["resource"], body)
        return 405, {"error": "Method not allowed"}

    def _table(self, ref: str) -> tuple[int, object]:
        if ref not in self.standin.tables:
            return 404, {"error": f"no table {ref}"}
        rows = self.standin.table_rows(ref)
        query = parse_qs(urlsplit(self.path).query)
        if "sql" in query:
            summary = SUMMARY_SQL.match(query["sql"][0].strip())
            if summary is None:
                return 400, {"error": "the stand-in answers only SELECT COUNT(*) AS n, MAX(col) AS m FROM dataset"}
            count_as, column, max_as = summary.groups()
            dates = [row[column] for row in rows if row.get(column)]
            return 200, {"rows": [{count_as: len(rows), max_as: max(dates) if dates else None}]}
        limit = int(query.get("$limit", [TABLE_PAGE])[0])
        offset = int(query.get("$offset", ["0"])[0])
        return 200, {"rows": rows[offset:offset + limit], "fields": list(rows[0]) if rows else [],
                     "info": {"pages": -(-len(rows) // limit), "count": len(rows)}}

    def _patch(self, dataset: dict, body: bytes) -> tuple[int, object]:
        if not self.headers.get("Content-Type", "").startswith("application/json-patch+json"):
            return 415, {"error": "expected application/json-patch+json"}
        for op in json.loads(body):
            if op.get("op") not in ("replace", "add"):
                return 400, {"error": f"unsupported op {op.get('op')}"}
            *parents, last = op["path"].strip("/").split("/")
            target = dataset
            for part in parents:
                target = target.setdefault(part, {})
            target[last] = op["value"]
        return 200, dataset

    def _upload(self, dataset: dict, resource_id: str | None, body: bytes) -> tuple[int, object]:
        message = BytesParser(policy=policy.default).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body
        )
        fields, file_name, content = {}, None, None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename():
                file_name, content = part.get_filename(), part.get_payload(decode=True)
            else:
                fields[name] = part.get_content().strip()
        if content is None:
            return 400, {"error": "multipart field 'file' is required"}
        resources = dataset["resources"]
        if resource_id is None:
            if not fields.get("title"):
                return 400, {"error": "title is required"}
            resource_id = f"r{len(resources) + 1:02d}"
            resources[resource_id] = {"order": len(resources), "title": fields["title"],
                                      "description": fields.get("description", ""), "format": "csv",
                                      "timeframe": {k: fields[k] for k in fields if k.startswith("temporal")}}
        elif resource_id not in resources:
            return 404, {"error": f"no resource {resource_id}"}
        resource = resources[resource_id]
        resource.update({"hash": hashlib.md5(content).hexdigest(), "size": len(content),
                         "origin": f"london/dataset/{dataset['id']}/{file_name}",
                         "url": f"{self.standin.url}/download/{dataset['id']}/{resource_id}/{file_name}"})
        dataset["updatedAt"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        self.standin.content[(dataset["id"], resource_id)] = content
        for table in self.standin.tables.values():
            if table["resource_id"] == resource_id and table["dataset"] == dataset["id"] and table["follows"]:
                table["content"] = content
        return 200, {**dataset, "readonly": {
            "updates": [{"op": "replace", "path": f"/resources/{resource_id}/hash", "value": resource["hash"]}],
            "resource_id": resource_id, "resource": resource}}

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

