"""One small file, the wait a user feels on every command: bulkup put against s5cmd cp.

``python -m bench.one_small_file [--runs 10] [--s5cmd PATH] [--endpoint URL --ca CA]``:
against a SeaweedFS of its own on 127.0.0.1 over HTTPS (or the endpoint given, whose bucket
``exp`` must exist; credentials from the environment), one 4-byte file is put by each tool
in turn, A B A B, ``--runs`` times each, after one put of bulkup's that asks the store what
later runs remember. Wall and CPU (the process and its children) per run, then for each
tool the median, the lowest and the highest, and bulkup's medians against s5cmd's.
``--usual`` runs bulkup the usual way (worker processes, boto3) for comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

from bench.lib.paths import PEERS
from bench.lib.treeusage import Usage, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--s5cmd", default=os.path.join(PEERS, "s5cmd"))
    parser.add_argument("--endpoint", help="an S3 endpoint with a bucket 'exp' (default: a SeaweedFS of our own)")
    parser.add_argument("--ca", help="the endpoint's CA file")
    parser.add_argument("--usual", action="store_true", help="bulkup the usual way (BULKUP_NEVER_IN_PROCESS=1)")
    args = parser.parse_args()
    if args.endpoint:
        compare(args, args.endpoint, args.ca, dict(os.environ))
        return
    from devtools.s3server import DevServer

    with DevServer() as server:
        server.client().create_bucket(Bucket="exp")
        compare(args, server.https_url, server.ca_file, {**os.environ, **server.env()})


def compare(args: argparse.Namespace, url: str, ca: str | None, env: dict[str, str]) -> None:
    work = tempfile.mkdtemp(prefix="bench-one-file-")
    path = os.path.join(work, "tiny.txt")
    with open(path, "wb") as f:
        f.write(b"tiny")
    env = {**env, "BULKUP_CACHE_DIR": os.path.join(work, "cache"), **({"AWS_CA_BUNDLE": ca} if ca else {})}
    if args.usual:
        env["BULKUP_NEVER_IN_PROCESS"] = "1"
    tools = {
        "bulkup put": [sys.executable, "-m", "bulkup", "put", path, "s3://exp/b/", "--endpoint-url", url],
        "s5cmd cp": [args.s5cmd, "--endpoint-url", url, "cp", path, "s3://exp/s/"],
    }
    tools["bulkup put"] += ["--progress", "none"]
    learned = measure(tools["bulkup put"], env)
    assert learned.returncode == 0, learned.output
    runs: dict[str, list[Usage]] = {name: [] for name in tools}
    for _ in range(args.runs):
        for name, argv in tools.items():
            usage = measure(argv, env)
            assert usage.returncode == 0, usage.output
            runs[name].append(usage)
    print(f"one 4-byte file to {url}, {args.runs} runs each, interleaved (first put of bulkup's not counted)")
    print(f"{'tool':<12} {'wall median (min-max)':>24} {'CPU median (min-max)':>24}")
    for name, usages in runs.items():
        print(f"{name:<12} {spread([u.wall for u in usages]):>24} {spread([u.cpu for u in usages]):>24}")
    ratio = [
        statistics.median(u.wall for u in runs["bulkup put"]),
        statistics.median(u.cpu for u in runs["bulkup put"]),
    ]
    base = [statistics.median(u.wall for u in runs["s5cmd cp"]), statistics.median(u.cpu for u in runs["s5cmd cp"])]
    print(f"bulkup / s5cmd: {ratio[0] / base[0]:.2f}x the wall, {ratio[1] / base[1]:.2f}x the CPU (medians)")


def spread(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"


if __name__ == "__main__":
    main()
