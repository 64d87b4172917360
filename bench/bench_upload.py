"""``make bench-guest``: bulkup's kTLS engines measured inside the emulated kTLS guest kernel.

The host kernel here has no kTLS, so the kTLS+io_uring and kTLS+sendfile paths can only run
in the guest (qemu, software emulation): these rows show that they work and how they compare
with each other there, not real speed. Each upload is verified on the guest's own server
(size and CRC64NVME). Appends a section to bench/results/latest.md. (`make bench` compares
bulkup with its peers on the host: ``python -m bench.compare``.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.lib.results import append_section
from bench.lib.treeusage import Usage, measure
from bulkup.transport.filebody import checksum_file
from devtools.s3server import DevServer

MiB, GiB = 1 << 20, 1 << 30


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
    """(row name, settings, object key, command) for every bulkup engine runnable here."""
    from bulkup.transport.engines import ENGINES, path_label

    tls = scheme == "https"
    shape = f"{args.workers} workers x {args.connections} connections, {args.part_size_mib} MiB parts"
    for engine in ENGINES.values():
        if not engine.available(tls):
            continue
        key = f"bulkup-{scheme}-{engine.name}.bin"
        yield (
            f"bulkup {path_label(engine, tls)} ({scheme})",
            f"{shape}, CRC64NVME",
            key,
            [
                sys.executable,
                "-m",
                "bulkup",
                "put",
                path,
                f"s3://bench/{key}",
                "--endpoint-url",
                url,
                "--workers",
                str(args.workers),
                "--connections",
                str(args.connections),
                "--part-size",
                str(part),
                "--engine",
                engine.name,
                "--progress",
                "none",
            ],
        )


@dataclass
class Row:
    name: str  # ends with "(scheme)": ratios compare rows of the same scheme
    settings: str
    usage: Usage
    verified: str
    size: int


def run_tools(
    schemes: tuple[str, ...], path: str, args, engines: set[str] | None = None, peers: bool = True
) -> list[Row]:
    """Start a server, run every tool for each scheme one after another, verify each upload."""
    size = os.path.getsize(path)
    expected = checksum_file(path, "crc64nvme")
    part = args.part_size_mib * MiB
    rows = []
    with DevServer() as server:
        env = {**os.environ, **server.env()}
        server.client().create_bucket(Bucket="bench")
        for scheme in schemes:
            url = server.https_url if scheme == "https" else server.http_url
            for name, settings, key, cmd in tools_for(scheme, url, path, args, part, args.workers * args.connections):
                is_peer = not name.startswith("bulkup")
                if (is_peer and not peers) or (
                    engines and not is_peer and cmd[cmd.index("--engine") + 1] not in engines
                ):
                    continue
                usage = measure(cmd, env)
                if usage.returncode != 0:
                    raise SystemExit(f"{name} failed:\n{usage.output}")
                rows.append(Row(name, settings, usage, verified(server, "bench", key, path, expected), size))
                print(f"{name}: {usage.wall:.1f} s, {usage.cpu / (size / GiB):.2f} CPU-s/GiB", flush=True)
    return rows


def guest_rows(args) -> list[Row]:
    """The kTLS engines, measured inside the emulated guest kernel (indicative only)."""
    from devtools import guest as devguest

    reason = devguest.missing()
    if reason:
        print(f"no kTLS guest rows: {reason}")
        return []
    with tempfile.TemporaryDirectory(prefix="bulkup-bench-guest-") as out:
        run = devguest.run(
            f"{sys.executable} -u -m bench.bench_upload --inside-guest {out}/rows.json "
            f"--size-gib {args.guest_size_gib} --data /tmp/bench",
            rwdir=Path(out),
        )
        rows_file = Path(out) / "rows.json"
        if not rows_file.exists():
            print(f"kTLS guest run failed (exit {run.returncode}):\n" + run.output[-3000:])
            return []
        return [
            Row(r["name"], r["settings"], Usage(**r["usage"]), r["verified"], r["size"])
            for r in json.loads(rows_file.read_text())
        ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--guest-size-gib", type=float, default=0.25)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--part-size-mib", type=int, default=8)
    parser.add_argument("--data", default=".demo/bench")
    parser.add_argument("--guest-only", action="store_true", help="(the default) run the guest rows")
    parser.add_argument("--inside-guest", metavar="ROWS_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.makedirs(args.data, exist_ok=True)
    path = os.path.join(args.data, "bench.bin")
    make_file(path, int(args.size_gib * GiB))
    if args.inside_guest:
        subprocess.run(["modprobe", "tls"], check=False)
        rows = run_tools(("https",), path, args, engines={"uring", "sendfile", "userspace"}, peers=False)
        for row in rows:
            row.name = row.name.replace("(https)", "(https, emulated kTLS guest)")
        with open(args.inside_guest, "w") as f:
            json.dump([{**asdict(r), "usage": {**asdict(r.usage), "output": ""}} for r in rows], f)
        return 0
    rows = guest_rows(args)
    if rows:
        write_report(rows, args)
    return 0


def write_report(rows: list[Row], args) -> None:
    scheme_of = lambda name: name.rsplit("(", 1)[-1].rstrip(")")  # noqa: E731
    bases = {}
    for row in rows:  # each scheme's first row (bulkup's best engine)
        bases.setdefault(scheme_of(row.name), row.usage)
    lines = [
        "",
        f"## kTLS engines in the emulated guest kernel ({time.strftime('%Y-%m-%d')})",
        "",
        f"One file to SeaweedFS on the guest's loopback, over HTTPS. Host: "
        f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, Python "
        f"{platform.python_version()}, {ssl.OPENSSL_VERSION}.",
        "CPU is user+system seconds of the whole client process tree. Memory is the tree's peak "
        "private memory (anonymous pages); peak RSS also counts file pages a tool maps, which "
        "belong to the page cache. Ratios are the tool's figure divided by that of the first row "
        "of the same scheme.",
        f"Rows marked *emulated kTLS guest* ran inside a kernel with kTLS under qemu's software "
        f"emulation ({args.guest_size_gib:g} GiB file): they show that the kTLS paths work and how "
        "they compare with each other there, not real speed.",
        "",
        "| tool | settings | wall s | MiB/s | client CPU-s/GiB | peak private MiB | peak RSS MiB | "
        "verified | wall ratio | CPU ratio | memory ratio |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        u, base, gib = row.usage, bases[scheme_of(row.name)], row.size / GiB
        lines.append(
            f"| {row.name} | {row.settings} | {u.wall:.1f} | {row.size / MiB / u.wall:.0f} | "
            f"{u.cpu / gib:.2f} | {u.peak_anon / MiB:.0f} | {u.peak_rss / MiB:.0f} | {row.verified} | "
            f"{u.wall / base.wall:.2f} | {u.cpu / base.cpu:.2f} | {u.peak_anon / base.peak_anon:.2f} |"
        )
    append_section(lines)


if __name__ == "__main__":
    sys.exit(main())
