"""``make bench``: bulkup against the tools users would otherwise pick, side by side.

One run, one tool after another, on the same data and endpoints:
- data sets generated on the fly: a 4 GiB file, 10,000 x 1 MiB, 50,000 x 16 KiB
  (``--quick``: 256 MiB, 300 x 1 MiB, 1,500 x 16 KiB);
- endpoints: the real S3 server of the tests (SeaweedFS, HTTPS), where every object of
  every tool is checked afterwards (size and S3 ETag of every object, computed locally
  from the files with the matched part size); a discard endpoint (nginx answering S3 with
  minimal responses and throwing bodies away, HTTPS and plain HTTP), where the client's own
  cost shows and the requests it received are counted; and an emulated slow, distant link;
- per tool: wall time, throughput, client CPU-seconds per GiB (user + system of the whole
  process tree, children included), peak memory, and each as a ratio to bulkup's;
- the floor: this machine's AES-GCM and memory-copy rates as CPU-seconds per GiB.
Writes bench/results/latest.md and bench/results/latest.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass

from bench import engines_floor, linkbench, small_objects
from bench.lib import datasets, floor
from bench.lib.bytecode import compile_bulkup
from bench.lib.comparison_report import write_results
from bench.lib.discard import DUMMY_CREDENTIALS, DiscardEndpoint, data_requests
from bench.lib.seaweedfs import warm_up
from bench.lib.tools import Endpoint, Tool, aws_cli_tool, boto3_tool, bulkup_tool, rclone_tool, s5cmd_tool
from bench.lib.treeusage import Usage, measure

MiB, GiB = 1 << 20, 1 << 30
PART = 8 * MiB
CONCURRENCY = 8  # requests in flight, for every tool that has the setting
WORKERS, CONNECTIONS = 2, 4  # bulkup: 2 x 4 = 8


@dataclass
class Row:
    endpoint: str
    data: datasets.DataSet
    tool: Tool
    usage: Usage
    verified: str


def tools_for(endpoint: Endpoint, folder: str, prefix_root: str, config_dir: str, peers: bool = True) -> list[Tool]:
    """bulkup with every engine this machine runs for the endpoint's scheme, then the peers."""
    from bulkup.transport.engines import ENGINES, path_label

    tls = endpoint.url.startswith("https")
    found = []
    for engine in ENGINES.values():
        if engine.available(tls).usable:
            found.append(
                bulkup_tool(
                    engine.name,
                    path_label(engine, tls),
                    endpoint,
                    folder,
                    f"{prefix_root}/bulkup-{engine.name}/",
                    PART,
                    WORKERS,
                    CONNECTIONS,
                )
            )
    if peers:
        found += [
            boto3_tool("classic", endpoint, folder, f"{prefix_root}/boto3/", PART, CONCURRENCY),
            boto3_tool("crt", endpoint, folder, f"{prefix_root}/crt/", PART, CONCURRENCY),
            aws_cli_tool(endpoint, folder, f"{prefix_root}/awscli/", PART, CONCURRENCY, config_dir),
            rclone_tool(endpoint, folder, f"{prefix_root}/rclone/", PART, CONCURRENCY),
            s5cmd_tool(endpoint, folder, f"{prefix_root}/s5cmd/", PART, CONCURRENCY, CONCURRENCY),
        ]
    return found


def prefix_of(tool: Tool) -> str:
    """The key prefix a tool's command writes to."""
    for arg in tool.argv:
        if arg.startswith("s3://"):
            return arg.split("/", 3)[3]
        if arg.startswith("bench:"):
            return arg.split("/", 1)[1] + "/"
    return tool.argv[5] if "run_boto3.py" in tool.argv[1] else ""


def run_tool(tool: Tool, endpoint: Endpoint, folder: str) -> Usage:
    """Run ``tool`` with its data in the page cache; a failure is said, then tried once more."""
    env = {**os.environ, **endpoint.env, **tool.env}
    for attempt in (1, 2):
        datasets.warm(folder)
        usage = measure([*endpoint.prefix_command, *tool.argv], env)
        if usage.returncode == 0:
            return usage
        print(
            f"{tool.name} failed on {endpoint.name} (exit {usage.returncode}, attempt {attempt}):\n"
            f"{usage.output[-2000:]}",
            flush=True,
        )
    raise SystemExit(f"{tool.name} failed twice on {endpoint.name}")


def verify_on_server(client, bucket: str, prefix: str, expected: dict[str, tuple[int, str]]) -> str:
    """Every object's size and ETag equal what the local files give, or the run stops."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            found[obj["Key"][len(prefix) :]] = (obj["Size"], obj["ETag"].strip('"'))
    if found != expected:
        missing = sorted(set(expected) - set(found))[:3]
        wrong = sorted(k for k in expected if k in found and found[k] != expected[k])[:3]
        raise SystemExit(
            f"{prefix}: {len(found)} objects, expected {len(expected)}; missing {missing}, "
            f"differing {[(k, found[k], expected[k]) for k in wrong]}"
        )
    return f"{len(found):,} objects: size + ETag"


def real_server_rows(sets, data_root: str, config_dir: str) -> list[Row]:
    from devtools.s3server import DevServer

    rows = []
    for data in sets:
        folder = datasets.materialize(data_root, data)
        expected = datasets.expected_etags(folder, PART, PART)
        with DevServer() as server:  # a fresh store per data set
            client = server.client()
            client.create_bucket(Bucket="bench")
            warm_up(client)
            endpoint = Endpoint("SeaweedFS (HTTPS)", server.https_url, server.ca_file, server.env())
            for tool in tools_for(endpoint, folder, data.slug, config_dir):
                usage = run_tool(tool, endpoint, folder)
                rows.append(
                    Row(endpoint.name, data, tool, usage, verify_on_server(client, "bench", prefix_of(tool), expected))
                )
                report_progress(rows[-1])
    return rows


def discard_rows(sets: dict, data_root: str, config_dir: str) -> list[Row]:
    rows = []
    with DiscardEndpoint() as discard:
        for scheme in sets:
            url, ca = (discard.https_url, discard.ca_file) if scheme == "https" else (discard.http_url, None)
            endpoint = Endpoint(f"discard ({scheme.upper()})", url, ca, DUMMY_CREDENTIALS)
            for data in sets[scheme]:
                folder = datasets.materialize(data_root, data)
                puts = datasets.expected_puts(folder, PART)
                for tool in tools_for(endpoint, folder, data.slug, config_dir):
                    before = data_requests(discard.requests())
                    usage = run_tool(tool, endpoint, folder)
                    received = data_requests(discard.requests()) - before
                    if received < puts:
                        raise SystemExit(f"{tool.name}: the endpoint received {received} PUTs, expected {puts}")
                    rows.append(Row(endpoint.name, data, tool, usage, f"{received:,} PUTs received"))
                    report_progress(rows[-1])
    return rows


def report_progress(row: Row) -> None:
    gib = row.data.total / GiB
    print(
        f"{row.endpoint} | {row.data.name} | {row.tool.name}: {row.usage.wall:.1f} s, "
        f"{row.data.total / MiB / row.usage.wall:.0f} MiB/s, {row.usage.cpu / gib:.2f} CPU-s/GiB, "
        f"peak {row.usage.peak_anon / MiB:.0f} MiB private; {row.verified}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data sets (under 3 minutes)")
    parser.add_argument("--work", default=".cache/bench", help="where data sets are generated")
    parser.add_argument("--skip", action="append", default=[], choices=SECTIONS)
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        choices=SECTIONS,
        help="run only these sections (e.g. --only small --only floor)",
    )
    args = parser.parse_args()
    compile_bulkup()  # as pip installs it (bench.lib.bytecode)
    if args.only:
        args.skip = [s for s in SECTIONS if s not in args.only]
    big, mib, kib = datasets.FULL
    if args.quick:
        big, mib, kib = big.scaled(size=256 * MiB), mib.scaled(count=300), kib.scaled(count=1500)
        real_sets = (big.scaled(size=128 * MiB), mib.scaled(count=100), kib.scaled(count=500))
    else:
        # The real server bounds these runs (it shares the two cores), so they use a quarter of
        # the data: they show every tool's objects arrive intact, at the server's pace.
        real_sets = (big.scaled(size=GiB), mib.scaled(count=2000), kib.scaled(count=10_000))
    os.makedirs(args.work, exist_ok=True)
    started = time.monotonic()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bulkup-bench-") as config_dir:
        if "real" not in args.skip:
            rows += real_server_rows(real_sets, args.work, config_dir)
        if "discard" not in args.skip:
            rows += discard_rows({"https": (big, mib, kib), "http": (big,)}, args.work, config_dir)
        extra = [] if "small" in args.skip else small_objects_section(args.work, args.quick)
        extra += [] if "floor" in args.skip else floor_section(args.work, args.quick)
        extra += [] if "link" in args.skip else link_section(args.work, args.quick)
        extra += [] if "bwlimit" in args.skip else bwlimit_section(args.work, args.quick)
    floors = floor.floors()
    write_results(rows, floors, extra, time.monotonic() - started, args.quick)
    return 0


SECTIONS = ["real", "discard", "small", "floor", "link", "bwlimit"]


def small_objects_section(work: str, quick: bool) -> list[str]:
    return small_objects.run_small_objects(work, quick, DUMMY_CREDENTIALS)


def floor_section(work: str, quick: bool) -> list[str]:
    return engines_floor.run_engines_floor(work, quick, DUMMY_CREDENTIALS)


def link_section(work: str, quick: bool) -> list[str]:
    return linkbench.run_link_bench(work, quick) + linkbench.run_connections_bench(work, quick)


def bwlimit_section(work: str, quick: bool) -> list[str]:
    return linkbench.run_bwlimit_bench(work, quick)


if __name__ == "__main__":
    sys.exit(main())
