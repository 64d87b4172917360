"""The tools compared, each as the command a user would run, with matched settings.

Every tool gets the same part size and multipart threshold and, where it has one, the same
number of requests in flight. Peers run from their own virtualenv (``.cache/bench-peers``:
the AWS CLI pins its own botocore), as installed by ``make bench``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from bench.lib.paths import PEERS, RUN_BOTO3

MiB = 1 << 20


@dataclass(frozen=True)
class Endpoint:
    """Where a run sends: URL, the CA to trust (None for http), credentials, bucket."""

    name: str
    url: str
    ca_file: str | None
    env: dict[str, str] = field(default_factory=dict)
    bucket: str = "bench"
    prefix_command: tuple[str, ...] = ()  # e.g. ip netns exec NS, for an emulated link


@dataclass(frozen=True)
class Tool:
    name: str
    settings: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    bulkup: bool = False


def bulkup_tool(
    engine: str, label: str, endpoint: Endpoint, folder: str, prefix: str, part: int, workers: int, connections: int
) -> Tool:
    argv = [
        sys.executable,
        "-m",
        "bulkup",
        "put",
        folder + "/",
        f"s3://{endpoint.bucket}/{prefix}",
        "--endpoint-url",
        endpoint.url,
        "--addressing-style",
        "path",
        "--workers",
        str(workers),
        "--connections",
        str(connections),
        "--part-size",
        str(part),
        "--engine",
        engine,
        "--checksum",
        "crc64nvme",
        "--progress",
        "none",
    ]  # the discard endpoint verifies nothing
    if endpoint.ca_file:
        argv += ["--ca-bundle", endpoint.ca_file]
    return Tool(
        f"bulkup {label}",
        f"{workers} workers x {connections} connections, {part // MiB} MiB parts, CRC64NVME",
        argv,
        bulkup=True,
    )


def boto3_tool(kind: str, endpoint: Endpoint, folder: str, prefix: str, part: int, concurrency: int) -> Tool:
    argv = [
        os.path.join(PEERS, "python"),
        RUN_BOTO3,
        kind,
        folder,
        endpoint.bucket,
        prefix,
        endpoint.url,
        str(part),
        str(concurrency),
    ]
    if endpoint.ca_file:
        argv.append(endpoint.ca_file)
    name = "boto3 + CRT transfer client" if kind == "crt" else "boto3 s3transfer (threads)"
    settings = (
        f"awscrt S3 client, {part // MiB} MiB parts, its own concurrency (throughput target)"
        if kind == "crt"
        else f"max_concurrency={concurrency}, {part // MiB} MiB parts, default checksums"
    )
    return Tool(name, settings, argv)


def aws_cli_tool(endpoint: Endpoint, folder: str, prefix: str, part: int, concurrency: int, config_dir: str) -> Tool:
    config = os.path.join(config_dir, "aws-cli.ini")
    with open(config, "w") as f:
        f.write(
            f"[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n"
            f"  multipart_threshold = {part // MiB}MB\n  multipart_chunksize = {part // MiB}MB\n"
            f"  max_concurrent_requests = {concurrency}\n"
        )
    argv = [
        os.path.join(PEERS, "aws"),
        "s3",
        "cp",
        "--recursive",
        "--only-show-errors",
        folder,
        f"s3://{endpoint.bucket}/{prefix}",
        "--endpoint-url",
        endpoint.url,
    ]
    if endpoint.ca_file:
        argv += ["--ca-bundle", endpoint.ca_file]
    return Tool(
        "aws s3 cp --recursive",
        f"max_concurrent_requests={concurrency}, {part // MiB} MiB parts",
        argv,
        {"AWS_CONFIG_FILE": config},
    )


def rclone_tool(endpoint: Endpoint, folder: str, prefix: str, part: int, concurrency: int) -> Tool:
    env = {
        "RCLONE_CONFIG_BENCH_TYPE": "s3",
        "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
        "RCLONE_CONFIG_BENCH_ENDPOINT": endpoint.url,
        "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
        "RCLONE_CONFIG_BENCH_ENV_AUTH": "true",
        "RCLONE_CONFIG_BENCH_REGION": "us-east-1",
    }
    argv = [
        os.path.join(PEERS, "rclone"),
        "copy",
        folder,
        f"bench:{endpoint.bucket}/{prefix.rstrip('/')}",
        "--transfers",
        str(concurrency),
        "--checkers",
        str(concurrency),
        "--s3-upload-concurrency",
        str(concurrency),
        "--s3-chunk-size",
        f"{part // MiB}M",
        "--s3-upload-cutoff",
        f"{part // MiB}M",
        "--s3-no-check-bucket",
        "--s3-no-head",
        "--multi-thread-streams",
        "0",
        "--retries",
        "3",
    ]
    if endpoint.ca_file:
        argv += ["--ca-cert", endpoint.ca_file]
    # --s3-no-head and --multi-thread-streams 0: rclone otherwise reads each object back after
    # uploading it, which the discard endpoint cannot answer (and which costs a request). No
    # --no-traverse: it makes rclone ask about each object (a HEAD) instead of listing once.
    return Tool(
        "rclone copy",
        f"--transfers {concurrency} --s3-upload-concurrency {concurrency}, "
        f"{part // MiB} MiB chunks, --s3-no-head, --multi-thread-streams 0",
        argv,
        env,
    )


def s5cmd_tool(
    endpoint: Endpoint,
    folder: str,
    prefix: str,
    part: int | None = None,
    concurrency: int | None = None,
    workers: int | None = None,
) -> Tool:
    """s5cmd cp: ``workers`` files at once (--numworkers, default 256), ``concurrency`` parts
    of a file at once (default 5); None leaves s5cmd's default."""
    argv = [os.path.join(PEERS, "s5cmd"), "--endpoint-url", endpoint.url]
    argv += ["--numworkers", str(workers)] if workers else []
    argv += ["cp"]
    argv += ["--concurrency", str(concurrency)] if concurrency else []
    argv += ["--part-size", str(part // MiB)] if part else []
    argv += [folder + "/", f"s3://{endpoint.bucket}/{prefix}"]
    env = {"AWS_CA_BUNDLE": endpoint.ca_file} if endpoint.ca_file else {}
    settings = (
        ", ".join(
            s
            for s in (
                f"--numworkers {workers}" if workers else "",
                f"--concurrency {concurrency}" if concurrency else "",
                f"{part // MiB} MiB parts" if part else "",
            )
            if s
        )
        or "defaults"
    )
    return Tool("s5cmd cp", settings, argv, env)


def with_setting(tool: Tool, flags: list[str], settings: str) -> Tool:
    """``tool`` with ``flags`` added before its positional arguments' end (a sweep point)."""
    return Tool(tool.name, settings, [*tool.argv, *flags], tool.env, tool.bulkup)


def rclone_env(env: dict[str, str], url: str, ca_file: str | None = None) -> dict[str, str]:
    """``env`` with an rclone remote named ``b`` for the S3 store at ``url``, credentials from
    the environment (as its users configure it), and no config file read."""
    remote = {
        "RCLONE_CONFIG": os.devnull,
        "RCLONE_CONFIG_B_TYPE": "s3",
        "RCLONE_CONFIG_B_PROVIDER": "Other",
        "RCLONE_CONFIG_B_ENDPOINT": url,
        "RCLONE_CONFIG_B_ENV_AUTH": "true",
    }
    return {**env, **remote, **({"RCLONE_CA_CERT": ca_file} if ca_file else {})}
