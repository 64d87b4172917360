"""Self-check of bench/lib/discard.py: every benchmarked tool uploads through the discard endpoint.

Starts one endpoint, then has each tool upload a 50 MiB file (multipart, 8 MiB parts) and a
directory of 20 small files, over HTTPS (trusting the endpoint's CA) and plain HTTP. A run
passes when the tool exits 0 and the endpoint saw the requests it should have (the parts,
one Complete, one PutObject per small file) and, over HTTPS, at least the data's bytes.
Prints OK/FAIL per tool and scheme with the request counts; exits 1 if any failed.

    python -m bench.check_discard [--only api,boto3,boto3-crt,aws-cli,rclone,bulkup]
                                  [--scheme https|http] [--peers BIN_DIR] [-v]

The peers (boto3, its CRT client, the AWS CLI, rclone) run from BIN_DIR: by default the peers'
virtualenv that ``make bench`` installs (.cache/bench-peers), else the running interpreter's;
a peer missing there is reported as SKIP. bulkup runs with the running interpreter. The
invocations here are the ones the benchmark should use against the endpoint.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench.lib.discard import DiscardEndpoint
from bench.lib.paths import PEERS

MiB = 1 << 20
BIG = 50 * MiB
PART = 8 * MiB
PARTS = -(-BIG // PART)
SMALL = 20
BUCKET = "bench"
SHA256_X = "LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE="  # of b"x"

# Every tool gets these dummy credentials; nothing else from the caller's AWS setup leaks in.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "discard",
    "AWS_SECRET_ACCESS_KEY": "discard-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_CONFIG_FILE": os.devnull,
}

BOTO3_CLASSIC = r"""
import sys, boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
url, ca, bucket, prefix, *paths = sys.argv[1:]
client = boto3.client("s3", endpoint_url=url, verify=ca if url.startswith("https") else None,
                      config=Config(s3={"addressing_style": "path"}))
config = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=4)
for path in paths:
    client.upload_file(path, bucket, prefix + path.rsplit("/", 1)[-1], Config=config)
"""

# boto3's own CRT route (TransferConfig(preferred_transfer_client="crt")) ignores the client's
# endpoint_url and CA (boto3/crt.py builds its serializer with endpoint_url=None and its CRT
# client without `verify`), so it would go to AWS. s3transfer's CRT pieces, put together by
# hand, take both: this is the same CRTTransferManager upload_file would use. Without the CA
# (verify=None: the system's trust store) the CRT client does not fail: it retries the failing
# TLS handshakes (still at it after 60 s in a test). AWS_CA_BUNDLE is not read on this route.
BOTO3_CRT = r"""
import sys, boto3
import botocore.session
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from s3transfer.crt import (BotocoreCRTCredentialsWrapper, BotocoreCRTRequestSerializer,
                            CRTTransferManager, create_s3_crt_client)
url, ca, bucket, prefix, *paths = sys.argv[1:]
session = botocore.session.Session()
tls = url.startswith("https")
serializer = BotocoreCRTRequestSerializer(session, {
    "region_name": "us-east-1", "endpoint_url": url,
    "config": Config(s3={"addressing_style": "path"})})
credentials = BotocoreCRTCredentialsWrapper(session.get_credentials()).to_crt_credentials_provider()
crt_client = create_s3_crt_client("us-east-1", crt_credentials_provider=credentials,
                                  use_ssl=tls, verify=(ca or None) if tls else None, part_size=8 << 20)
config = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20,
                        max_concurrency=4, preferred_transfer_client="crt")
with CRTTransferManager(crt_client, serializer, config=config) as manager:
    futures = [manager.upload(path, bucket, prefix + path.rsplit("/", 1)[-1]) for path in paths]
    for future in futures:
        future.result()
"""

AWS_CONFIG = """[default]
region = us-east-1
s3 =
  addressing_style = path
  multipart_threshold = 8MB
  multipart_chunksize = 8MB
  max_concurrent_requests = 4
"""


def tool_runs(d: DiscardEndpoint, scheme: str, work: str, big: str, small_dir: str, peers: str):
    """(tool name, [(what, command, env, expected operations)] or None if missing) for every tool."""
    url = d.https_url if scheme == "https" else d.http_url
    tls = scheme == "https"
    big_ops = {"CreateMultipartUpload": 1, "UploadPart": PARTS, "CompleteMultipartUpload": 1}
    small_ops = {"PutObject": SMALL}
    smalls = sorted(os.path.join(small_dir, n) for n in os.listdir(small_dir))
    py = os.path.join(peers, "python")

    yield (
        "boto3",
        [
            ("50 MiB", [py, "-c", BOTO3_CLASSIC, url, d.ca_file, BUCKET, f"boto3-{scheme}/", big], {}, big_ops),
            ("20 files", [py, "-c", BOTO3_CLASSIC, url, d.ca_file, BUCKET, f"boto3-{scheme}/", *smalls], {}, small_ops),
        ],
    )

    yield (
        "boto3-crt",
        [
            ("50 MiB", [py, "-c", BOTO3_CRT, url, d.ca_file, BUCKET, f"crt-{scheme}/", big], {}, big_ops),
            ("20 files", [py, "-c", BOTO3_CRT, url, d.ca_file, BUCKET, f"crt-{scheme}/", *smalls], {}, small_ops),
        ],
    )

    aws = shutil.which("aws", path=peers)
    if aws:
        config = os.path.join(work, "aws-config")
        with open(config, "w") as f:
            f.write(AWS_CONFIG)
        env = {"AWS_CONFIG_FILE": config}
        common = ["--endpoint-url", url, "--no-progress", "--only-show-errors"]
        if tls:
            common += ["--ca-bundle", d.ca_file]
        yield (
            "aws-cli",
            [
                ("50 MiB", [aws, "s3", "cp", big, f"s3://{BUCKET}/aws-{scheme}/big.bin", *common], env, big_ops),
                (
                    "20 files",
                    [aws, "s3", "cp", "--recursive", small_dir, f"s3://{BUCKET}/aws-{scheme}/small/", *common],
                    env,
                    small_ops,
                ),
            ],
        )
    else:
        yield "aws-cli", None

    rclone = shutil.which("rclone", path=peers)
    if rclone:
        # --s3-no-head: rclone HEADs what it uploaded (404 here: "object not found").
        # --multi-thread-streams 0: files from --multi-thread-cutoff (256 MiB) up otherwise go
        #   as a "multi-thread copy", which looks the object up afterwards whatever --s3-no-head
        #   says ("failed to find object after copy"); with 0 they go as the S3 backend's own
        #   multipart upload (same chunk writer, --s3-upload-concurrency parts in flight).
        # --s3-upload-cutoff: the default 200 MiB would send the 50 MiB file in one PUT.
        # --s3-no-check-bucket only saves a CreateBucket (answered 200 anyway).
        env = {
            "RCLONE_CONFIG": os.devnull,  # no config file: the remote comes from the environment
            "RCLONE_CONFIG_BENCH_TYPE": "s3",
            "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
            "RCLONE_CONFIG_BENCH_ENV_AUTH": "false",
            "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": "discard",
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": "discard-secret",
            "RCLONE_CONFIG_BENCH_REGION": "us-east-1",
            "RCLONE_CONFIG_BENCH_ENDPOINT": url,
            "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
        }
        common = [
            "--s3-no-check-bucket",
            "--s3-no-head",
            "--s3-upload-cutoff",
            "8M",
            "--s3-chunk-size",
            "8M",
            "--s3-upload-concurrency",
            "4",
            "--transfers",
            "4",
            "--multi-thread-streams",
            "0",
            "--retries",
            "1",
            "--low-level-retries",
            "1",
            "-q",
        ]
        if tls:
            common += ["--ca-cert", d.ca_file]
        yield (
            "rclone",
            [
                ("50 MiB", [rclone, "copy", big, f"bench:{BUCKET}/rclone-{scheme}/", *common], env, big_ops),
                (
                    "20 files",
                    [rclone, "copy", small_dir, f"bench:{BUCKET}/rclone-{scheme}/small/", *common],
                    env,
                    small_ops,
                ),
            ],
        )
    else:
        yield "rclone", None

    bulkup = [
        sys.executable,
        "-m",
        "bulkup",
        "put",
        "--endpoint-url",
        url,
        "--addressing-style",
        "path",
        "--part-size",
        str(PART),
        "--workers",
        "2",
        "--connections",
        "2",
        "--checksum",
        "crc64nvme",
        "--progress",
        "none",
    ]
    if tls:
        bulkup += ["--ca-bundle", d.ca_file]
    yield (
        "bulkup",
        [
            ("50 MiB", [*bulkup, big, f"s3://{BUCKET}/bulkup-{scheme}/"], {}, big_ops),
            ("20 files", [*bulkup, small_dir, f"s3://{BUCKET}/bulkup-{scheme}/"], {}, small_ops),
        ],
    )


def make_data(work: str) -> tuple[str, str]:
    big = os.path.join(work, "big.bin")
    with open(big, "wb") as f:
        for _ in range(BIG // MiB):
            f.write(os.urandom(MiB))
    small_dir = os.path.join(work, "small")
    os.makedirs(small_dir)
    for i in range(SMALL):
        with open(os.path.join(small_dir, f"f{i:02d}.bin"), "wb") as f:
            f.write(os.urandom(1000 + i * 37_000))
    return big, small_dir


def count(entries) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.operation] = counts.get(entry.operation, 0) + 1
    return counts


def _answered_calls(c) -> dict:
    """Each S3 call the endpoint must answer, with the check of its answer."""
    return {
        "HeadBucket": lambda: (
            c.head_bucket(Bucket=BUCKET)["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
        ),
        "GetBucketLocation": lambda: c.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] is None,
        "CreateBucket": lambda: c.create_bucket(Bucket=BUCKET) is not None,
        "ListObjectsV2": lambda: c.list_objects_v2(Bucket=BUCKET, Prefix="a/")["KeyCount"] == 0,
        "ListObjects": lambda: "Contents" not in c.list_objects(Bucket=BUCKET),
        "ListMultipartUploads": lambda: "Uploads" not in c.list_multipart_uploads(Bucket=BUCKET),
        "PutObject": lambda: bool(c.put_object(Bucket=BUCKET, Key="k", Body=b"x")["ETag"]),
        # A checksum sent as a header (not as an aws-chunked trailer) comes back.
        "PutObject echo": lambda: (
            c.put_object(Bucket=BUCKET, Key="k", Body=b"x", ChecksumSHA256=SHA256_X)["ChecksumSHA256"] == SHA256_X
        ),
        "CreateMultipartUpload": lambda: (
            c.create_multipart_upload(
                Bucket=BUCKET, Key="k", ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT"
            )["UploadId"]
            == "discard-upload"
        ),
        "UploadPart": lambda: bool(
            c.upload_part(Bucket=BUCKET, Key="k", UploadId="u", PartNumber=1, Body=b"x" * 1000)["ETag"]
        ),
        "CompleteMultipartUpload": lambda: (
            c.complete_multipart_upload(
                Bucket=BUCKET,
                Key="k",
                UploadId="u",
                ChecksumType="FULL_OBJECT",
                ChecksumCRC64NVME="AAAAAAAAAAA=",
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]},
            )["ChecksumCRC64NVME"]
            == "AAAAAAAAAAA="
        ),
        "AbortMultipartUpload": lambda: (
            c.abort_multipart_upload(Bucket=BUCKET, Key="k", UploadId="u")["ResponseMetadata"]["HTTPStatusCode"] == 204
        ),
        "DeleteObject": lambda: c.delete_object(Bucket=BUCKET, Key="k") is not None,
    }


def api_check(d: DiscardEndpoint) -> list[str]:
    """Every S3 call the endpoint answers, through boto3's parsers: what went wrong."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    problems = []
    for url in (d.https_url, d.http_url):
        c = boto3.client(
            "s3",
            endpoint_url=url,
            verify=d.ca_file,
            region_name="us-east-1",
            aws_access_key_id="discard",
            aws_secret_access_key="discard-secret",
            config=Config(s3={"addressing_style": "path"}),
        )
        calls = _answered_calls(c)
        for name, call in calls.items():
            try:
                if not call():
                    problems.append(f"{name} ({url[:5]}): unexpected answer")
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{name} ({url[:5]}): {exc}")
        for name, call in {
            "HeadObject": functools.partial(c.head_object, Bucket=BUCKET, Key="k"),
            "GetObject": functools.partial(c.get_object, Bucket=BUCKET, Key="k"),
        }.items():
            try:
                call()
                problems.append(f"{name} ({url[:5]}): found an object")
            except ClientError as exc:
                if exc.response["ResponseMetadata"]["HTTPStatusCode"] != 404:
                    problems.append(f"{name} ({url[:5]}): {exc}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="comma-separated tools")
    parser.add_argument("--scheme", choices=("https", "http"))
    parser.add_argument(
        "--peers",
        default=PEERS if os.path.isdir(PEERS) else os.path.dirname(sys.executable),
        help="bin directory of the peers' virtualenv (default: %(default)s)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    failed = 0
    with tempfile.TemporaryDirectory(prefix="bulkup-discard-check-") as work:
        big, small_dir = make_data(work)
        data_bytes = {
            "50 MiB": BIG,
            "20 files": sum(os.path.getsize(os.path.join(small_dir, n)) for n in os.listdir(small_dir)),
        }
        with DiscardEndpoint() as d:
            print(
                f"nginx started in {d.startup_seconds * 1000:.0f} ms: {d.https_url} {d.http_url}; "
                f"peers from {args.peers}"
            )
            if not only or "api" in only:
                problems = api_check(d)
                failed += bool(problems)
                print(
                    f"{'FAIL' if problems else 'OK':4} api: every S3 call through boto3's parsers"
                    + (f"  <- {'; '.join(problems)}" if problems else ""),
                    flush=True,
                )
            for scheme in ("https", "http"):
                if args.scheme and scheme != args.scheme:
                    continue
                for tool, runs in tool_runs(d, scheme, work, big, small_dir, args.peers):
                    if only and tool not in only:
                        continue
                    if runs is None:
                        print(f"SKIP {tool} ({scheme}): not installed")
                        continue
                    for what, cmd, extra_env, expected in runs:
                        env = {**os.environ, **AWS_ENV, **extra_env}
                        logged, read_before = len(d.log()), d.bytes_read()
                        began = time.monotonic()
                        run = subprocess.run(
                            cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300
                        )
                        wall = time.monotonic() - began
                        entries = d.log()[logged:]
                        seen = count(entries)
                        conns = len({e.connection for e in entries})
                        read = d.bytes_read() - read_before
                        problems = []
                        if run.returncode != 0:
                            problems.append(f"exit {run.returncode}")
                        for op, n in expected.items():
                            if seen.get(op, 0) != n:
                                problems.append(f"{op}: {seen.get(op, 0)} != {n}")
                        if seen.get("Unsupported"):
                            problems.append("unsupported requests")
                        if any(e.status >= 400 and e.operation != "HeadObject" for e in entries):
                            problems.append("error statuses")
                        if scheme == "https" and read < data_bytes[what]:
                            problems.append(f"nginx read {read} bytes < {data_bytes[what]}")
                        status = "FAIL" if problems else "OK"
                        failed += bool(problems)
                        extra = f"; read {read / MiB:.1f} MiB" if scheme == "https" else ""
                        print(
                            f"{status:4} {tool} ({scheme}) {what}: {wall:.1f} s, {seen}, "
                            f"{conns} connections{extra}" + (f"  <- {', '.join(problems)}" if problems else ""),
                            flush=True,
                        )
                        if problems or args.verbose:
                            output = (run.stdout + run.stderr).strip()
                            if output:
                                print("    " + "\n    ".join(output.splitlines()[-15:]))
            statuses = {}
            for entry in d.log():
                statuses[entry.status] = statuses.get(entry.status, 0) + 1
            print(f"all requests: {d.requests()}\nstatuses: {statuses}; nginx CPU {d.nginx_cpu_seconds():.2f} s")
    print("discard endpoint check: " + ("all OK" if not failed else f"{failed} FAILED"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
