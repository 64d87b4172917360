"""Sync when nothing changed: bulkup against rclone, aws-cli and s5cmd on the same tree.

One tree of small files (200,000; ``--quick``: 20,000) is synced once to the real S3 server
(SeaweedFS over HTTPS), untimed. Then every tool syncs the same tree to the same prefix
again, nothing having changed, each as its users run it (defaults, no flag that slows it),
in rounds (A B C D, A B C D, ...): wall time, client CPU (user + system of the whole process
tree) and peak memory, as medians with their spread. Every tool must find nothing to send:
a run that sent anything fails the bench. bulkup is timed twice: as a rerun finds it (what
the previous sync learned is remembered) and with ``--no-sync-state`` (HeadObject for every
object, as rclone does). The tools' rules differ: aws-cli and s5cmd decide from the listing
alone (size and LastModified), rclone and bulkup compare each file's mtime with the one the
object records. Writes bench/results/sync.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile

from bench.lib.paths import PEERS
from bench.lib.results import bench_arguments, publish, spread
from bench.lib.tools import rclone_env
from bench.lib.treeusage import Usage, measure
from devtools.s3server import DevServer

BUCKET = "bench-sync"


def make_tree(root: str, count: int) -> str:
    """``count`` files of 1-4 KiB in 100 directories (once; reused by later runs)."""
    folder = os.path.join(root, f"tree-{count}")
    if os.path.exists(folder + ".complete"):
        return folder
    for i in range(count):
        directory = os.path.join(folder, f"d{i % 100:02d}")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"f{i:07d}.bin"), "wb") as f:
            f.write(os.urandom(1024 + i % 3072))
    open(folder + ".complete", "w").close()
    return folder


def commands(server: DevServer, folder: str, cache: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each tool's sync of ``folder`` to the bench prefix, as its users run it."""
    target = f"s3://{BUCKET}/tree/"
    env = {**os.environ, **server.env(), "BULKUP_CACHE_DIR": cache}
    bulkup = [
        sys.executable,
        "-m",
        "bulkup",
        "sync",
        folder,
        target,
        "--endpoint-url",
        server.https_url,
        "--progress",
        "json",
    ]
    rclone_settings = rclone_env(env, server.https_url, server.ca_file)
    peers_env = {**env, "PATH": PEERS + os.pathsep + env.get("PATH", "")}
    return {
        "bulkup sync": (bulkup, env),
        "bulkup sync --no-sync-state": (bulkup + ["--no-sync-state"], env),
        "rclone sync": (
            [os.path.join(PEERS, "rclone"), "sync", folder, f"b:{BUCKET}/tree", "--stats-one-line", "-v"],
            rclone_settings,
        ),
        "aws s3 sync": (
            [os.path.join(PEERS, "aws"), "s3", "sync", folder, target, "--endpoint-url", server.https_url],
            peers_env,
        ),
        "s5cmd sync": (
            [os.path.join(PEERS, "s5cmd"), "--endpoint-url", server.https_url, "sync", folder + "/", target],
            peers_env,
        ),
    }


def sent_nothing(name: str, usage: Usage) -> bool:
    """Whether the run found nothing to send (each tool says so its own way)."""
    out = usage.output
    if usage.returncode != 0:
        return False
    if name.startswith("bulkup"):
        return '"objects_uploaded": 0' in out
    if name.startswith("rclone"):
        return "Copied" not in out  # -v names every file it copies
    return "upload:" not in out and "cp " not in out  # aws-cli and s5cmd name each upload


def run(count: int, rounds: int, work: str) -> list[str]:
    folder = make_tree(work, count)
    cache = tempfile.mkdtemp(prefix="bulkup-bench-cache-")
    with DevServer() as server:
        server.client().create_bucket(Bucket=BUCKET)
        tools = commands(server, folder, cache)
        first = measure(*tools["bulkup sync"])  # the upload (untimed), then one rerun each
        assert first.returncode == 0, first.output[-2000:]
        results: dict[str, list[Usage]] = {name: [] for name in tools}
        for _ in range(rounds):
            for name, (argv, env) in tools.items():
                usage = measure(argv, env)
                if not sent_nothing(name, usage):
                    raise SystemExit(f"{name} sent something or failed:\n{usage.output[-3000:]}")
                results[name].append(usage)
                print(
                    f"  {name}: {usage.wall:.1f} s, {usage.cpu:.1f} CPU-s, {usage.peak_rss / 2**20:.0f} MiB", flush=True
                )
    return table(count, rounds, results)


def table(count: int, rounds: int, results: dict[str, list[Usage]]) -> list[str]:
    rclone = results["rclone sync"]
    base_wall = statistics.median(u.wall for u in rclone)
    base_cpu = statistics.median(u.cpu for u in rclone)
    lines = [
        f"### sync, nothing changed: {count:,} files (SeaweedFS, HTTPS; medians of {rounds} interleaved runs, min-max)",
        "",
        "| tool | wall | client CPU | peak RSS | wall / rclone's | CPU / rclone's |",
        "|---|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        wall = [u.wall for u in runs]
        cpu = [u.cpu for u in runs]
        rss = max(u.peak_rss for u in runs)
        lines.append(
            f"| {name} | {spread(wall, 1, ' s')} | {spread(cpu, 1, ' s')} | {rss / 2**20:.0f} MiB "
            f"| {statistics.median(wall) / base_wall:.2f}x | {statistics.median(cpu) / base_cpu:.2f}x |"
        )
    return lines


def main() -> None:
    parser = bench_arguments(__doc__, "20,000 files, 2 rounds (default 200,000 files, 3 rounds)")
    parser.add_argument("--files", type=int, help="tree size (default 200,000; quick 20,000)")
    args = parser.parse_args()
    count = args.files or (20_000 if args.quick else 200_000)
    publish("sync.md", run(count, args.rounds or (2 if args.quick else 3), args.work))


if __name__ == "__main__":
    main()
