"""``make demo``: a real S3 server on 127.0.0.1, a few GB of sample data, one upload with the
installed ``bulkup`` command (shown as it runs), listed with ``bulkup ls``, verified.

Run with ``python -m devtools.demo [--size-gib N] [--keep]``. The sample data set is made in
``.demo/data`` and removed at the end (``--keep``: left for the next run, which reuses it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shlex
import shutil
import subprocess
import sys

from bulkup.display import human_bytes
from bulkup.transport.filebody import checksum_file
from devtools.s3server import DevServer

MiB = 1024 * 1024


def make_dataset(root: str, total_gib: float) -> list[str]:
    """A mix of large files (multipart) and many small ones (single PUTs)."""
    large = [int(total_gib * 1024 * MiB * share) for share in (0.5, 0.3, 0.15)]
    paths = []
    rng = random.Random(2026)
    for index, size in enumerate(large):
        paths.append(_write(os.path.join(root, "large", f"dataset-{index}.bin"), size, rng))
    for index in range(2000):
        size = rng.choice((0, 100, 4096, 65536, 300_000, 1_000_000))
        paths.append(
            _write(os.path.join(root, "small", f"shard-{index // 100:02d}", f"record {index:04d}.json"), size, rng)
        )
    return paths


def _write(path: str, size: int, rng: random.Random) -> str:
    if os.path.exists(path) and os.path.getsize(path) == size:
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MiB)
            f.write(rng.randbytes(n))
            left -= n
    os.replace(path + ".tmp", path)
    return path


def verify(server: DevServer, bucket: str, root: str, keys: dict[str, str]) -> int:
    """Compare every object's size and server-computed CRC64NVME with the local file."""
    client = server.client()
    bad = 0
    for key, path in keys.items():
        head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        if head["ContentLength"] != os.path.getsize(path) or head.get("ChecksumCRC64NVME") != checksum_file(
            path, "crc64nvme"
        ):
            print(f"MISMATCH {key}", file=sys.stderr)
            bad += 1
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-gib", type=float, default=3.0, help="approximate data set size")
    parser.add_argument("--data", default=".demo/data")
    parser.add_argument("--keep", action="store_true", help="keep the sample data for the next run")
    args = parser.parse_args()
    print(f"Generating the sample data set in {args.data} (about {args.size_gib:g} GiB)...")
    paths = make_dataset(args.data, args.size_gib)
    total = sum(os.path.getsize(p) for p in paths)
    print(f"{len(paths)} files, {human_bytes(total)}. Starting a local S3 server (SeaweedFS, HTTPS, on 127.0.0.1)...")
    try:
        with DevServer() as server:
            server.client().create_bucket(Bucket="demo")
            env = {**os.environ, **server.env()}
            uploaded = _bulkup(env, "put", args.data, "s3://demo/dataset/", "--endpoint-url", server.https_url)
            _bulkup(env, "ls", "s3://demo/dataset/", "--endpoint-url", server.https_url)
            print("Verifying every object's size and CRC64NVME against the local files...")
            keys = {"dataset/" + os.path.relpath(p, args.data): p for p in paths}
            bad = verify(server, "demo", args.data, keys)
    finally:
        _tidy(args.data, args.keep, total)
    ok = uploaded == 0 and bad == 0
    print("Demo OK: every byte verified by the server." if ok else "Demo FAILED.")
    return 0 if ok else 1


def _bulkup(env: dict[str, str], *argv: str) -> int:
    """Run the installed ``bulkup`` as a user would, saying the command first; its status."""
    binary = shutil.which("bulkup", path=os.path.dirname(sys.executable)) or "bulkup"
    shown = os.path.relpath(binary) if binary.startswith(os.getcwd()) else binary
    print(f"\n$ {shlex.join([shown, *argv])}")
    print("  (the demo server's credentials and CA are in the environment: AWS_ACCESS_KEY_ID, AWS_CA_BUNDLE)")
    return subprocess.run([binary, *argv], env=env).returncode


def _tidy(data: str, keep: bool, total: int) -> None:
    """Remove the sample data (or say how much is left, and where). The server's own copy
    lived in a temporary directory, removed with the server."""
    if keep:
        print(f"Left {human_bytes(total)} of sample data in {data} (remove with: rm -rf {data})")
        return
    shutil.rmtree(data, ignore_errors=True)
    with contextlib.suppress(OSError):  # .demo/, when the data was all it held
        os.rmdir(os.path.dirname(os.path.abspath(data)))
    print(f"Removed the sample data ({human_bytes(total)} in {data}); nothing is left behind.")


if __name__ == "__main__":
    sys.exit(main())
