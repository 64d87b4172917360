"""Migration bookkeeping costs: planning a huge manifest, and the journal's share of a run.

1. Planning: `bulkup migrate --dry-run` loads and checks a manifest of N lines (default
   1,000,000, pointing at 1,000 small files under distinct keys) into a journal. Reported:
   wall time, lines per second and peak memory, beside the same for N/10 lines, to show that
   memory does not grow with the manifest.
2. Journal overhead: a migration of 20,000 small files to the local S3 server, with the
   time spent writing the journal (measured inside bulkup) as a share of the run, beside
   `bulkup put` of the same tree, which keeps no journal.

Appends a section to bench/results/latest.md (or prints it with --print-only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from bench.lib.results import append_section
from bench.lib.treeusage import measure
from devtools.s3server import DevServer

MiB = 1 << 20


def bulkup(*args: str) -> list[str]:
    return [sys.executable, "-m", "bulkup", *args]


def write_files(folder: str, count: int, size: int) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(count):
        path = os.path.join(folder, f"f{i:06d}")
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        paths.append(path)
    return paths


def write_manifest(path: str, sources: list[str], lines: int, bucket: str) -> None:
    with open(path, "w") as f:
        for i in range(lines):
            f.write(
                json.dumps({"source": sources[i % len(sources)], "destination": f"s3://{bucket}/plan/{i:08d}"}) + "\n"
            )


def planning(work: str, lines: int) -> list[str]:
    sources = write_files(os.path.join(work, "plan-src"), 1000, 1024)
    rows = []
    for count in (lines // 10, lines):
        manifest = os.path.join(work, f"plan-{count}.jsonl")
        write_manifest(manifest, sources, count, "bench-plan")
        usage = measure(bulkup("migrate", manifest, "--dry-run"))
        if usage.returncode != 0:
            raise SystemExit(f"planning failed: {usage.output[-500:]}")
        rows.append(
            f"| {count:,} | {usage.wall:.1f} s | {count / usage.wall:,.0f} | "
            f"{usage.peak_rss / MiB:.0f} MiB | {usage.peak_anon / MiB:.0f} MiB |"
        )
    return [
        "### Planning a manifest (`bulkup migrate --dry-run`)",
        "",
        "| lines | wall | lines/s | peak RSS | peak private |",
        "|---:|---:|---:|---:|---:|",
        *rows,
    ]


def journal_overhead(work: str, files: int, server: DevServer) -> list[str]:
    tree = os.path.join(work, "tree")
    sources = write_files(tree, files, 4096)
    client = server.client()
    client.create_bucket(Bucket="bench-journal")
    client.create_bucket(Bucket="bench-put")
    manifest = os.path.join(work, "tree.jsonl")
    with open(manifest, "w") as f:
        for path in sources:
            f.write(json.dumps({"source": path, "destination": f"s3://bench-journal/{os.path.basename(path)}"}) + "\n")
    env = {**os.environ, **server.env()}
    common = ["--endpoint-url", server.https_url, "--progress", "none"]
    migrated, put, run = None, None, None
    for attempt in range(2):  # alternated, best of two: the machine is shared with the server
        report = os.path.join(work, f"report-{attempt}.json")
        usage = measure(
            bulkup("migrate", manifest, "--journal", os.path.join(work, f"j{attempt}"), "--report", report, *common),
            env,
        )
        _check(usage, "migrate")
        if migrated is None or usage.wall < migrated.wall:
            migrated, run = usage, json.load(open(report))["run"]
        usage = measure(bulkup("put", tree, "s3://bench-put/", *common), env)
        _check(usage, "put")
        put = usage if put is None or usage.wall < put.wall else put
    for bucket in ("bench-journal", "bench-put"):
        count = sum(page.get("KeyCount", 0) for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket))
        if count != files:
            raise SystemExit(f"{bucket}: {count} objects on the server, expected {files}")
    return [
        "",
        f"### Journal overhead: {files:,} files of 4 KiB, HTTPS, verified by listing",
        "",
        "| command | wall | client CPU-s | manifest check | journal commits | journal share of the upload |",
        "|---|---:|---:|---:|---:|---:|",
        f"| bulkup migrate (journaled) | {migrated.wall:.1f} s | {migrated.cpu:.1f} | "
        f"{run['load_seconds']:.2f} s | {run['journal_seconds']:.2f} s | "
        f"{run['journal_seconds'] / run['seconds']:.1%} |",
        f"| bulkup put (no journal) | {put.wall:.1f} s | {put.cpu:.1f} | | | |",
        "",
        f"Best of two runs each. Wall time, migrate against put: "
        f"{migrated.wall / put.wall - 1:+.1%}; client CPU: {migrated.cpu / put.cpu - 1:+.1%}. "
        "The journal share is the coordinator's time committing steps; much of it overlaps "
        "with waiting for workers.",
    ]


def _check(usage, name: str) -> None:
    if usage.returncode != 0:
        raise SystemExit(f"{name} failed: {usage.output[-500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--print-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bulkup-bench-") as work, DevServer() as server:
        lines = ["", "## Migrations", ""]
        lines += planning(work, args.lines)
        lines += journal_overhead(work, args.files, server)
    append_section(lines, args.print_only)


if __name__ == "__main__":
    main()
