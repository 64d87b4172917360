"""The slow, distant link: workers x connections against what one connection can carry.

Client and server sit in two network namespaces joined by an emulated link (bench/lib/link.py:
tbf rate shaping, and a round-trip delay by netem where the kernel has it, otherwise by a
userspace wire between two TUN devices, so TCP still runs end to end and sees the delay).
One TCP connection is limited by its window over the round trip; more connections in
flight fill the link. SeaweedFS runs in the server namespace; every object is checked
there afterwards (size and ETag).
"""

from __future__ import annotations

import json
import os

from bench.lib import datasets
from bench.lib.link import SlowLink
from bench.lib.seaweedfs import warm_up
from bench.lib.tools import Endpoint, Tool, boto3_tool, bulkup_tool
from bench.lib.treeusage import measure

MiB, GiB = 1 << 20, 1 << 30
PART = 8 * MiB
RATE, RTT_MS = "500mbit", 100.0


def run_link_bench(work: str, quick: bool) -> list[str]:
    """Workers x connections against what one connection can carry (its window over the RTT)."""
    size = 128 * MiB if quick else 512 * MiB
    shapes = [(1, 1), (2, 4)] if quick else [(1, 1), (1, 4), (2, 4)]

    def plan(endpoint, data_of):
        data, folder = data_of(size)
        runs = [
            (bulkup_tool("userspace", "user-space TLS", endpoint, folder, f"w{w}c{c}/", PART, w, c), data)
            for w, c in shapes
        ]
        runs = [(Tool(t.name, t.settings, _json_progress(t.argv), t.env, True), d) for t, d in runs]
        return runs + [(boto3_tool("classic", endpoint, folder, "boto3/", PART, 8), data)]

    return _across_link(work, SlowLink(rate=RATE, rtt_ms=RTT_MS), plan, "A slow, distant link")


def run_connections_bench(work: str, quick: bool) -> list[str]:
    """A link whose connections are each capped at 1/16 of it (as S3 serves each connection a
    fraction of a big NIC): bulkup's connections sized from --target-throughput against a
    fixed 2 per worker, and one connection alone (on less data: it is slow)."""
    cap = f"{_rate_mbit(RATE) / 16:g}mbit"

    def plan(endpoint, data_of):
        small, small_folder = data_of(32 * MiB if quick else 64 * MiB)
        large, folder = data_of(256 * MiB if quick else GiB)
        one = bulkup_tool("userspace", "user-space TLS", endpoint, small_folder, "one/", PART, 1, 1)
        fixed = bulkup_tool("userspace", "user-space TLS", endpoint, folder, "fixed/", PART, 2, 2)
        sized = bulkup_tool("userspace", "user-space TLS", endpoint, folder, "sized/", PART, 2, 2)
        at = sized.argv.index("--connections")
        runs = [
            (Tool(one.name, "1 worker x 1 connection: one connection's cap", one.argv, one.env, True), small),
            (Tool(fixed.name, "2 workers x 2 connections (the old default)", fixed.argv, fixed.env, True), large),
            (
                Tool(
                    sized.name,
                    "2 workers, connections from --target-throughput (default 10 Gbit/s)",
                    sized.argv[:at] + sized.argv[at + 2 :],
                    sized.env,
                    True,
                ),
                large,
            ),
        ]
        return [(Tool(t.name, t.settings, _json_progress(t.argv), t.env, True), data) for t, data in runs]

    return _across_link(
        work,
        SlowLink(rate=RATE, rtt_ms=RTT_MS, per_connection=cap),
        plan,
        "Connections that scale: each connection capped at 1/16 of the link",
    )


def run_bwlimit_bench(work: str, quick: bool) -> list[str]:
    """--bwlimit kept over ~30 s: well below what the link carries (100 of 500 Mbit/s), and
    above it (1 Gbit/s: the link is the limit)."""
    seconds = 10 if quick else 30

    def plan(endpoint, data_of):
        runs = []
        for limit_mbit in (100, 1000):
            size = int(min(limit_mbit, _rate_mbit(RATE)) * 1e6 / 8 * seconds) // MiB * MiB
            data, folder = data_of(size)
            tool = bulkup_tool("userspace", "user-space TLS", endpoint, folder, f"bw{limit_mbit}/", PART, 2, 2)
            at = tool.argv.index("--connections")
            argv = tool.argv[:at] + tool.argv[at + 2 :] + ["--bwlimit", f"{limit_mbit}Mbit"]
            runs.append(
                (
                    Tool(
                        tool.name,
                        f"--bwlimit {limit_mbit}Mbit, default connections",
                        _json_progress(argv),
                        tool.env,
                        True,
                    ),
                    data,
                )
            )
        return runs

    return _across_link(
        work, SlowLink(rate=RATE, rtt_ms=RTT_MS), plan, f"A bandwidth limit kept (--bwlimit), over ~{seconds} s"
    )


def _json_progress(argv: list[str]) -> list[str]:
    at = argv.index("--progress")
    return argv[: at + 1] + ["json"] + argv[at + 2 :]


def _across_link(work: str, link: SlowLink, plan, title: str) -> list[str]:
    """Run ``plan(endpoint, data_of)``'s (tool, data set) pairs across ``link``; a table."""
    from devtools.s3server import DevServer

    made: dict[int, tuple[datasets.DataSet, str]] = {}

    def data_of(size: int) -> tuple[datasets.DataSet, str]:
        if size not in made:
            data = datasets.DataSet(datasets.describe(1, size), f"link-{size}", 1, size)
            made[size] = (data, datasets.materialize(work, data))
        return made[size]

    rows = []
    with link:
        with link.in_server():
            server = DevServer(host=link.server_address()).start()
        try:
            with link.in_server():
                client = server.client()
                client.create_bucket(Bucket="bench")
                warm_up(client)
            endpoint = Endpoint(
                "link", server.https_url, server.ca_file, server.env(), prefix_command=tuple(link.client_prefix())
            )
            for tool, data in plan(endpoint, data_of):
                folder = made[data.size][1]
                datasets.warm(folder)
                stats = link.wire_stats()
                wire_before = stats.get("cpu_seconds", 0.0)
                carried_before = sum(stats.get("bytes", [0, 0]))
                usage = measure([*endpoint.prefix_command, *tool.argv], {**os.environ, **endpoint.env, **tool.env})
                if usage.returncode != 0:
                    raise SystemExit(f"{tool.name} failed across the link:\n{usage.output[-2000:]}")
                prefix = (
                    next(a for a in tool.argv if a.startswith("s3://")).split("/", 3)[3]
                    if tool.bulkup
                    else tool.argv[5]
                )
                with link.in_server():
                    _check(client, prefix, datasets.expected_etags(folder, PART, PART))
                stats = link.wire_stats()
                wire = stats.get("cpu_seconds", 0.0) - wire_before
                carried = sum(stats.get("bytes", [0, 0])) - carried_before
                print(f"link | the wire carried {carried / MiB:.0f} MiB for {data.total / MiB:.0f} MiB of objects")
                mbit = data.total * 8 / usage.wall / 1e6
                sustained = _sustained_mbit(usage.output)
                held = f"{sustained:.0f} | {sustained / _rate_mbit(RATE):.0%}" if sustained else " | "
                rows.append(
                    f"| {tool.name} | {tool.settings} | {data.name} | {usage.wall:.1f} | {mbit:.0f} | "
                    f"{mbit / _rate_mbit(RATE):.0%} | {held} | {data.total / carried:.1%} | "
                    f"{usage.cpu / (data.total / GiB):.2f} | {wire:.1f} |"
                )
                print(f"link | {tool.name} ({tool.settings}): {usage.wall:.1f} s, {mbit:.0f} Mbit/s", flush=True)
        finally:
            with link.in_server():
                server.stop()
        description = link.describe()
    return [
        f"## {title}",
        "",
        f"Link: {description}. Client and server in their own network namespaces; the server "
        "is SeaweedFS over HTTPS, every object checked afterwards (size and ETag). "
        "Mbit/s counts object bytes only, over the whole run (start and handshakes included).",
        "",
        '"Sustained" is the rate over the middle 80% of the bytes (from 10% sent to 90% sent, '
        "from bulkup's JSON progress events): the link's use once every connection is under way, "
        "without the start (process, store probe, handshakes, slow start) and the last parts. "
        '"Payload share" is object bytes over the stream bytes the wire relayed both ways (TLS records, '
        "HTTP heads and answers take the rest): no tool can use more of the link than that.",
        "",
        "| tool | settings | data | wall s | Mbit/s | share of the link | sustained Mbit/s | "
        "sustained share | payload share | client CPU-s/GiB | wire CPU-s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ]


def _sustained_mbit(output: str) -> float | None:
    """Mbit/s over the middle 80% of the bytes, from bulkup's JSON progress events (times
    interpolated between events); None if the run printed too few."""
    points = [(0.0, 0)]
    for line in output.splitlines():
        if line.startswith("{") and '"progress"' in line:
            event = json.loads(line)
            points.append((event["time"], event["bytes_sent"]))
    total = points[-1][1]
    if len(points) < 4 or not total:
        return None
    start, end = _time_at(points, 0.1 * total), _time_at(points, 0.9 * total)
    return 0.8 * total * 8 / (end - start) / 1e6 if end > start else None


def _time_at(points: list[tuple[float, int]], sent: float) -> float:
    """When ``sent`` bytes had been sent, interpolated between progress events."""
    for (t0, b0), (t1, b1) in zip(points, points[1:], strict=False):
        if b1 >= sent:
            return t0 + (t1 - t0) * (sent - b0) / (b1 - b0) if b1 > b0 else t1
    return points[-1][0]


def _check(client, prefix: str, expected: dict) -> None:
    listed = {
        o["Key"][len(prefix) :]: (o["Size"], o["ETag"].strip('"'))
        for o in client.list_objects_v2(Bucket="bench", Prefix=prefix).get("Contents", [])
    }
    if listed != expected:
        raise SystemExit(f"{prefix}: {listed} on the server, expected {expected}")


def _rate_mbit(rate: str) -> float:
    number = float(rate.rstrip("bitgmk"))
    return number * {"g": 1000, "m": 1, "k": 0.001}[rate.rstrip("bit")[-1].lower()]
