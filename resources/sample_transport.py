"""Serves the shipped sample releases to `requests` as if they came from the real endpoints.

Sample mode mounts this adapter on the upstream URLs, so a sample run goes through the same HTTP client,
archive, conditional-request and parsing code as a live fetch; only the bytes come from `data/samples/`.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from pathlib import Path

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.response import HTTPResponse

CONTENT_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def prepared_url(url: str) -> str:
    """The URL as requests sends it (query encoded), so routes match whatever spelling the caller used."""
    return requests.Request("GET", url).prepare().url or url


class SampleReplayAdapter(BaseAdapter):
    """`last_modified` is the ISO date of the release the samples stand for (sent as Last-Modified, 16:00 GMT)."""

    def __init__(self, routes: Mapping[str, Path], last_modified: str = "2023-12-14") -> None:
        super().__init__()
        self.routes = {prepared_url(url): Path(path) for url, path in routes.items()}
        released = datetime.combine(date.fromisoformat(last_modified), time(16), tzinfo=UTC)
        self.last_modified = format_datetime(released, usegmt=True)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        path = self.routes.get(request.url)
        if path is None or not path.exists():
            # The file first: the HTTP client quotes the start of an error's body.
            missing = "" if path is None else f"{path} is missing (PIPELINE_SAMPLES_DIR): "
            body = f"{missing}no shipped sample answers {request.url}".encode()
            return self._response(request, 404, body, {"Content-Type": "text/plain"})
        content = path.read_bytes()
        etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
        headers = {
            "Content-Type": CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
            "ETag": etag,
            "Last-Modified": self.last_modified,
        }
        if request.headers.get("If-None-Match") == etag:
            return self._response(request, 304, b"", headers)
        headers["Content-Length"] = str(len(content))
        headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
        return self._response(request, 200, content, headers)

    def _response(self, request, status: int, body: bytes, headers: dict[str, str]) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response.reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
        response.headers = CaseInsensitiveDict(headers)
        # What requests' own adapter hands on (its error path reads it as urllib3's response), not a bare BytesIO.
        response.raw = HTTPResponse(body=io.BytesIO(body), headers=headers, status=status, preload_content=False)
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass
