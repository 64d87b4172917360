"""What a newcomer's first uploads cost: 1, 10 and 100 small files, bulkup against s5cmd,
rclone and the AWS CLI, each at its defaults, as its users run it.

Each tool uploads the same files of 4 KiB to the real S3 server (SeaweedFS, HTTPS on
127.0.0.1), in interleaved rounds (every tool once per round, the order turning each round).
bulkup's cache of what the store verifies is warm (one untimed run first), as it is for a
user's second run of the day. Per tool and size: wall time and client CPU (user + system of
the process and its children), medians with min-max, and the wall as a ratio of s5cmd's.
Writes bench/results/start.md.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from bench.lib import datasets
from bench.lib.paths import PEERS
from bench.lib.results import bench_arguments, publish, spread, turned
from bench.lib.tools import rclone_env
from devtools.s3server import DevServer

BUCKET = "bench-start"
SIZES = (1, 10, 100)
FILE_SIZE = 4096


def commands(server: DevServer, folder: str, prefix: str, cache: str) -> dict[str, tuple[list[str], dict]]:
    """Each tool's upload of ``folder`` under ``prefix``, at its defaults."""
    env = {**os.environ, **server.env(), "BULKUP_CACHE_DIR": cache}
    url = server.https_url
    target = f"s3://{BUCKET}/{prefix}"
    bulkup = os.path.join(os.path.dirname(sys.executable), "bulkup")
    return {
        "bulkup put": ([bulkup, "put", folder, target + "bulkup/", "--endpoint-url", url, "--quiet"], env),
        "s5cmd cp": ([os.path.join(PEERS, "s5cmd"), "--endpoint-url", url, "cp", folder + "/", target + "s5cmd/"], env),
        "rclone copy": (
            [os.path.join(PEERS, "rclone"), "copy", folder, f"b:{BUCKET}/{prefix}rclone"],
            rclone_env(env, url, server.ca_file),
        ),
        "aws s3 cp --recursive": (
            [os.path.join(PEERS, "aws"), "s3", "cp", "--recursive", "--only-show-errors", folder, target + "aws/"]
            + ["--endpoint-url", url],
            env,
        ),
    }


def timed(argv: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the process and every child it waited for) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(rounds: int, work: str) -> list[str]:
    cache = tempfile.mkdtemp(prefix="bulkup-bench-cache-")
    results: dict[tuple[int, str], list[tuple[float, float]]] = {}
    with DevServer() as server:
        server.client().create_bucket(Bucket=BUCKET)
        for count in SIZES:
            folder = datasets.many(work, "start", count, FILE_SIZE)
            warm = commands(server, folder, "warm/", cache)["bulkup put"]
            timed(*warm)  # the store's answer is cached, as for a user's second run
            for round_ in range(rounds):
                tools = list(commands(server, folder, f"n{count}/r{round_}/", cache).items())
                for name, (argv, env) in turned(tools, round_):
                    results.setdefault((count, name), []).append(timed(argv, env))
            print(f"  {count} file(s): done", flush=True)
    return table(rounds, results)


def table(rounds: int, results: dict[tuple[int, str], list[tuple[float, float]]]) -> list[str]:
    lines = [
        f"### First uploads: 1, 10 and 100 files of {FILE_SIZE // 1024} KiB (SeaweedFS, HTTPS; medians of {rounds} "
        "interleaved runs, min-max)",
        "",
        "| files | tool | wall | wall / s5cmd's | client CPU |",
        "|---:|---|---|---:|---|",
    ]
    for count in SIZES:
        base = statistics.median(w for w, _ in results[(count, "s5cmd cp")])
        for (n, name), runs in results.items():
            if n != count:
                continue
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            lines.append(
                f"| {count} | {name} | {spread(walls, 2, ' s')} | {statistics.median(walls) / base:.1f}x "
                f"| {spread(cpus, 2, ' s')} |"
            )
    return lines


def main() -> None:
    args = bench_arguments(__doc__, "3 rounds").parse_args()
    publish("start.md", run(args.rounds or (3 if args.quick else 7), args.work))


if __name__ == "__main__":
    main()
