"""``bulkup cleanup``: list (and with ``--yes`` abort) stale multipart uploads."""
from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timedelta, timezone

import botocore.exceptions as bex

from bulkup.cli.common import add_connection_options, warn_if_insecure
from bulkup.control.cleanup import DEFAULT_AGE, StaleUpload, abort_uploads, find_stale
from bulkup.plan.durations import AGE_HELP, format_age, parse_age
from bulkup.control.plane import connect
from bulkup.control.s3client import ClientSettings, describe, error_code
from bulkup.display.text import human_bytes
from bulkup.errors import FatalRemoteError, UsageError
from bulkup.plan.s3url import parse_s3_url


def add_parser(commands) -> None:
    """Register ``bulkup cleanup`` on the CLI's subparsers."""
    parser = commands.add_parser(
        "cleanup", help="list or abort stale multipart uploads",
        description="List the multipart uploads under s3://bucket/prefix initiated longer ago "
        "than --older-than, with the parts and bytes each holds on the server; with --yes, "
        "abort them (their parts are deleted). Without --yes nothing is changed.")
    parser.add_argument("target", metavar="s3://bucket[/prefix]",
                        help="bucket and key prefix (a plain string prefix: s3://b/logs also "
                        "matches logs2/...; end it with / to mean a folder)")
    parser.add_argument("--older-than", metavar="AGE", default=DEFAULT_AGE,
                        help=f"only uploads initiated longer ago than AGE: {AGE_HELP}; 0s means "
                        f"all of them (default {DEFAULT_AGE}). Uploads still running elsewhere "
                        "count too: pick an age longer than any migration in progress")
    parser.add_argument("--yes", action="store_true",
                        help="abort the uploads listed (default: only list them)")
    add_connection_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``bulkup cleanup``: listing on stdout, summary and errors on stderr."""
    older_than = _older_than(args.older_than)
    target = parse_s3_url(args.target)
    client = _client(args, target.bucket)
    where, age_text = str(target), args.older_than.strip()
    found: list[StaleUpload] = []
    now = datetime.now(timezone.utc)
    try:
        for upload in find_stale(client, target.bucket, target.key, older_than, now):
            found.append(upload)
            print(_line(target.bucket, upload, now), flush=True)
    except (bex.ClientError, bex.BotoCoreError) as exc:
        raise FatalRemoteError(_remote_error(exc, target.bucket)) from None
    except KeyboardInterrupt:
        print("bulkup: interrupted: nothing was aborted", file=sys.stderr)
        return 130
    if not found:
        print(f"no multipart uploads under {where} older than {age_text}", file=sys.stderr)
        return 0
    held = sum(u.size for u in found)
    if not args.yes:
        print(f"{_count(len(found))} ({human_bytes(held)} held); run again with --yes to abort "
              f"{'it' if len(found) == 1 else 'them'}", file=sys.stderr)
        return 0
    return _abort_all(client, target.bucket, found)


def _abort_all(client, bucket: str, found: list[StaleUpload]) -> int:
    aborted = 0
    failures: list[tuple[StaleUpload, str]] = []
    try:
        for upload in found:      # one at a time, so an interruption can say how far it got
            done, failed = abort_uploads(client, bucket, [upload])
            aborted += done
            failures += failed
    except KeyboardInterrupt:
        print(f"bulkup: interrupted: aborted {aborted} of {_count(len(found))}", file=sys.stderr)
        return 130
    failed_ids = {u.upload_id for u, _ in failures}
    freed = sum(u.size for u in found if u.upload_id not in failed_ids)
    print(f"aborted {_count(aborted)} ({human_bytes(freed)} freed)", file=sys.stderr)
    for upload, reason in failures:
        print(f"bulkup: error: could not abort s3://{bucket}/{_shown(upload.key)} "
              f"(upload {upload.upload_id}): {reason}", file=sys.stderr)
    return 1 if failures else 0


def _older_than(text: str) -> timedelta:
    try:
        return parse_age(text)
    except UsageError as exc:
        raise UsageError(f"--older-than: {exc}") from None


def _client(args: argparse.Namespace, bucket: str):
    """An S3 client as ``bulkup put`` makes it, checked against the bucket (one-line errors)."""
    if args.ca_bundle and not os.path.isfile(args.ca_bundle):
        raise UsageError(f"CA bundle not found: {args.ca_bundle}")
    warn_if_insecure(args.verify_ssl)
    settings = ClientSettings(args.endpoint_url, args.region, args.profile, args.addressing_style or "auto",
                              args.ca_bundle, args.verify_ssl)
    return connect(settings).route(bucket).client


def _line(bucket: str, upload: StaleUpload, now: datetime) -> str:
    initiated = upload.initiated.strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = f"{upload.parts} part{'' if upload.parts == 1 else 's'}"
    return (f"{initiated}  {format_age(now - upload.initiated):>8}  {parts:>11}  "
            f"{human_bytes(upload.size):>10}  s3://{bucket}/{_shown(upload.key)}  {upload.upload_id}")


def _count(n: int) -> str:
    return f"{n} stale multipart upload{'' if n == 1 else 's'}"


def _shown(key: str) -> str:
    """A key safe to print on one line (control characters escaped)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in key)


def _remote_error(exc: BaseException, bucket: str) -> str:
    if isinstance(exc, bex.ClientError) and error_code(exc) == "NoSuchBucket":
        return f"bucket {bucket!r} does not exist"
    return describe(exc)


