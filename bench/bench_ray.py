"""The Ray backend's overhead: the same manifest through `--ray` on one machine and locally.

A one-node Ray cluster on loopback (2 CPUs: two sender actors, as the local run has two
worker processes) and the discard endpoint over HTTPS, so the client is what is measured.
Each manifest runs as `bulkup migrate` with 2 workers x 4 connections and 8 MiB parts,
alternating the backends, best of two by wall time. The endpoint's PUT count checks that
every part arrived.

Client CPU is the driver's process tree plus, for Ray, the actors' own CPU seconds (they
are the raylet's children, not the driver's), from the run's report; peak memory likewise
adds the actors' peaks. The cluster's own daemons (GCS, raylet: about 1 GB resident here)
run before and after a job and are not counted.

Appends a section to bench/results/latest.md (or prints it with --print-only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from bench.lib import datasets
from bench.lib.discard import DUMMY_CREDENTIALS, DiscardEndpoint, data_requests
from bench.lib.results import append_section
from bench.lib.treeusage import measure
from devtools.raycluster import LocalRayCluster

MiB, GiB = 1 << 20, 1 << 30
PART = 8 * MiB
# (data set, times each file is listed under another key): 4 x the 4 GiB file is a 16 GiB run.
SETS = ((datasets.FULL[0], 1), (datasets.FULL[0], 4), (datasets.FULL[1].scaled(count=2000), 1))
QUICK_SETS = ((datasets.FULL[0].scaled(size=GiB), 1), (datasets.FULL[1].scaled(count=500), 1))


def manifest_for(folder: str, path: str, slug: str, copies: int) -> str:
    with open(path, "w") as f:
        for copy in range(copies):
            for source in datasets.files(folder):
                f.write(
                    json.dumps(
                        {
                            "source": os.path.abspath(source),
                            "destination": f"s3://bench/ray/{slug}/{copy}/{os.path.basename(source)}",
                        }
                    )
                    + "\n"
                )
    return path


def run(manifest: str, work: str, discard: DiscardEndpoint, env: dict, ray: str | None, attempt: int):
    tag = f"{'ray' if ray else 'local'}-{attempt}"
    report = os.path.join(work, f"{os.path.basename(manifest)}.{tag}.report.json")
    command = [
        sys.executable,
        "-m",
        "bulkup",
        "migrate",
        manifest,
        "--journal",
        os.path.join(work, f"{os.path.basename(manifest)}.{tag}.journal"),
        "--report",
        report,
        "--endpoint-url",
        discard.https_url,
        "--ca-bundle",
        discard.ca_file,
        "--addressing-style",
        "path",
        "--workers",
        "2",
        "--connections",
        "4",
        "--part-size",
        f"{PART // MiB}MiB",
        "--checksum",
        "crc64nvme",
        "--progress",
        "none",
        *(["--ray", ray] if ray else []),
    ]
    usage = measure(command, env)
    if usage.returncode != 0:
        raise SystemExit(f"{tag} failed: {usage.output[-800:]}")
    workers = json.load(open(report))["run"]["workers"].values()
    actor_cpu = sum(w["cpu_seconds"] or 0 for w in workers) if ray else 0.0
    actor_peak = sum(w["peak_rss"] or 0 for w in workers) if ray else 0
    sender_cpu = sum(w["cpu_seconds"] or 0 for w in workers)
    print(f"  {tag}: driver {usage.cpu + actor_cpu - sender_cpu:.1f} CPU-s, senders {sender_cpu:.1f} CPU-s", flush=True)
    return usage.wall, usage.cpu + actor_cpu, usage.peak_anon + actor_peak


def section(data_root: str, work: str, sets, cluster: LocalRayCluster) -> list[str]:
    env = {**os.environ, **DUMMY_CREDENTIALS, **cluster.env()}
    rows = []
    with DiscardEndpoint() as discard:
        for data, copies in sets:
            folder = datasets.materialize(data_root, data)
            datasets.warm(folder)
            manifest = manifest_for(folder, os.path.join(work, f"ray-{data.slug}-{copies}.jsonl"), data.slug, copies)
            expected = datasets.expected_puts(folder, PART) * copies
            name = data.name if copies == 1 else f"{copies} x {data.name} ({data.total * copies // GiB} GiB)"
            best: dict[str, tuple[float, float, int]] = {}
            for attempt in range(2):
                for backend, ray in (("local", None), ("ray", cluster.address)):
                    before = data_requests(discard.requests())
                    measured = run(manifest, work, discard, env, ray, attempt)
                    received = data_requests(discard.requests()) - before
                    if received < expected:
                        raise SystemExit(f"{backend}: {received} PUTs received, expected {expected}")
                    if backend not in best or measured[0] < best[backend][0]:
                        best[backend] = measured
                    print(f"{name} {backend}: {measured[0]:.1f} s", flush=True)
            gib = data.total * copies / GiB
            for backend in ("local", "ray"):
                wall, cpu, peak = best[backend]
                overhead = "" if backend == "local" else f"{wall / best['local'][0] - 1:+.1%}"
                rows.append(
                    f"| {name} | {backend} | {wall:.1f} s | {data.total * copies / MiB / wall:,.0f} | "
                    f"{cpu / gib:.2f} | {peak / MiB:.0f} MiB | {overhead} |"
                )
    return [
        "",
        "## The Ray backend against the local one (discard endpoint, HTTPS)",
        "",
        "`bulkup migrate` of the same manifest, 2 workers x 4 connections, 8 MiB parts; Ray: a "
        "one-node cluster on this machine with 2 CPUs. Best of two by wall time.",
        "",
        "| data | backend | wall | MiB/s | client CPU-s/GiB | peak private memory | wall vs local |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Wall time includes joining the cluster and starting the actors (Ray) or the worker processes (local).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=".cache/bench", help="where data sets are generated")
    parser.add_argument("--quick", action="store_true", help="a 1 GiB file and 500 x 1 MiB")
    parser.add_argument("--print-only", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bulkup-bench-ray-") as work, LocalRayCluster([], cpus=2) as cluster:
        lines = section(args.work, work, QUICK_SETS if args.quick else SETS, cluster)
    append_section(lines, args.print_only)


if __name__ == "__main__":
    main()
