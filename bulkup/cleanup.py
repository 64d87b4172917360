"""``bulkup cleanup``: find (and with ``--yes`` abort) stale multipart uploads.

An interrupted or failed migration can leave multipart uploads open on the server; their
parts are stored (and billed) until the upload is completed or aborted. This lists the
uploads under a prefix that were initiated longer ago than a given age, with the parts and
bytes each holds, and aborts them when asked to.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import botocore.exceptions as bex

from .errors import FatalRemoteError, UsageError
from .progress import human_bytes
from .s3client import ClientSettings, describe, effective_ca_bundle, make_client, make_session, resolve_bucket
from .s3url import parse_s3_url

DEFAULT_AGE = "7d"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"(\d+)([smhdw])")
_AGE_HELP = "a whole number and a unit s, m, h, d or w (e.g. 90s, 30m, 12h, 7d, 2w, 1d12h)"


def parse_age(text: str) -> timedelta:
    """``"30m"``, ``"12h"``, ``"7d"``, ``"2w"``, ``"1d12h"``, ``"0s"`` -> a timedelta.

    Raises UsageError (one line) for anything else, including a bare number: "7" could
    mean seconds or days, so the unit is required.
    """
    cleaned = text.strip().lower()
    if not cleaned or _AGE.sub("", cleaned) != "":
        raise UsageError(f"invalid age {text!r}: expected {_AGE_HELP}")
    seconds = sum(int(number) * _UNITS[unit] for number, unit in _AGE.findall(cleaned))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise UsageError(f"invalid age {text!r}: too large") from None


def format_age(age: timedelta) -> str:
    """A short human age with its two largest units: ``9d 3h``, ``5h 12m``, ``4m 10s``, ``7s``."""
    seconds = max(int(age.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"


@dataclass(frozen=True)
class StaleUpload:
    """An open multipart upload, with what it holds on the server."""

    key: str
    upload_id: str
    initiated: datetime         # timezone-aware, UTC
    parts: int                  # distinct part numbers uploaded so far
    size: int                   # bytes of those parts, as the server lists them


def find_stale(client, bucket: str, prefix: str, older_than: timedelta,
               now: datetime | None = None) -> Iterator[StaleUpload]:
    """The multipart uploads under ``prefix`` initiated more than ``older_than`` before ``now``.

    A zero age selects every upload under the prefix (even one whose initiation time is
    ahead of this machine's clock). Parts and bytes come from ListParts; an upload that
    was completed or aborted meanwhile (NoSuchUpload) is skipped. Other botocore errors
    propagate.
    """
    now = _utc(now or datetime.now(timezone.utc))
    cutoff = now - older_than
    pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for upload in page.get("Uploads", []):
            initiated = _utc(upload["Initiated"])
            if older_than > timedelta(0) and initiated >= cutoff:
                continue
            try:
                parts, size = _parts_held(client, bucket, upload["Key"], upload["UploadId"])
            except bex.ClientError as exc:
                if _code(exc) == "NoSuchUpload":
                    continue
                raise
            yield StaleUpload(upload["Key"], upload["UploadId"], initiated, parts, size)


def _parts_held(client, bucket: str, key: str, upload_id: str) -> tuple[int, int]:
    """Distinct part numbers and total bytes listed for one upload.

    Some stores (SeaweedFS) list every upload of a re-sent part number; each copy is kept
    until the upload ends, so all their bytes count, but the part number counts once.
    """
    numbers: set[int] = set()
    size = 0
    pages = client.get_paginator("list_parts").paginate(Bucket=bucket, Key=key, UploadId=upload_id)
    for page in pages:
        for part in page.get("Parts", []):
            numbers.add(part["PartNumber"])
            size += part.get("Size", 0)
    return len(numbers), size


def abort_uploads(client, bucket: str,
                  uploads: Iterable[StaleUpload]) -> tuple[int, list[tuple[StaleUpload, str]]]:
    """Abort each upload; return how many are gone and the failures with one-line reasons.

    An upload the server no longer knows (NoSuchUpload: completed or aborted meanwhile)
    counts as gone, not as a failure.
    """
    aborted = 0
    failures: list[tuple[StaleUpload, str]] = []
    for upload in uploads:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=upload.key, UploadId=upload.upload_id)
        except bex.ClientError as exc:
            if _code(exc) != "NoSuchUpload":
                failures.append((upload, describe(exc)))
                continue
        except bex.BotoCoreError as exc:
            failures.append((upload, describe(exc)))
            continue
        aborted += 1
    return aborted, failures


def add_parser(commands, add_connection_options: Callable[[argparse.ArgumentParser], None]) -> None:
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
                        help=f"only uploads initiated longer ago than AGE: {_AGE_HELP}; 0s means "
                        f"all of them (default {DEFAULT_AGE}). Uploads still running elsewhere "
                        "count too: pick an age longer than any migration in progress")
    parser.add_argument("--yes", action="store_true",
                        help="abort the uploads listed (default: only list them)")
    add_connection_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``bulkup cleanup``: listing on stdout, summary and errors on stderr."""
    from .cli import INSECURE_WARNING

    older_than = _older_than(args.older_than)
    target = parse_s3_url(args.target)
    client = _client(args, target.bucket, INSECURE_WARNING)
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


def _client(args: argparse.Namespace, bucket: str, insecure_warning: str):
    """An S3 client as ``bulkup put`` makes it, checked against the bucket (one-line errors)."""
    if args.ca_bundle and not os.path.isfile(args.ca_bundle):
        raise UsageError(f"CA bundle not found: {args.ca_bundle}")
    if not args.verify_ssl:
        print(insecure_warning, file=sys.stderr)
    settings = ClientSettings(args.endpoint_url, args.region, args.profile, args.addressing_style,
                              args.ca_bundle, args.verify_ssl)
    session = make_session(settings)
    settings = dataclasses.replace(settings, ca_bundle=effective_ca_bundle(session, settings))
    client = make_client(session, settings)
    _, bucket_region = resolve_bucket(client, bucket)
    if bucket_region and bucket_region != client.meta.region_name and not settings.endpoint_url:
        client = make_client(session, settings, bucket_region)
    return client


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
    if isinstance(exc, bex.ClientError) and _code(exc) == "NoSuchBucket":
        return f"bucket {bucket!r} does not exist"
    return describe(exc)


def _code(exc: bex.ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive time (some stores omit the zone) is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
