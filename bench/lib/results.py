"""The benchmarks' results files under bench/results: latest.md, and one file per benchmark."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

from bench.lib.paths import LATEST_MD, RESULTS


def append_section(lines: list[str], print_only: bool = False) -> None:
    """Print a benchmark's section and, unless ``print_only``, add it to results/latest.md."""
    text = "\n".join(lines) + "\n"
    print(text)
    if not print_only:
        with open(LATEST_MD, "a") as f:
            f.write(text)


def write_result(name: str, lines: list[str]) -> None:
    """Replace results/``name`` with ``lines``."""
    with open(os.path.join(RESULTS, name), "w") as f:
        f.write("\n".join(lines) + "\n")


def spread(values: Sequence[float], digits: int = 1, unit: str = "") -> str:
    """``values`` as a table shows them: the median, then min-max in brackets."""
    return f"{statistics.median(values):.{digits}f}{unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"
