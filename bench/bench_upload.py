"""``make bench``: bulkup against boto3's upload_file, same file, server, part size and concurrency.

Uploads one file (2 GiB by default) over HTTPS to a local SeaweedFS, one tool after the
other, and records wall time, throughput, client CPU-seconds per GiB (the whole process
tree, workers included) and peak memory. Every upload is verified on the server (size and
CRC64NVME against the local file). Results go to bench/results/latest.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from treeusage import Usage, measure  # noqa: E402

from bulkup.checksums import checksum_file  # noqa: E402
from bulkup.devserver import DevServer  # noqa: E402

MiB, GiB = 1 << 20, 1 << 30
HERE = os.path.dirname(os.path.abspath(__file__))


def make_file(path: str, size: int) -> None:
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    import random
    rng = random.Random(7)
    with open(path, "wb") as f:
        for _ in range(size // (16 * MiB)):
            f.write(rng.randbytes(16 * MiB))
        f.write(rng.randbytes(size % (16 * MiB)))


def verified(server: DevServer, bucket: str, key: str, path: str, expected_crc: str) -> str:
    """'size+crc64nvme' when the server's checksum matches, 'size' when it holds none."""
    head = server.client().head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    if head["ContentLength"] != os.path.getsize(path):
        raise SystemExit(f"{key}: wrong size on the server")
    if "ChecksumCRC64NVME" in head:
        if head["ChecksumCRC64NVME"] != expected_crc:
            raise SystemExit(f"{key}: checksum mismatch on the server")
        return "size + CRC64NVME"
    from hashlib import sha256
    digest = sha256()
    for chunk in server.client().get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(8 * MiB):
        digest.update(chunk)
    local = sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            local.update(chunk)
    if digest.digest() != local.digest():
        raise SystemExit(f"{key}: content mismatch on the server")
    return "size + SHA-256 of download"


def tools_for(scheme: str, url: str, path: str, args, part: int, concurrency: int):
    """(row name, settings, object key, command) for every tool runnable against ``url``."""
    from bulkup.engines import ENGINES, path_label
    tls = scheme == "https"
    shape = f"{args.workers} workers x {args.connections} connections, {args.part_size_mib} MiB parts"
    for engine in ENGINES.values():
        if not engine.available(tls):
            continue
        key = f"bulkup-{scheme}-{engine.name}.bin"
        yield (f"bulkup {path_label(engine, tls)} ({scheme})", f"{shape}, CRC64NVME", key,
               [sys.executable, "-m", "bulkup", "put", path, f"s3://bench/{key}", "--endpoint-url", url,
                "--workers", str(args.workers), "--connections", str(args.connections),
                "--part-size", str(part), "--engine", engine.name, "--progress", "none"])
    key = f"boto3-{scheme}.bin"
    yield (f"boto3 upload_file ({scheme})", f"max_concurrency={concurrency}, {args.part_size_mib} MiB parts, "
           "default checksums (CRC32)", key,
           [sys.executable, os.path.join(HERE, "run_boto3.py"), path, "bench", key, url, str(part),
            str(concurrency)])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--part-size-mib", type=int, default=8)
    parser.add_argument("--data", default=".demo/bench")
    args = parser.parse_args()
    os.makedirs(args.data, exist_ok=True)
    path = os.path.join(args.data, "bench.bin")
    size = int(args.size_gib * GiB)
    make_file(path, size)
    expected = checksum_file(path, "crc64nvme")
    part = args.part_size_mib * MiB
    concurrency = args.workers * args.connections
    rows = []
    with DevServer() as server:
        env = {**os.environ, **server.env()}
        server.client().create_bucket(Bucket="bench")
        for scheme, url in (("https", server.https_url), ("http", server.http_url)):
            for name, settings, key, cmd in tools_for(scheme, url, path, args, part, concurrency):
                usage = measure(cmd, env)
                if usage.returncode != 0:
                    raise SystemExit(f"{name} failed:\n{usage.output}")
                rows.append((name, settings, usage, verified(server, "bench", key, path, expected)))
                print(f"{name}: {usage.wall:.1f} s, {usage.cpu / (size / GiB):.2f} CPU-s/GiB", flush=True)
    write_report(rows, size, args)
    return 0


def write_report(rows: list[tuple[str, str, Usage, str]], size: int, args) -> None:
    gib = size / GiB
    scheme_of = lambda name: name.rsplit("(", 1)[-1].rstrip(")")   # noqa: E731
    bases = {}
    for name, _, usage, _ in rows:            # each scheme's first row (bulkup's best engine)
        bases.setdefault(scheme_of(name), usage)
    lines = [
        f"# Upload benchmark ({time.strftime('%Y-%m-%d')})", "",
        f"One {gib:g} GiB file over HTTPS to a local SeaweedFS on 127.0.0.1 (the server shares "
        f"the machine's cores, so throughput is bounded by it). Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}.",
        "CPU is user+system seconds of the whole client process tree. Memory is the tree's peak "
        "private memory (anonymous pages); peak RSS also counts file pages a tool maps, which "
        "belong to the page cache. Ratios are the tool's figure divided by that of bulkup's "
        "best engine on the same scheme (the first row of each).", "",
        "| tool | settings | wall s | MiB/s | client CPU-s/GiB | peak private MiB | peak RSS MiB | "
        "verified | wall ratio | CPU ratio | memory ratio |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name, settings, u, check in rows:
        base = bases[scheme_of(name)]
        lines.append(
            f"| {name} | {settings} | {u.wall:.1f} | {size / MiB / u.wall:.0f} | {u.cpu / gib:.2f} | "
            f"{u.peak_anon / MiB:.0f} | {u.peak_rss / MiB:.0f} | {check} | {u.wall / base.wall:.2f} | "
            f"{u.cpu / base.cpu:.2f} | {u.peak_anon / base.peak_anon:.2f} |")
    report = "\n".join(lines) + "\n"
    out = os.path.join(HERE, "results", "latest.md")
    with open(out, "w") as f:
        f.write(report)
    print(report)


if __name__ == "__main__":
    sys.exit(main())
