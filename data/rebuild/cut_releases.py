"""Cut London's lines out of the PHE dashboard's daily CSV downloads into `data/releases/` (the layout `make backfill`
and `make replay` read): per release date, `phe_cases_by_region/region_london.csv` and `nation_england.csv`, and
`phe_cases_by_utla/utla_all.csv`.

The downloads are those theosanderson/covid_uk_data_timestamped kept under `all/<YYYY-MM-DD>.csv` (complete daily
from 9 April to 31 July 2020 and 4 to 29 August 2020, without 11 August). Bring the repository here and cut, from the
repository root:

    git clone https://github.com/theosanderson/covid_uk_data_timestamped /tmp/timestamped
    .venv/bin/python -m data.rebuild.cut_releases /tmp/timestamped 2020-08-12 2020-08-29 [--out data/releases]

The source may be a clone's working tree or a bare copy (read with `git show`). Each output file is the download's
header line and its lines for the area, byte for byte and in the download's order: London region (E12000007),
England (E92000001), and every London upper-tier authority (E09..., City of London apart from Hackney in 2020).
Nothing is reformatted: the columns, number formats and line ends vary between eras, as the parsers must read them.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

# Area types as the downloads wrote them in each era ("Region" in spring 2020, "region" from August).
REGION, NATION, UPPER_TIER = {"region"}, {"nation"}, {"upper tier local authority", "utla"}
CUTS = {
    ("phe_cases_by_region", "region_london.csv"): lambda code, kind: code == "E12000007" and kind in REGION,
    ("phe_cases_by_region", "nation_england.csv"): lambda code, kind: code == "E92000001" and kind in NATION,
    ("phe_cases_by_utla", "utla_all.csv"): lambda code, kind: code.startswith("E09") and kind in UPPER_TIER,
}


def download(source: Path, day: date) -> bytes | None:
    """The day's download from a working tree or a bare repository; None when the archive has no file that day."""
    path = source / "all" / f"{day:%Y-%m-%d}.csv"
    if path.exists():
        return path.read_bytes()
    done = subprocess.run(["git", "-C", str(source), "show", f"HEAD:all/{day:%Y-%m-%d}.csv"], capture_output=True)
    return done.stdout if done.returncode == 0 else None


def cut(content: bytes) -> dict[tuple[str, str], bytes]:
    """Each cut's header and lines, byte for byte."""
    lines = content.splitlines(keepends=True)
    header = next(csv.reader([lines[0].decode("utf-8-sig")]))
    code_at, kind_at = header.index("Area code"), header.index("Area type")
    kept: dict[tuple[str, str], list[bytes]] = {key: [lines[0]] for key in CUTS}
    for line in lines[1:]:
        fields = next(csv.reader([line.decode("utf-8")]), [])
        if len(fields) <= max(code_at, kind_at):
            continue
        code, kind = fields[code_at].strip(), fields[kind_at].strip().lower()
        for key, wanted in CUTS.items():
            if wanted(code, kind):
                kept[key].append(line)
    return {key: b"".join(found) for key, found in kept.items() if len(found) > 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="the covid_uk_data_timestamped repository (tree or bare)")
    parser.add_argument("first", type=date.fromisoformat)
    parser.add_argument("last", type=date.fromisoformat)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "releases")
    args = parser.parse_args(argv)
    day = args.first
    while day <= args.last:
        content = download(args.source, day)
        if content is None:
            print(f"{day}: no download in the archive (a night with no release)")
        else:
            for (source, name), data in cut(content).items():
                target = args.out / f"{day:%Y-%m-%d}" / source / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                print(f"{day}: {target.relative_to(args.out)} ({len(data.splitlines()) - 1} lines)")
        day += timedelta(days=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
