"""One source's parse and validation in a fresh process, for `make bench`'s memory table: prints the input's size and
the peak resident memory over what the imports alone take (so the input's own bytes count), as JSON.

    python -m bench.memory <source> <folder of releases in the samples' layout>
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import pandas  # noqa: F401  (imported before the baseline: the libraries are not what is measured)
import pandera.pandas  # noqa: F401
import pyarrow  # noqa: F401

from assets.sources import SOURCES
from checks.validation import validate_table

STATUS = Path("/proc/self/status")


def reset_peak() -> None:
    """Start the peak resident memory again from the current one (Linux: /proc/self/clear_refs), so the imports'
    own passing peak is not what is measured."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # elsewhere the peak since start is all there is: the figure then includes the imports' peak


def memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak since reset_peak) in MB; the process's peak where /proc is not there."""
    if STATUS.exists():
        for line in STATUS.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(name: str, folder: Path) -> None:
    source = SOURCES[name]
    reset_peak()
    baseline = memory_mb("VmRSS")
    files = source.sample_files(folder)
    table = source.sample.parse(files)
    validate_table(table, source.schema)
    size = sum(len(file.content) for file in files.values()) / 1e6
    print(json.dumps({"input_mb": size, "peak_over_imports_mb": memory_mb("VmHWM") - baseline, "rows": len(table)}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
