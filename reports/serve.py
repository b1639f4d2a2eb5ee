"""Serve the reports folder over HTTP on 127.0.0.1, so the link in the Dagster UI opens the report in one click
(browsers refuse file:// links from a web page). `make dev` starts it next to Dagster; REPORTS_PORT sets the port."""

from __future__ import annotations

import functools
import http.server
import os
import sys

from resources.settings import data_dir


def main() -> int:
    folder = data_dir() / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("REPORTS_PORT", "3001"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving reports from {folder} on http://127.0.0.1:{port}/", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
