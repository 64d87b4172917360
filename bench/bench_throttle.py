"""Throughput when the store says slow down: bulkup against rclone, the AWS CLI and s5cmd.

1,000 files of 16 KiB (``--quick``: 300) go to the real S3 server (SeaweedFS) through a
proxy that answers 503 SlowDown to writes above 50 a second (as S3 answers a prefix written
too fast), each tool at its defaults, in interleaved rounds. Per tool: wall time (medians,
min-max), the objects stored, the exit status, and the SlowDowns it drew, which the proxy
counts. Writes bench/results/throttle.md.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from bench.lib import datasets
from bench.lib.paths import PEERS
from bench.lib.results import bench_arguments, publish, spread
from bench.lib.tools import rclone_env
from devtools.faultproxy import FaultProxy
from devtools.s3server import DevServer

BUCKET = "bench-throttle"
WRITES_PER_SECOND = 50


@dataclass
class Run:
    wall: float
    stored: int
    slowdowns: int
    returncode: int


def commands(server: DevServer, folder: str, prefix: str, cache: str) -> dict[str, tuple[list[str], dict]]:
    """Each tool's upload of ``folder`` to ``prefix`` through the proxy (``{url}``), at its defaults."""
    env = {**os.environ, **server.env(), "BULKUP_CACHE_DIR": cache}
    target = f"s3://{BUCKET}/{prefix}"
    return {
        "bulkup put": (
            [
                sys.executable,
                "-m",
                "bulkup",
                "put",
                folder,
                target + "bulkup/",
                "--endpoint-url",
                "{url}",
                "--progress",
                "none",
            ],
            env,
        ),
        "rclone copy": (
            [os.path.join(PEERS, "rclone"), "copy", folder, f"b:{BUCKET}/{prefix}rclone"],
            rclone_env(env, "{url}"),
        ),
        "aws s3 cp --recursive": (
            [
                os.path.join(PEERS, "aws"),
                "s3",
                "cp",
                "--recursive",
                "--only-show-errors",
                folder,
                target + "aws/",
                "--endpoint-url",
                "{url}",
            ],
            env,
        ),
        "s5cmd cp": (
            [os.path.join(PEERS, "s5cmd"), "--endpoint-url", "{url}", "cp", folder + "/", target + "s5cmd/"],
            env,
        ),
    }


def stored(server: DevServer, prefix: str) -> int:
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sum(len(page.get("Contents", [])) for page in pages)


def run_once(server: DevServer, name: str, argv: list[str], env: dict, prefix: str) -> Run:
    with FaultProxy(server.http_url, write_rate=WRITES_PER_SECOND) as proxy:
        argv = [a.replace("{url}", proxy.url) for a in argv]
        env = {k: v.replace("{url}", proxy.url) for k, v in env.items()}
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        wall = time.monotonic() - started
        slowdowns = sum(1 for r in proxy.snapshot() if r.outcome == "slowdown")
    tool_prefix = prefix + name.split()[0] + "/"
    return Run(wall, stored(server, tool_prefix), slowdowns, proc.returncode)


def run(count: int, rounds: int, work: str) -> list[str]:
    folder = datasets.many(work, "throttle", count, 16 * 1024)
    cache = tempfile.mkdtemp(prefix="bulkup-bench-cache-")
    results: dict[str, list[Run]] = {}
    with DevServer() as server:
        server.client().create_bucket(Bucket=BUCKET)
        for round_ in range(rounds):
            for name, (argv, env) in commands(server, folder, f"r{round_}/", cache).items():
                got = run_once(server, name, argv, env, f"r{round_}/")
                results.setdefault(name, []).append(got)
                print(
                    f"  {name}: {got.wall:.1f} s, {got.stored}/{count} stored, {got.slowdowns} SlowDowns, "
                    f"exit {got.returncode}",
                    flush=True,
                )
    return table(count, rounds, results)


def table(count: int, rounds: int, results: dict[str, list[Run]]) -> list[str]:
    base = statistics.median(r.wall for r in results["rclone copy"])
    lines = [
        f"### Throttled: {count:,} x 16 KiB, SlowDown above {WRITES_PER_SECOND} writes/s (SeaweedFS; medians "
        f"of {rounds} interleaved runs, min-max)",
        "",
        "| tool | wall | wall / rclone's | objects stored | SlowDowns drawn | exit |",
        "|---|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        walls = [r.wall for r in runs]
        draws = [r.slowdowns for r in runs]
        lines.append(
            f"| {name} | {spread(walls, 1, ' s')} "
            f"| {statistics.median(walls) / base:.2f}x | {min(r.stored for r in runs):,}/{count:,} (fewest) "
            f"| {spread(draws, 0)} "
            f"| {', '.join(sorted({str(r.returncode) for r in runs}))} |"
        )
    return lines


def main() -> None:
    args = bench_arguments(__doc__, "300 files, 2 rounds").parse_args()
    publish("throttle.md", run(300 if args.quick else 1000, args.rounds or (2 if args.quick else 3), args.work))


if __name__ == "__main__":
    main()
