"""`make docs`: rewrite the parts of the docs that are generated from the code: the settings table in
docs/operations.md, from resources/settings.py (tests/resources/test_settings.py fails while they differ)."""

from __future__ import annotations

import sys

from resources.settings import REPO_ROOT, settings_table

OPERATIONS = REPO_ROOT / "docs" / "operations.md"
START = "<!-- settings table: generated from resources/settings.py by `make docs`; edit it there -->"
END = "<!-- end of the settings table -->"


def with_settings_table(document: str) -> str:
    """`document` with the text between the two markers replaced by the current settings table."""
    before, found, rest = document.partition(START)
    if not found or END not in rest:
        raise SystemExit(f"{OPERATIONS}: the settings table's markers are missing ({START!r} ... {END!r})")
    return f"{before}{START}\n{settings_table()}\n{END}{rest.partition(END)[2]}"


def main() -> int:
    current = OPERATIONS.read_text(encoding="utf-8")
    updated = with_settings_table(current)
    if updated == current:
        print(f"{OPERATIONS.relative_to(REPO_ROOT)}: the settings table is up to date")
    else:
        OPERATIONS.write_text(updated, encoding="utf-8")
        print(f"{OPERATIONS.relative_to(REPO_ROOT)}: the settings table was rewritten from resources/settings.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
