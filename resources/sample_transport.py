"""Serves the shipped sample releases to `requests` as if they came from the real endpoints.

Sample mode mounts this adapter on the upstream URLs, so a sample run goes through the same HTTP client,
archive, conditional-request and parsing code as a live fetch; only the bytes come from `data/samples/`.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from pathlib import Path

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

CONTENT_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# The samples are fixed releases; a fixed Last-Modified makes conditional requests behave as with a real server.
SAMPLE_LAST_MODIFIED = "Thu, 14 Dec 2023 16:00:00 GMT"


def prepared_url(url: str) -> str:
    """The URL as requests sends it (query encoded), so routes match whatever spelling the caller used."""
    return requests.Request("GET", url).prepare().url or url


class SampleReplayAdapter(BaseAdapter):
    def __init__(self, routes: Mapping[str, Path]) -> None:
        super().__init__()
        self.routes = {prepared_url(url): Path(path) for url, path in routes.items()}

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        path = self.routes.get(request.url)
        if path is None or not path.exists():
            body = f"No shipped sample answers {request.url}".encode()
            return self._response(request, 404, body, {"Content-Type": "text/plain"})
        content = path.read_bytes()
        etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
        headers = {
            "Content-Type": CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
            "ETag": etag,
            "Last-Modified": SAMPLE_LAST_MODIFIED,
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
        response.raw = io.BytesIO(body)
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass
