"""The comparison's report: a markdown table per endpoint and data set, the floor, a PNG chart."""

from __future__ import annotations

import os
import time
from collections import OrderedDict

from bench.lib import machine
from bench.lib.paths import LATEST_MD, RESULTS

MiB, GiB = 1 << 20, 1 << 30


def groups(rows) -> OrderedDict[tuple[str, str], list]:
    found: OrderedDict = OrderedDict()
    for row in rows:
        found.setdefault((row.endpoint, row.data.name), []).append(row)
    return found


def table(rows) -> list[str]:
    """One group's rows; ratios are each figure divided by the first bulkup row's."""
    base = next(r for r in rows if r.tool.bulkup).usage
    gib = rows[0].data.total / GiB
    lines = [
        "| tool | settings | wall s | MiB/s | client CPU-s/GiB | peak private MiB | peak RSS MiB | "
        "verified | wall ratio | CPU ratio | memory ratio |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        u = row.usage
        lines.append(
            f"| {row.tool.name} | {row.tool.settings} | {u.wall:.1f} | "
            f"{row.data.total / MiB / u.wall:.0f} | {u.cpu / gib:.2f} | {u.peak_anon / MiB:.0f} | "
            f"{u.peak_rss / MiB:.0f} | {row.verified} | {u.wall / base.wall:.2f} | "
            f"{u.cpu / base.cpu:.2f} | {u.peak_anon / max(base.peak_anon, 1):.2f} |"
        )
    return lines


def floor_lines(rows, floors: dict) -> list[str]:
    lines = [
        "## The floor",
        "",
        "What one core here needs per GiB, at the least, to send a GiB over TLS: encrypting it "
        "once (`openssl speed -evp`, 16 KiB records) and, for user-space TLS, copying it once.",
        "",
        "| work | CPU-s/GiB |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {value:.3f} |" if value else f"| {name} | not measured |" for name, value in floors.items()]
    tls_floor = floors.get("aes-256-gcm") or floors.get("aes-128-gcm")
    best = [r for r in rows if r.tool.bulkup and r.endpoint.startswith("discard (HTTPS)")]
    if tls_floor and best:
        row = min(best, key=lambda r: r.usage.cpu / (r.data.total / GiB))
        cpu = row.usage.cpu / (row.data.total / GiB)
        lines += [
            "",
            f"bulkup's best HTTPS figure on the discard endpoint ({row.data.name}, "
            f"{row.tool.name}) is {cpu:.2f} CPU-s/GiB: {cpu / tls_floor:.1f}x the AES-256-GCM floor "
            f"of {tls_floor:.2f}. The rest is TCP, the kernel's copies, checksums and Python.",
        ]
    return lines


def write_results(rows, floors: dict, link_lines: list[str], seconds: float, quick: bool) -> None:
    lines = [
        f"# bulkup against its peers ({time.strftime('%Y-%m-%d')}{', quick' if quick else ''})",
        "",
        f"Machine: {machine.describe()}. The whole run took {seconds / 60:.1f} minutes.",
        "",
        "CPU is user + system seconds of the whole client process tree (children included); "
        "peak private memory is the tree's anonymous resident memory at its largest (peak RSS "
        "also counts mapped file pages, which belong to the page cache). Ratios divide each "
        "tool's figure by the first bulkup row of the same table: above 1 means more time, "
        "CPU or memory than bulkup. Every tool gets 8 MiB parts, an 8 MiB multipart threshold "
        "and 8 requests in flight where it has such settings.",
        "",
        "On the real server, every object of every tool is listed afterwards and its size and "
        "S3 ETag (MD5, or MD5 of part MD5s) compared with what the local files give. The "
        "discard endpoint keeps nothing: it counts the PUTs it received, which must cover "
        "every object and part.",
        "",
    ]
    for (endpoint, data), group in groups(rows).items():
        lines += [f"## {endpoint}: {data}", "", *table(group), ""]
    lines += floor_lines(rows, floors) + [""] + link_lines
    lines += ["", "![throughput and CPU per GiB](latest.png)", ""]
    os.makedirs(RESULTS, exist_ok=True)
    with open(LATEST_MD, "w") as f:
        f.write("\n".join(lines))
    if rows:
        chart(rows, os.path.join(RESULTS, "latest.png"))
    print("\n".join(lines))


def chart(rows, path: str) -> None:
    """Throughput and client CPU per GiB, per tool, for each endpoint and data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouped = groups(rows)
    fig, axes = plt.subplots(len(grouped), 2, figsize=(13, 2.6 * len(grouped)), squeeze=False)
    for i, ((endpoint, data), group) in enumerate(grouped.items()):
        names = [r.tool.name.replace("bulkup ", "bulkup\n") for r in group]
        colors = ["tab:blue" if r.tool.bulkup else "tab:gray" for r in group]
        rate = [r.data.total / MiB / r.usage.wall for r in group]
        cpu = [r.usage.cpu / (r.data.total / GiB) for r in group]
        for ax, values, label in (
            (axes[i][0], rate, "MiB/s (higher is better)"),
            (axes[i][1], cpu, "client CPU-s per GiB (lower is better)"),
        ):
            ax.barh(names, values, color=colors)
            ax.invert_yaxis()
            ax.set_title(f"{endpoint}, {data}: {label}", fontsize=9)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
