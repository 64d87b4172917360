"""Every option of bulkup, declared once (see ``options.registry``).

``UploadOptions`` is what every uploading command and the Python API take; ``SyncOptions``,
``MigrateOptions`` and ``OutputOptions`` are the options only some commands have. The
object attributes among ``UploadOptions``' fields (``--cache-control``, ``--tags``, ...) are
made from ``plan.attributes.ATTRIBUTES``, where each is declared.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from bulkup.display import CHOICES as PROGRESS_CHOICES
from bulkup.options import values
from bulkup.options.registry import CONNECTING, TREES, UPLOADING, Group, number, option, whole
from bulkup.plan.attributes import ATTRIBUTES
from bulkup.plan.checksums import ALGORITHMS, AUTO, DEFAULT_ALGORITHM
from bulkup.plan.parts import DEFAULT_PART_SIZE, MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_SIZE, MIN_PART_SIZE, MiB
from bulkup.transport.engines import ENGINES

DEFAULT_TARGET_GBPS = 10.0  # as the AWS CRT's default throughput target
PER_CONNECTION_GBPS = 0.5  # what S3 serves one connection, roughly (0.4-0.7)
ADDRESSING = ("auto", "path", "virtual")
PUT = frozenset({"put"})


def _addressing(text: str, options: Any) -> str:
    if text not in ADDRESSING:
        raise ValueError(f"addressing_style must be auto, path or virtual, not {text!r}")
    return text


def _concurrent_requests(text: str, options: Any) -> int:
    """max_concurrent_requests counts requests in flight in all: per worker, rounded up."""
    total = values.count(text)
    if total < 1:
        raise ValueError(f"max_concurrent_requests must be at least 1, not {total}")
    return max(1, math.ceil(total / (options.workers or os.cpu_count() or 1)))


def _with_attributes(cls: type) -> type:
    """Add a field for each object attribute of plan.attributes (before @dataclass sees them)."""
    for attribute in ATTRIBUTES:
        cls.__annotations__[attribute.option] = "str | None"
        setattr(
            cls,
            attribute.option,
            option(
                flags=(attribute.flag,),
                help=attribute.help,
                group=Group.ATTRIBUTES,
                commands=UPLOADING,
                metavar=None if attribute.choices else attribute.metavar,
                choices=attribute.choices,
            ),
        )
    return cls


@dataclass
@_with_attributes
class UploadOptions:
    """Everything the uploading commands accept, with the same defaults (the object
    attributes of plan.attributes are fields too: ``cache_control``, ``tags``, ...)."""

    # -- where to
    endpoint_url: str | None = option(
        flags=("--endpoint-url",),
        parse=values.endpoint,
        group=Group.DESTINATION,
        commands=CONNECTING,
        metavar="URL",
        help="an S3-compatible endpoint (default: AWS)",
    )
    region: str | None = option(
        flags=("--region",),
        group=Group.DESTINATION,
        commands=CONNECTING,
        help="the region to sign for (default: the profile's, else us-east-1)",
    )
    profile: str | None = option(
        flags=("--profile",),
        group=Group.DESTINATION,
        commands=CONNECTING,
        help="the AWS profile for credentials and s3 settings",
    )
    addressing_style: str = option(
        AUTO,
        flags=("--addressing-style",),
        choices=ADDRESSING,
        group=Group.DESTINATION,
        commands=CONNECTING,
        aws="addressing_style",
        from_aws=_addressing,
        help="bucket in the host name or in the path",
    )
    ca_bundle: str | None = option(
        flags=("--ca-bundle",),
        group=Group.DESTINATION,
        commands=CONNECTING,
        metavar="FILE",
        help="PEM file of CA certificates to trust",
    )
    verify_ssl: bool = option(
        True,
        flags=("--no-verify-ssl",),
        action="store_false",
        group=Group.DESTINATION,
        commands=CONNECTING,
        shown_default="verified",
        help="do not verify TLS certificates (insecure; warns)",
    )
    tls_max_version: str | None = option(
        flags=("--tls-max-version",),
        choices=("1.2", "1.3"),
        group=Group.DESTINATION,
        commands=UPLOADING,
        help="highest TLS version to offer (kernels offload TLS 1.2 receive too)",
    )
    ray: str | None = option(
        flags=("--ray",),
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        group=Group.DESTINATION,
        commands=UPLOADING,
        help="send from the nodes of a Ray cluster (ADDRESS, default: RAY_ADDRESS or the cluster started on this "
        "machine); needs pip install 'bulkup[ray]'",
    )
    ray_require_tls: bool = option(
        False,
        flags=("--ray-require-tls",),
        action="store_true",
        group=Group.DESTINATION,
        commands=UPLOADING,
        help="with --ray: refuse a cluster that runs without TLS (RAY_USE_TLS), whose other nodes would receive "
        "the credentials in clear",
    )

    # -- what to send
    follow_symlinks: bool = option(
        True,
        flags=("--no-follow-symlinks",),
        action="store_false",
        group=Group.SOURCE,
        commands=TREES,
        shown_default="followed",
        help="skip symbolic links instead of uploading what they point to",
    )
    filters: list[tuple[str, str]] = option(
        [],
        flags=("--exclude", "--include"),
        action="filter",
        metavar="PATTERN",
        group=Group.SOURCE,
        commands=TREES,
        help="leave out (--exclude) or take back (--include) files whose path below SRC matches "
        "PATTERN (* ? [..], '*' also matches '/'); repeatable, the last that matches decides, as the AWS CLI",
    )
    dry_run: bool = option(
        False,
        flags=("--dry-run", "--dryrun"),
        action="store_true",
        group=Group.SOURCE,
        commands=UPLOADING,
        help="show what would be sent (and deleted); send nothing (--dryrun: the AWS CLI's spelling)",
    )
    recursive: bool = option(
        False,
        flags=("--recursive",),
        action="store_true",
        group=Group.SOURCE,
        commands=frozenset({"put", "sync"}),
        help="accepted for the AWS CLI's spelling, and changes nothing: a directory is always sent whole",
    )
    expected_size: int | None = option(
        flags=("--expected-size",),
        parse=values.parse_size,
        metavar="SIZE",
        group=Group.SOURCE,
        commands=PUT,
        valid=whole(0, MAX_OBJECT_SIZE),
        must="be between 0 bytes and 48.8 TiB (S3's largest object)",
        help="a stream's size (SRC -, a FIFO), roughly: its parts are sized to fit 10,000 "
        "(default: --part-size, so streams up to 10,000 parts of it)",
    )
    if_size_differ: bool = option(
        False,
        flags=("--if-size-differ",),
        action="store_true",
        group=Group.SOURCE,
        commands=PUT,
        command_flags=(("put", ("--skip-existing",)),),
        help="replace an object already there only if its size differs (as s5cmd); --skip-existing says the same: "
        "a rerun sends only what is missing",
    )
    if_source_newer: bool = option(
        False,
        flags=("--if-source-newer",),
        action="store_true",
        group=Group.SOURCE,
        commands=PUT,
        help="replace an object already there only if the file is newer (as s5cmd)",
    )

    # -- object attributes (more come from plan.attributes)
    content_type: str | None = option(
        flags=("--content-type",),
        group=Group.ATTRIBUTES,
        commands=UPLOADING,
        metavar="TYPE",
        help="Content-Type for every object (default: guessed)",
    )
    metadata: dict[str, str] = option(
        {},
        flags=("--metadata",),
        action="append",
        parse=values.key_value,
        collect=dict,
        metavar="KEY=VALUE",
        group=Group.ATTRIBUTES,
        commands=UPLOADING,
        shown_default="none",
        help="user metadata (repeatable)",
    )
    no_overwrite: bool = option(
        False,
        flags=("--no-overwrite",),
        action="store_true",
        group=Group.ATTRIBUTES,
        commands=UPLOADING,
        command_flags=(("put", ("--no-clobber", "-n")),),
        help="write an object only if its key is free (If-None-Match: *); one found there is reported as existing, "
        "not as a failure (put: also --no-clobber, -n, as s5cmd)",
    )
    preserve_mtime: bool = option(
        False,
        flags=("--preserve-mtime",),
        action="store_true",
        group=Group.ATTRIBUTES,
        commands=UPLOADING,
        help="store each file's mtime as x-amz-meta-mtime, as rclone does (sync always does)",
    )

    # -- integrity
    checksum: str = option(
        AUTO,
        flags=("--checksum",),
        choices=(AUTO, *ALGORITHMS),
        group=Group.INTEGRITY,
        commands=UPLOADING,
        help=f"checksum the store verifies for every part (auto: {DEFAULT_ALGORITHM} where the store confirms it, "
        "else md5 where it checks Content-MD5; bulkup asks the store first and says what it chose)",
    )
    require_verified: bool = option(
        False,
        flags=("--require-verified",),
        action="store_true",
        group=Group.INTEGRITY,
        commands=UPLOADING,
        help="exit 1, sending nothing, if the store verifies no checksum bulkup can send (and if any object ends "
        "unverified)",
    )

    # -- speed
    part_size: int | None = option(
        flags=("--part-size",),
        parse=values.parse_size,
        metavar="SIZE",
        group=Group.SPEED,
        commands=UPLOADING,
        valid=whole(MIN_PART_SIZE, MAX_PART_SIZE),
        must="be between 5 MiB and 5 GiB",
        aws="multipart_chunksize",
        from_aws=lambda text, _: values.parse_size(text),
        shown_default=f"{DEFAULT_PART_SIZE // MiB}MiB, grown to stay within 10,000 parts",
        help="multipart part size",
    )
    multipart_threshold: int | None = option(
        flags=("--multipart-threshold",),
        parse=values.parse_size,
        metavar="SIZE",
        group=Group.SPEED,
        valid=whole(0, MAX_SIZE),
        must="be 0 bytes or more",
        commands=UPLOADING,
        aws="multipart_threshold",
        from_aws=lambda text, _: values.parse_size(text),
        shown_default="the part size",
        help="files above this go as multipart uploads",
    )
    workers: int | None = option(
        flags=("--workers",),
        parse=values.count,
        metavar="N",
        group=Group.SPEED,
        commands=UPLOADING,
        valid=whole(1, MAX_SIZE),
        must="be at least 1",
        shown_default="one per core; with --ray, one per CPU of each node",
        help="worker processes",
    )
    connections: int | None = option(
        flags=("--connections",),
        parse=values.count,
        metavar="N",
        group=Group.SPEED,
        commands=UPLOADING,
        valid=whole(1, MAX_SIZE),
        must="be at least 1",
        aws="max_concurrent_requests",
        from_aws=_concurrent_requests,
        shown_default="sized from --target-throughput",
        help="connections per worker",
    )
    target_throughput: float = option(
        DEFAULT_TARGET_GBPS,
        flags=("--target-throughput",),
        parse=values.gbps,
        metavar="GBPS",
        group=Group.SPEED,
        valid=number(0, 10_000, above_low=True),
        must="be above 0 and at most 10000 (Gbit/s)",
        commands=UPLOADING,
        help=f"Gbit/s the run should reach (as the AWS CRT's): S3 serves each connection "
        f"roughly {PER_CONNECTION_GBPS:g} Gbit/s, so this sizes the connections, spread over every address the "
        "endpoint's name resolves to",
    )
    min_rate: int = option(
        256 * 1024,
        flags=("--min-rate",),
        parse=values.parse_rate,
        metavar="RATE",
        group=Group.SPEED,
        valid=number(1, MAX_SIZE),
        must="be at least 1 byte a second",
        commands=UPLOADING,
        shown_default="256KiB/s",
        help="slowest a request may go: each request's deadline is 60 s plus its body at this rate; a slower one "
        "is cut and sent again",
    )
    retry_deadline: float = option(
        300.0,
        flags=("--retry-deadline",),
        parse=values.duration,
        metavar="DURATION",
        group=Group.SPEED,
        valid=number(0, 7 * 86400),
        must="be between 0s and 7d",
        commands=UPLOADING,
        shown_default="5m",
        help="how long a request is retried while the store refuses it (SlowDown, 5xx, connections refused or "
        "reset), the whole run slowing down meanwhile; an object fails only after this (0s: no retry)",
    )
    bwlimit: int | None = option(
        flags=("--bwlimit",),
        parse=values.parse_rate,
        metavar="RATE",
        group=Group.SPEED,
        commands=UPLOADING,
        valid=number(1024, MAX_SIZE),
        must="be at least 1 KiB/s",
        aws="max_bandwidth",
        from_aws=lambda text, _: values.parse_rate(text),
        shown_default="none",
        help="bandwidth for the whole run, shared by every worker and connection: 20MiB/s, 50MB/s, 100Mbit",
    )
    engine: str = option(
        AUTO,
        flags=("--engine",),
        choices=(AUTO, *ENGINES),
        group=Group.SPEED,
        commands=UPLOADING,
        shown_default="the best this machine runs (bulkup doctor)",
        help="how part bodies are sent",
    )


@dataclass
class SyncOptions:
    """What only ``bulkup sync`` takes."""

    compare: str = option(
        "mtime",
        flags=("--compare",),
        choices=("mtime", "size", "checksum"),
        group=Group.SOURCE,
        commands=frozenset({"sync"}),
        help="when sizes agree: mtime (the x-amz-meta-mtime sync writes, else the object's time), size, or checksum "
        "(the object's whole CRC64NVME or MD5 ETag against the file's, read now: rclone's --checksum)",
    )
    size_only: bool = option(
        False,
        flags=("--size-only",),
        action="store_true",
        group=Group.SOURCE,
        commands=frozenset({"sync"}),
        help="compare sizes only (as aws-cli and rclone)",
    )
    delete: bool = option(
        False,
        flags=("--delete",),
        action="store_true",
        group=Group.SOURCE,
        commands=frozenset({"sync"}),
        help="delete objects under the prefix whose file is gone (after every upload succeeded; never outside the "
        "prefix, never a folder marker; --dry-run lists them first)",
    )
    remember: bool = option(
        True,
        flags=("--no-sync-state",),
        action="store_false",
        group=Group.SOURCE,
        commands=frozenset({"sync"}),
        shown_default="remembered",
        help="neither use nor keep what syncs remember of objects (in ~/.cache/bulkup): "
        "read every object whose size agrees with HeadObject, as rclone does",
    )


MIGRATING = frozenset({"migrate", "resume"})


@dataclass
class MigrateOptions:
    """What only ``bulkup migrate`` and ``bulkup resume`` take."""

    journal: str | None = option(
        flags=("--journal",),
        metavar="FILE",
        group=Group.SOURCE,
        commands=frozenset({"migrate"}),
        shown_default="MANIFEST.journal",
        help="the journal file",
    )
    skip_bad_lines: bool = option(
        False,
        flags=("--skip-bad-lines",),
        action="store_true",
        group=Group.SOURCE,
        commands=MIGRATING,
        help="upload the valid lines of a manifest with bad ones (each is reported)",
    )
    skip_existing: str | None = option(
        flags=("--skip-existing",),
        choices=("size", "checksum"),
        group=Group.SOURCE,
        commands=MIGRATING,
        help="skip objects already on the server with the same size (or checksum)",
    )
    no_ray: bool = option(
        False,
        flags=("--no-ray",),
        action="store_true",
        group=Group.DESTINATION,
        commands=frozenset({"resume"}),
        help="send from this machine, though the migration ran with --ray",
    )


@dataclass
class OutputOptions:
    """How a run shows itself."""

    progress: str = option(
        AUTO,
        flags=("--progress",),
        choices=PROGRESS_CHOICES,
        group=Group.OUTPUT,
        commands=UPLOADING,
        help="auto: a live dashboard on a terminal, plain lines otherwise; rich; tqdm bars; json lines on stdout; "
        "plain; none",
    )
    no_progress: bool = option(
        False,
        flags=("--no-progress",),
        action="store_true",
        group=Group.OUTPUT,
        commands=UPLOADING,
        help="no progress while it runs, the summary at the end (as --progress none)",
    )
    quiet: bool = option(
        False,
        flags=("--quiet", "--only-show-errors"),
        action="store_true",
        group=Group.OUTPUT,
        commands=UPLOADING,
        help="print nothing unless something fails: errors and warnings only, no summary",
    )
    report: str | None = option(
        flags=("--report",),
        metavar="FILE.json",
        group=Group.OUTPUT,
        commands=frozenset({"put", "migrate", "resume"}),
        help="write the run's outcome as JSON",
    )


@dataclass
class ManifestOptions:
    """What only ``bulkup manifest`` takes."""

    output: str | None = option(
        flags=("-o", "--output"),
        metavar="FILE",
        group=Group.OUTPUT,
        commands=frozenset({"manifest"}),
        shown_default="standard output",
        help="write the manifest to FILE, which appears only once it is complete (a failure leaves no FILE, or the "
        "one there was)",
    )


@dataclass
class CleanupOptions:
    """What only ``bulkup cleanup`` takes."""

    older_than: str = option(
        "7d",
        flags=("--older-than",),
        metavar="AGE",
        group=Group.SOURCE,
        commands=frozenset({"cleanup"}),
        help="only uploads initiated longer ago than AGE (90s, 30m, 12h, 7d, 2w, 1d12h); 0s means all of them. "
        "Uploads still running elsewhere count too: pick an age longer than any migration in progress. bulkup's own "
        "probe uploads and objects (keys ending in .bulkup-probe- and 12 hex digits) live seconds: they count once "
        "older than an hour, or AGE if shorter",
    )
    yes: bool = option(
        False,
        flags=("--yes",),
        action="store_true",
        group=Group.SOURCE,
        commands=frozenset({"cleanup"}),
        help="abort the uploads and delete the probe objects listed (default: only list them)",
    )


@dataclass
class ListOptions:
    """What only ``bulkup ls`` takes (the AWS CLI's and s5cmd's flags)."""

    recursive: bool = option(
        False,
        flags=("--recursive",),
        action="store_true",
        group=Group.OUTPUT,
        commands=frozenset({"ls"}),
        help="every key under the prefix, not only the level below it",
    )
    summarize: bool = option(
        False,
        flags=("--summarize",),
        action="store_true",
        group=Group.OUTPUT,
        commands=frozenset({"ls"}),
        help="end with the number of objects and their total size",
    )
    human_readable: bool = option(
        False,
        flags=("--human-readable",),
        action="store_true",
        group=Group.OUTPUT,
        commands=frozenset({"ls"}),
        help="sizes as 1.5 MiB rather than in bytes",
    )


@dataclass
class DoctorOptions:
    """What only ``bulkup doctor`` takes."""

    json: bool = option(
        False,
        flags=("--json",),
        action="store_true",
        group=Group.OUTPUT,
        commands=frozenset({"doctor", "status"}),
        help="machine-readable output",
    )
    cluster: str | None = option(
        flags=("--ray",),
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        group=Group.DESTINATION,
        commands=frozenset({"doctor"}),
        help="diagnose every node of a Ray cluster instead of this machine",
    )
