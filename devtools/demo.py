"""``make demo``: a real S3 server on 127.0.0.1, a few GB of sample data, one upload, verified.

Run with ``python -m devtools.demo [--size-gib N]``. The sample data set is kept in
``.demo/data`` so a second run does not regenerate it.
"""

from __future__ import annotations

import argparse
import os
import random
import sys

from bulkup import upload
from bulkup.display import human_bytes, make_progress
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
    args = parser.parse_args()
    print(f"Generating the sample data set in {args.data} (about {args.size_gib:g} GiB)...")
    paths = make_dataset(args.data, args.size_gib)
    total = sum(os.path.getsize(p) for p in paths)
    print(f"{len(paths)} files, {human_bytes(total)}. Starting a local S3 server (SeaweedFS, HTTPS)...")
    with DevServer() as server:
        os.environ.update(server.env())
        server.client().create_bucket(Bucket="demo")
        result = upload(args.data, "s3://demo/dataset/", endpoint_url=server.https_url, progress=make_progress("auto"))
        print("Verifying every object's size and CRC64NVME against the local files...")
        keys = {o.key: o.path for o in result.uploaded}
        bad = verify(server, "demo", args.data, keys)
    ok = result.ok and bad == 0 and len(keys) == len(paths)
    print("Demo OK: every byte verified by the server." if ok else "Demo FAILED.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
