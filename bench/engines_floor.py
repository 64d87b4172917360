"""Each engine on one large file against the floor measured in the same run.

Plain HTTP: the floor is one process sending the file with one sendfile(2) after a CRC64NVME
pass (``floor_upload.py sendfile``); bulkup runs with each engine. HTTPS (user-space TLS):
the floor is one process writing the file through Python's ``ssl`` from an mmap in 1 MiB
writes after the CRC pass. bulkup's fixed cost (starting, asking the store, one 16 KiB
object) is measured too, so the per-GiB cost of the engines themselves shows. Every figure
is the better of two runs, on the discard endpoint.
"""

from __future__ import annotations

import os
import sys

from bench.lib import datasets
from bench.lib.discard import DiscardEndpoint
from bench.lib.paths import FLOOR_UPLOAD
from bench.lib.tools import Endpoint, bulkup_tool
from bench.lib.treeusage import Usage, measure

MiB, GiB = 1 << 20, 1 << 30
RUNS = 2


def _best(argv: list[str], env: dict[str, str], folder: str, runs: int) -> Usage:
    best = None
    for _ in range(runs):
        datasets.warm(folder)
        usage = measure(argv, env)
        if usage.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:4])} failed:\n{usage.output[-2000:]}")
        if best is None or usage.cpu < best.cpu:
            best = usage
    return best


def run_engines_floor(work: str, quick: bool, credentials: dict[str, str]) -> list[str]:
    from bulkup.transport.engines import ENGINES, choose_engine, path_label

    size = 512 * MiB if quick else 2 * GiB
    data = datasets.DataSet(datasets.describe(1, size), f"floor-{size}", 1, size)
    folder = datasets.materialize(work, data)
    path = datasets.files(folder)[0]
    tiny = datasets.materialize(work, datasets.DataSet(datasets.describe(1, 16 * 1024), "tiny-1x16384", 1, 16 * 1024))
    runs = 1 if quick else RUNS
    env = {**os.environ, **credentials}
    lines = []
    with DiscardEndpoint() as discard:
        for scheme in ("http", "https"):
            url, ca = (discard.http_url, None) if scheme == "http" else (discard.https_url, discard.ca_file)
            endpoint = Endpoint(f"discard ({scheme.upper()})", url, ca, credentials)
            mode = "sendfile" if scheme == "http" else "tls"
            floor_argv = [sys.executable, FLOOR_UPLOAD, mode, url, path] + ([ca] if ca else [])
            floor = _best(floor_argv, env, folder, runs)
            floor_cpu = floor.cpu / (size / GiB)
            fixed = _best(bulkup_tool("userspace", "", endpoint, tiny, "fixed/", 8 * MiB, 2, 4).argv, env, tiny, runs)
            default, _ = choose_engine("auto", scheme == "https")
            rows = [
                f"| floor: {'one sendfile' if mode == 'sendfile' else 'Python ssl from an mmap'} + CRC64NVME "
                f"| 1 connection | {floor.wall:.2f} | {size / MiB / floor.wall:.0f} | {floor_cpu:.3f} | 1.00 | |"
            ]
            if mode == "sendfile":  # over loopback, writing from a map beats sendfile: say so
                written = _best(floor_argv[:2] + ["write"] + floor_argv[3:], env, folder, runs)
                cpu = written.cpu / (size / GiB)
                rows.append(
                    f"| writes from an mmap + CRC64NVME | 1 connection | {written.wall:.2f} | "
                    f"{size / MiB / written.wall:.0f} | {cpu:.3f} | {cpu / floor_cpu:.2f} | |"
                )
            for engine in ENGINES.values():
                if not engine.available(scheme == "https"):
                    continue
                tool = bulkup_tool(
                    engine.name,
                    path_label(engine, scheme == "https"),
                    endpoint,
                    folder,
                    f"{engine.name}/",
                    8 * MiB,
                    2,
                    4,
                )
                usage = _best(tool.argv, env, folder, runs)
                cpu = usage.cpu / (size / GiB)
                marginal = (usage.cpu - fixed.cpu) / (size / GiB)
                chosen = " (default here)" if engine is default else ""
                rows.append(
                    f"| bulkup {tool.name.removeprefix('bulkup ')}{chosen} | 2 workers x 4 connections | "
                    f"{usage.wall:.2f} | {size / MiB / usage.wall:.0f} | {cpu:.3f} | {cpu / floor_cpu:.2f} | "
                    f"{marginal / floor_cpu:.2f} |"
                )
                print(
                    f"floor | {scheme} | {tool.name}: {usage.wall:.2f} s, {cpu:.3f} CPU-s/GiB = "
                    f"{cpu / floor_cpu:.2f}x the floor ({floor_cpu:.3f}); {marginal / floor_cpu:.2f}x "
                    f"without the fixed {fixed.cpu:.2f} CPU-s",
                    flush=True,
                )
            lines += [
                f"## One {data.name} against its floor: discard, {scheme.upper()}",
                "",
                f"bulkup's fixed cost (start, ask the store, one 16 KiB object, stop): {fixed.cpu:.2f} CPU-s, "
                f'{fixed.wall:.2f} s. "Ratio" divides by the floor; "without fixed" first takes the '
                f"fixed cost away.",
                "",
                "| run | settings | wall s | MiB/s | client CPU-s/GiB | ratio | ratio without fixed |",
                "|---|---|---:|---:|---:|---:|---:|",
                *rows,
                "",
            ]
    return lines
