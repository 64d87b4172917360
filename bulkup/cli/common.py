"""What the commands share: the options for where, how and what to upload, and turning
flags into ``UploadOptions``, and the progress display."""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
from collections.abc import Iterable
from urllib.parse import urlsplit

from bulkup.awsconfig import SETTINGS, apply_s3_settings, read_s3_settings
from bulkup.control.verification import AUTO
from bulkup.display import CHOICES, ProgressSink, make_progress
from bulkup.errors import BulkupError
from bulkup.options import DEFAULT_TARGET_GBPS, PER_CONNECTION_GBPS, UploadOptions
from bulkup.plan.attributes import CANNED_ACLS, LEGAL_HOLD, LOCK_MODES
from bulkup.plan.checksums import ALGORITHMS, DEFAULT_ALGORITHM
from bulkup.plan.durations import parse_age
from bulkup.plan.files import Skip
from bulkup.plan.parts import parse_rate, parse_size
from bulkup.plan.results import UploadResult
from bulkup.transport.engines import ENGINES

INSECURE_WARNING = (
    "WARNING: TLS certificate verification is OFF (--no-verify-ssl). Anyone on "
    "the network path can read and alter this upload. Use --ca-bundle instead."
)


def unverified_error(result: UploadResult, required: bool) -> bool:
    """With --require-verified, say (one line) that some objects ended unverified; whether so."""
    if not required or not result.unverified_count:
        return False
    how = ", ".join(f"{n} {label}" for label, n in result.verification.items() if not label.startswith("server: "))
    print(
        f"bulkup: error: {result.unverified_count} objects were not verified by the store ({how}); --require-verified",
        file=sys.stderr,
    )
    return True


def warn_if_insecure(verify_ssl: bool) -> None:
    """Say loudly, before anything is sent, that certificates are not checked."""
    if not verify_ssl:
        print(INSECURE_WARNING, file=sys.stderr)


def warn_skipped(skipped: Iterable[Skip]) -> None:
    """One warning line per tree entry that was not uploaded, naming it and why."""
    for skip in skipped:
        print(f"bulkup: warning: skipped {skip.path}: {skip.reason}", file=sys.stderr)


def add_connection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint-url", type=endpoint_arg, help="S3-compatible endpoint (default: AWS)")
    p.add_argument("--region")
    p.add_argument("--profile")
    p.add_argument(
        "--addressing-style",
        choices=["auto", "path", "virtual"],
        help="default: auto, or the profile's s3 addressing_style",
    )
    p.add_argument("--ca-bundle", help="PEM file of CA certificates to trust")
    p.add_argument(
        "--no-verify-ssl",
        dest="verify_ssl",
        action="store_false",
        help="do not verify TLS certificates (insecure; warns)",
    )
    p.add_argument(
        "--tls-max-version",
        choices=["1.2", "1.3"],
        help="highest TLS version to offer (kernels offload TLS 1.2 receive too)",
    )


def add_upload_options(p: argparse.ArgumentParser) -> None:
    """How objects are cut, checked, sent, and what attributes they get."""
    p.add_argument(
        "--part-size",
        type=size_arg,
        help="multipart part size (default: 8MiB, grown as needed to stay within 10,000 parts)",
    )
    p.add_argument(
        "--multipart-threshold", type=size_arg, help="files above this go as multipart uploads (default: the part size)"
    )
    p.add_argument(
        "--workers",
        type=count_arg,
        help="worker processes (default: one per core; with --ray: per node, default one per CPU of each node)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="send from the nodes of a Ray cluster (ADDRESS, default: RAY_ADDRESS or "
        "the cluster started on this machine); needs pip install 'bulkup[ray]'",
    )
    p.add_argument(
        "--ray-require-tls",
        action="store_true",
        help="with --ray: refuse a cluster that runs without TLS (RAY_USE_TLS), whose other "
        "nodes would receive the credentials in clear",
    )
    p.add_argument(
        "--connections", type=count_arg, help="connections per worker (default: sized from --target-throughput)"
    )
    p.add_argument(
        "--target-throughput",
        type=gbps_arg,
        default=DEFAULT_TARGET_GBPS,
        metavar="GBPS",
        help=f"Gbit/s the run should reach (default {DEFAULT_TARGET_GBPS:g}, as the AWS CRT): "
        f"S3 serves each connection roughly {PER_CONNECTION_GBPS:g} Gbit/s, so this sizes the "
        "connections, spread over every address the endpoint's name resolves to",
    )
    p.add_argument(
        "--min-rate",
        type=_rate,
        default=256 * 1024,
        metavar="BYTES_PER_S",
        help="slowest a request may go (default 256KiB): each request's deadline is 60 s "
        "plus its body at this rate; a slower one is cut and sent again",
    )
    p.add_argument(
        "--retry-deadline",
        type=duration_arg,
        metavar="DURATION",
        default=argparse.SUPPRESS,
        help="how long a request is retried while the store refuses it (SlowDown, 5xx, "
        "connections refused or reset), the whole run slowing down meanwhile; an object "
        "fails only after this (default 5m; 0s: no retry)",
    )
    p.add_argument(
        "--bwlimit",
        type=_rate,
        metavar="RATE",
        help="bandwidth for the whole run, shared by every worker and connection: "
        "20MiB/s, 50MB/s, 100Mbit (default: none, or the profile's s3 max_bandwidth)",
    )
    p.add_argument(
        "--engine",
        default="auto",
        choices=["auto", *ENGINES],
        help="how part bodies are sent (default: best available)",
    )
    p.add_argument(
        "--checksum",
        default=AUTO,
        choices=[AUTO, *ALGORITHMS],
        help=f"checksum the store verifies for every part (default auto: {DEFAULT_ALGORITHM} "
        "where the store confirms it, else md5 where it checks Content-MD5; bulkup asks "
        "the store first and says what it chose)",
    )
    p.add_argument(
        "--require-verified",
        action="store_true",
        help="exit 1, sending nothing, if the store verifies no checksum bulkup can send "
        "(and if any object ends unverified)",
    )
    p.add_argument("--storage-class")
    p.add_argument("--content-type", help="Content-Type for every object (default: guessed)")
    p.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE", help="user metadata (repeatable)")
    p.add_argument("--sse", choices=["AES256", "aws:kms", "aws:kms:dsse"], help="server-side encryption")
    p.add_argument("--sse-kms-key-id")
    p.add_argument("--cache-control", metavar="VALUE")
    p.add_argument("--content-encoding", metavar="VALUE")
    p.add_argument("--content-disposition", metavar="VALUE")
    p.add_argument("--content-language", metavar="VALUE")
    p.add_argument("--expires", metavar="DATE", help="the Expires header (ISO 8601 or an HTTP date)")
    p.add_argument("--acl", choices=CANNED_ACLS, help="a canned ACL")
    p.add_argument("--tags", metavar="K=V&K2=V2", help="object tags, URL-encoded (x-amz-tagging)")
    p.add_argument("--object-lock-mode", choices=LOCK_MODES)
    p.add_argument("--object-lock-retain-until", metavar="DATE", help="ISO 8601, in the future")
    p.add_argument("--object-lock-legal-hold", choices=LEGAL_HOLD)
    p.add_argument(
        "--no-overwrite",
        action="store_true",
        help="write an object only if its key is free (If-None-Match: *); one found "
        "there is reported as existing, not as a failure",
    )
    p.add_argument(
        "--preserve-mtime", action="store_true", help="store each file's mtime as x-amz-meta-mtime, as rclone does"
    )


def add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=list(CHOICES),
        default="auto",
        help="auto (default): a live dashboard on a terminal, plain lines otherwise; "
        "rich; tqdm bars; json lines on stdout (see README); plain; none",
    )
    p.add_argument("--quiet", action="store_true", help="errors and the summary only")


class _FilterRule(argparse.Action):
    """``--exclude P`` / ``--include P``: appended in the order given, to one list."""

    def __call__(self, parser, namespace, value, option_string=None) -> None:
        rules = list(getattr(namespace, self.dest) or [])
        rules.append((option_string.lstrip("-"), value))
        setattr(namespace, self.dest, rules)


def add_filter_options(p: argparse.ArgumentParser) -> None:
    """``--exclude`` and ``--include``, as the AWS CLI has them."""
    for kind in ("exclude", "include"):
        p.add_argument(
            f"--{kind}",
            dest="filters",
            action=_FilterRule,
            default=[],
            metavar="PATTERN",
            help=f"{kind} files whose path below SRC matches PATTERN (* ? [..], '*' also "
            "matches '/'); repeatable, the last matching --exclude/--include decides",
        )


def report_missing_attributes(result: UploadResult) -> None:
    """One line per attribute the store did not keep (read back from an uploaded object)."""
    for line in result.attributes_missing:
        print(f"bulkup: error: {line}", file=sys.stderr)


def with_profile_settings(args: argparse.Namespace, options: UploadOptions) -> UploadOptions:
    """``options`` with the AWS CLI s3 settings of the profile in use where no flag set them."""
    given = {name for name in SETTINGS if getattr(args, name, None) is not None}
    applied, _ = apply_s3_settings(options, read_s3_settings(options.profile), given)
    return applied


def upload_options(args: argparse.Namespace, base: UploadOptions | None = None) -> UploadOptions:
    """UploadOptions from parsed flags; with ``base``, only the flags given override it."""
    values = {name: getattr(args, name) for name in _OPTION_FLAGS if hasattr(args, name)}
    if values.get("addressing_style", "") is None:
        del values["addressing_style"]  # not given: auto, or the profile's
    if "metadata" in values:
        values["metadata"] = _metadata(values["metadata"])
    if base is None:
        return UploadOptions(**values)
    return dataclasses.replace(base, **values)


ATTRIBUTE_FLAGS = (
    "cache_control",
    "content_encoding",
    "content_disposition",
    "content_language",
    "expires",
    "acl",
    "tags",
    "object_lock_mode",
    "object_lock_retain_until",
    "object_lock_legal_hold",
    "no_overwrite",
    "preserve_mtime",
)
_OPTION_FLAGS = (
    "endpoint_url",
    "region",
    "profile",
    "addressing_style",
    "ca_bundle",
    "verify_ssl",
    "part_size",
    "multipart_threshold",
    "workers",
    "connections",
    "target_throughput",
    "checksum",
    "require_verified",
    "ray_require_tls",
    "min_rate",
    "retry_deadline",
    "bwlimit",
    "engine",
    "storage_class",
    "content_type",
    "metadata",
    "sse",
    "sse_kms_key_id",
    "tls_max_version",
    "dry_run",
    "ray",
    "filters",
    "follow_symlinks",
    "if_size_differ",
    "if_source_newer",
    "expected_size",
    *ATTRIBUTE_FLAGS,
)


def _rate(text: str) -> int:
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def duration_arg(text: str) -> float:
    """An argparse type: a duration such as 5m, in seconds."""
    try:
        return parse_age(text).total_seconds()
    except BulkupError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("invalid age", "invalid duration")) from None


def size_arg(text: str) -> int:
    """An argparse type: a size such as 64MiB."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def endpoint_arg(text: str) -> str:
    """An argparse type: an endpoint's URL, http(s)://host[:port][/path]."""
    try:
        parts = urlsplit(text)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # a bracket left open, a port that is not a number
        valid = False
    if not valid or not text.isprintable() or " " in text:
        raise argparse.ArgumentTypeError(
            f"not an endpoint URL: {text[:60]!r} (try https://s3.example.com or http://127.0.0.1:9000)"
        )
    return text


def count_arg(text: str) -> int:
    """An argparse type: a whole number such as 8 (its range is checked with the others)."""
    found = re.fullmatch(r"\s*[+-]?(\d+)\s*", text, re.ASCII)
    if not found:
        raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r} (try 8)")
    if len(found[1].lstrip("0")) > 18:
        raise argparse.ArgumentTypeError(f"too large a number: {text[:40]!r}")
    return int(text)


def gbps_arg(text: str) -> float:
    """An argparse type: Gbit/s as a plain number such as 25 or 2.5."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a number of Gbit/s: {text[:40]!r} (try 25)")
    return value


def _metadata(pairs: list[str]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BulkupError(f"--metadata {pair!r}: expected KEY=VALUE")
        result[key] = value
    return result


def progress_sink(args: argparse.Namespace) -> ProgressSink:
    """The progress display the flags and the terminal call for."""
    return make_progress(getattr(args, "progress", "auto"), getattr(args, "quiet", False))
