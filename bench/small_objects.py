"""Small objects, each tool at its defaults and at its best: the per-request cost users feel.

On the discard endpoint (HTTPS), so the client's own cost shows: 10,000 x 16 KiB with a
sweep of each tool's concurrency setting (users tune that first), then 100,000 x 16 KiB
with each tool's defaults and the setting that was its best on 10,000. Every point is the
better of two runs; the endpoint must have received a PUT for every object.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from bench.lib import datasets
from bench.lib.discard import DiscardEndpoint, data_requests
from bench.lib.tools import Endpoint, Tool, boto3_tool, rclone_tool, s5cmd_tool, with_setting
from bench.lib.treeusage import Usage, measure

KiB, MiB = 1 << 10, 1 << 20
RUNS = 2


@dataclass
class Point:
    tool: Tool
    usage: Usage
    objects: int

    @property
    def rate(self) -> float:
        return self.objects / self.usage.wall

    @property
    def cpu_us(self) -> float:
        return self.usage.cpu / self.objects * 1e6


def bulkup_defaults(endpoint: Endpoint, folder: str, prefix: str) -> Tool:
    import sys

    argv = [
        sys.executable,
        "-m",
        "bulkup",
        "put",
        folder + "/",
        f"s3://{endpoint.bucket}/{prefix}",
        "--endpoint-url",
        endpoint.url,
        "--addressing-style",
        "path",
        "--ca-bundle",
        endpoint.ca_file,
        "--checksum",
        "crc64nvme",
        "--progress",
        "none",
    ]  # the discard endpoint verifies nothing
    return Tool("bulkup put", "defaults", argv, bulkup=True)


def rclone_defaults(endpoint: Endpoint, folder: str, prefix: str) -> Tool:
    tool = rclone_tool(endpoint, folder, prefix, 8 * MiB, 8)
    argv = [a for a in tool.argv]
    for flag in ("--transfers", "--checkers", "--s3-upload-concurrency", "--s3-chunk-size", "--s3-upload-cutoff"):
        i = argv.index(flag)
        del argv[i : i + 2]
    return Tool("rclone copy", "defaults (--transfers 4)", argv, tool.env)


def sweeps(endpoint: Endpoint, folder: str, prefix: str, quick: bool) -> dict[str, list[Tool]]:
    """Per tool: its defaults first, then the sweep points."""
    bulkup = bulkup_defaults(endpoint, folder, f"{prefix}/bulkup/")
    rclone = rclone_defaults(endpoint, folder, f"{prefix}/rclone/")
    s5cmd = s5cmd_tool(endpoint, folder, f"{prefix}/s5cmd/")
    crt = boto3_tool("crt", endpoint, folder, f"{prefix}/crt/", 8 * MiB, 8)
    points = (8, 32) if quick else (8, 16, 32, 64)
    return {
        "bulkup": [bulkup]
        + [
            with_setting(bulkup, ["--connections", str(c)], f"--connections {c} (per worker)")
            for c in ((4, 16) if quick else (4, 8, 16))
        ],
        "rclone": [rclone]
        + [
            with_setting(rclone, ["--transfers", str(n), "--checkers", str(n)], f"--transfers {n} --checkers {n}")
            for n in points
        ],
        "s5cmd": [s5cmd] + [s5cmd_tool(endpoint, folder, f"{prefix}/s5cmd/", workers=n) for n in points],
        "boto3 CRT": [Tool(crt.name, "defaults (its throughput target)", crt.argv, crt.env)],
    }


def best_of(tool: Tool, endpoint: Endpoint, folder: str, discard, objects: int, runs: int) -> Point:
    best = None
    for _ in range(runs):
        datasets.warm(folder)
        before = data_requests(discard.requests())
        usage = measure(tool.argv, {**os.environ, **endpoint.env, **tool.env})
        received = data_requests(discard.requests()) - before
        if usage.returncode != 0 or received < objects:
            raise SystemExit(
                f"{tool.name} ({tool.settings}) failed: exit {usage.returncode}, "
                f"{received} of {objects} PUTs received\n{usage.output[-2000:]}"
            )
        if best is None or usage.wall < best.wall:
            best = usage
    point = Point(tool, best, objects)
    print(
        f"small objects | {objects:,} | {tool.name} ({tool.settings}): {best.wall:.2f} s, "
        f"{point.rate:,.0f} objects/s, {point.cpu_us:.0f} µs CPU/object",
        flush=True,
    )
    return point


def run_small_objects(work: str, quick: bool, credentials: dict[str, str]) -> list[str]:
    counts = (2_000,) if quick else (10_000, 100_000)
    lines: list[str] = []
    with DiscardEndpoint() as discard:
        endpoint = Endpoint("discard (HTTPS)", discard.https_url, discard.ca_file, credentials)
        best_setting: dict[str, Tool] = {}
        for count in counts:
            data = datasets.DataSet(datasets.describe(count, 16 * KiB), f"16kib-{count}x{16 * KiB}", count, 16 * KiB)
            folder = datasets.materialize(work, data)
            tools = sweeps(endpoint, folder, data.slug, quick)
            if count != counts[0]:  # the larger set: defaults, and the best of the sweep
                tools = {
                    name: [group[0]]
                    + ([best_setting[name]] if best_setting[name].settings != group[0].settings else [])
                    for name, group in tools.items()
                }
                tools = {name: [_retarget(t, folder, counts[0], count) for t in group] for name, group in tools.items()}
            points = {
                name: [best_of(t, endpoint, folder, discard, count, 1 if quick else RUNS) for t in group]
                for name, group in tools.items()
            }
            if count == counts[0]:
                best_setting = {name: max(group, key=lambda p: p.rate).tool for name, group in points.items()}
            lines += _section(data, points)
    return lines


def _retarget(tool: Tool, folder: str, old: int, new: int) -> Tool:
    """A sweep point of the smaller set, pointed at the larger set's folder and prefix."""
    old_slug, new_slug = f"16kib-{old}x{16 * KiB}", f"16kib-{new}x{16 * KiB}"
    argv = [a.replace(old_slug, new_slug) for a in tool.argv]
    return Tool(tool.name, tool.settings, argv, tool.env, tool.bulkup)


def _section(data: datasets.DataSet, points: dict[str, list[Point]]) -> list[str]:
    rows = []
    for _name, group in points.items():
        best = max(group, key=lambda p: p.rate)
        for p in group:
            mark = " **best**" if p is best and len(group) > 1 else ""
            rows.append(
                f"| {p.tool.name} | {p.tool.settings}{mark} | {p.usage.wall:.2f} | {p.rate:,.0f} | "
                f"{p.cpu_us:.0f} | {p.usage.peak_anon / MiB:.0f} |"
            )
    ours = points["bulkup"][0]
    peers = [(name, max(group, key=lambda p: p.rate)) for name, group in points.items() if name != "bulkup"]
    top_name, top = max(peers, key=lambda item: item[1].rate)
    lowest_name, lowest = min(peers, key=lambda item: item[1].cpu_us)
    return [
        f"## Small objects, each tool at its defaults and at its best: {data.name} (discard, HTTPS)",
        "",
        "Each figure is the better of two runs; CPU is the client process tree's, per object.",
        "",
        "| tool | settings | wall s | objects/s | client CPU µs/object | peak private MiB |",
        "|---|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"bulkup at its defaults: {ours.rate:,.0f} objects/s, {ours.rate / top.rate:.2f}x the best peer at its "
        f"best ({top_name}, {top.tool.settings}: {top.rate:,.0f}/s), at {ours.cpu_us / top.cpu_us:.2f}x its "
        f"client CPU per object ({ours.cpu_us:.0f} µs against {top.cpu_us:.0f}); the peer using the least "
        f"CPU per object is {lowest_name} ({lowest.tool.settings}) at {lowest.cpu_us:.0f} µs.",
        "",
    ]
