"""The Jinja environment every page is rendered with: the cases report (reports/render.py) and the report server's
index (reports/serve.py). Apart from render.py, so that the report server, which renders only its index, starts
without plotly, pandas or Dagster."""

from __future__ import annotations

from pathlib import Path

import jinja2

from reports import wording

TEMPLATES = Path(__file__).resolve().parent / "templates"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["thousands"] = lambda n: "n/a" if n is None else f"{n:,}"
    env.filters["signed"] = lambda n: "n/a" if n is None else f"{n:+,}"
    env.filters["day"] = wording.day
    env.filters["count"] = wording.count
    env.filters["heading"] = wording.heading
    env.filters["cell"] = wording.cell
    return env
