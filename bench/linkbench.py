"""The slow, distant link: workers x connections against what one connection can carry.

Client and server sit in two network namespaces joined by an emulated link (bench/link.py:
tbf rate shaping, and a round-trip delay by netem where the kernel has it, otherwise by a
userspace wire between two TUN devices, so TCP still runs end to end and sees the delay).
One TCP connection is limited by its window over the round trip; more connections in
flight fill the link. SeaweedFS runs in the server namespace; every object is checked
there afterwards (size and ETag).
"""
from __future__ import annotations

import os

import datasets
from compare import warm_up
from link import SlowLink
from tools import Endpoint, boto3_tool, bulkup_tool
from treeusage import measure

MiB, GiB = 1 << 20, 1 << 30
PART = 8 * MiB
RATE, RTT_MS = "500mbit", 100.0


def run_link_bench(work: str, quick: bool) -> list[str]:
    from devtools.s3server import DevServer
    size = 128 * MiB if quick else 512 * MiB
    data = datasets.DataSet(datasets.describe(1, size), f"link-{size}", 1, size)
    folder = datasets.materialize(work, data)
    expected = datasets.expected_etags(folder, PART, PART)
    shapes = [(1, 1), (2, 4)] if quick else [(1, 1), (1, 4), (2, 4)]
    rows = []
    with SlowLink(rate=RATE, rtt_ms=RTT_MS) as link:
        with link.in_server():
            server = DevServer(host=link.server_address()).start()
        try:
            with link.in_server():
                client = server.client()
                client.create_bucket(Bucket="bench")
                warm_up(client)
            endpoint = Endpoint("link", server.https_url, server.ca_file, server.env(),
                                prefix_command=tuple(link.client_prefix()))
            tools = [bulkup_tool("userspace", "user-space TLS", endpoint, folder, f"w{w}c{c}/", PART, w, c)
                     for w, c in shapes]
            tools.append(boto3_tool("classic", endpoint, folder, "boto3/", PART, 8))
            for tool in tools:
                datasets.warm(folder)
                stats = link.wire_stats()
                wire_before = stats.get("cpu_seconds", 0.0)
                carried_before = sum(stats.get("bytes", [0, 0]))
                usage = measure([*endpoint.prefix_command, *tool.argv],
                                {**os.environ, **endpoint.env, **tool.env})
                if usage.returncode != 0:
                    raise SystemExit(f"{tool.name} failed across the link:\n{usage.output[-2000:]}")
                prefix = next(a for a in tool.argv if a.startswith("s3://")).split("/", 3)[3] \
                    if tool.bulkup else tool.argv[5]
                with link.in_server():
                    _check(client, prefix, expected)
                stats = link.wire_stats()
                wire = stats.get("cpu_seconds", 0.0) - wire_before
                carried = sum(stats.get("bytes", [0, 0])) - carried_before
                print(f"link | the wire carried {carried / MiB:.0f} MiB for {data.total / MiB:.0f} MiB of objects")
                mbit = data.total * 8 / usage.wall / 1e6
                rows.append(f"| {tool.name} | {tool.settings} | {usage.wall:.1f} | {mbit:.0f} | "
                            f"{mbit / _rate_mbit(RATE):.0%} | {usage.cpu / (data.total / GiB):.2f} | {wire:.1f} |")
                print(f"link | {tool.name} ({tool.settings}): {usage.wall:.1f} s, {mbit:.0f} Mbit/s", flush=True)
        finally:
            with link.in_server():
                server.stop()
        description = link.describe()
    return [f"## A slow, distant link: {data.name}", "",
            f"Link: {description}. Client and server in their own network namespaces; the server "
            "is SeaweedFS over HTTPS, every object checked afterwards (size and ETag). "
            "Mbit/s counts object bytes only.", "",
            "| tool | settings | wall s | Mbit/s | share of the link | client CPU-s/GiB | wire CPU-s |",
            "|---|---|---:|---:|---:|---:|---:|", *rows, ""]


def _check(client, prefix: str, expected: dict) -> None:
    listed = {o["Key"][len(prefix):]: (o["Size"], o["ETag"].strip('"'))
              for o in client.list_objects_v2(Bucket="bench", Prefix=prefix).get("Contents", [])}
    if listed != expected:
        raise SystemExit(f"{prefix}: {listed} on the server, expected {expected}")


def _rate_mbit(rate: str) -> float:
    number = float(rate.rstrip("bitgmk"))
    return number * {"g": 1000, "m": 1, "k": 0.001}[rate.rstrip("bit")[-1].lower()]
