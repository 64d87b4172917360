"""The benchmarks' results files under bench/results: latest.md, and one file per benchmark."""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Sequence
from typing import TypeVar

from bench.lib.bytecode import compile_bulkup
from bench.lib.paths import BENCH_DATA, LATEST_MD, RESULTS

T = TypeVar("T")


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


def turned(items: Sequence[T], round_: int, step: int = 1) -> list[T]:
    """``items`` in the order of round ``round_`` of interleaved runs: each round starts
    ``step`` places further on, so no tool always runs first (or right after another)."""
    shift = (round_ * step) % len(items) if items else 0
    return [*items[shift:], *items[:shift]]


def bench_arguments(doc: str, quick: str) -> argparse.ArgumentParser:
    """A benchmark's command line: --quick (``quick`` says what it runs), --rounds, --work;
    a benchmark adds its own. bulkup is compiled first, as pip installs it (``bytecode``)."""
    compile_bulkup()
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--rounds", type=int, help="interleaved rounds of runs")
    parser.add_argument("--work", default=BENCH_DATA, help="where data sets are generated")
    return parser


def publish(name: str, lines: list[str]) -> None:
    """Print a benchmark's table and write it to results/``name``."""
    print("\n".join(lines))
    write_result(name, lines)
