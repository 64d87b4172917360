"""``bulkup cleanup``: list (and with ``--yes`` remove) stale multipart uploads and the objects
bulkup's probes left behind."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta

import botocore.exceptions as bex

from bulkup.cli.arguments import options_from
from bulkup.cli.common import warn_if_insecure
from bulkup.control.cleanup import (
    ProbeObject,
    StaleUpload,
    abort_uploads,
    delete_probe_objects,
    find_probe_objects,
    find_stale,
)
from bulkup.control.plane import connect
from bulkup.control.s3client import describe, error_code
from bulkup.display.text import human_bytes
from bulkup.errors import FatalRemoteError, UsageError
from bulkup.options import CleanupOptions, UploadOptions
from bulkup.options.resolve import client_settings
from bulkup.plan.durations import format_age, parse_age
from bulkup.plan.s3url import S3Url, parse_s3_url


def run(args: argparse.Namespace) -> int:
    """``bulkup cleanup``: listing on stdout, summary and errors on stderr."""
    own = options_from(args, CleanupOptions)
    older_than = _older_than(own.older_than)
    target = parse_s3_url(args.target)
    client = _client(args, target.bucket)
    now = datetime.now(UTC)
    try:
        uploads = _listed_uploads(client, target, older_than, now)
        probes = _listed_probes(client, target, older_than, now)
    except KeyboardInterrupt:
        print("bulkup: interrupted: nothing was aborted", file=sys.stderr)
        return 130
    if not uploads and not probes:
        print(f"no multipart uploads under {target} older than {own.older_than.strip()}", file=sys.stderr)
        return 0
    if not own.yes:
        _say_found(uploads, probes)
        return 0
    status = _abort_all(client, target.bucket, uploads) if uploads else 0
    if status == 130 or not probes:
        return status
    return max(status, _delete_all(client, target.bucket, probes))


def _listed_uploads(client, target: S3Url, older_than: timedelta, now: datetime) -> list[StaleUpload]:
    """The stale uploads, each printed as it is found (one-line errors)."""
    found: list[StaleUpload] = []
    try:
        for upload in find_stale(client, target.bucket, target.key, older_than, now):
            found.append(upload)
            print(_line(target.bucket, upload, now), flush=True)
    except (bex.ClientError, bex.BotoCoreError) as exc:
        raise FatalRemoteError(_remote_error(exc, target.bucket)) from None
    return found


def _listed_probes(client, target: S3Url, older_than: timedelta, now: datetime) -> list[ProbeObject]:
    """The probe objects left, each printed as it is found; a store that will not list the
    objects is one warning line (the uploads were still looked at)."""
    found: list[ProbeObject] = []
    try:
        for probe in find_probe_objects(client, target.bucket, target.key, older_than, now):
            found.append(probe)
            print(_probe_line(target.bucket, probe, now), flush=True)
    except (bex.ClientError, bex.BotoCoreError) as exc:
        print(f"bulkup: warning: could not look for probe objects under {target}: {describe(exc)}", file=sys.stderr)
    return found


def _say_found(uploads: list[StaleUpload], probes: list[ProbeObject]) -> None:
    if uploads:
        print(
            f"{_count(len(uploads))} ({human_bytes(sum(u.size for u in uploads))} held); run again with "
            f"--yes to abort {'it' if len(uploads) == 1 else 'them'}",
            file=sys.stderr,
        )
    if probes:
        print(
            f"{_probe_count(len(probes))} ({human_bytes(sum(p.size for p in probes))}); run again with "
            f"--yes to delete {'it' if len(probes) == 1 else 'them'}",
            file=sys.stderr,
        )


def _abort_all(client, bucket: str, found: list[StaleUpload]) -> int:
    aborted = 0
    failures: list[tuple[StaleUpload, str]] = []
    try:
        for upload in found:  # one at a time, so an interruption can say how far it got
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
        print(
            f"bulkup: error: could not abort s3://{bucket}/{_shown(upload.key)} (upload {upload.upload_id}): {reason}",
            file=sys.stderr,
        )
    return 1 if failures else 0


def _delete_all(client, bucket: str, found: list[ProbeObject]) -> int:
    deleted = 0
    failures: list[tuple[ProbeObject, str]] = []
    try:
        for probe in found:  # one at a time, so an interruption can say how far it got
            done, failed = delete_probe_objects(client, bucket, [probe])
            deleted += done
            failures += failed
    except KeyboardInterrupt:
        print(f"bulkup: interrupted: deleted {deleted} of {_probe_count(len(found))}", file=sys.stderr)
        return 130
    print(f"deleted {_probe_count(deleted)}", file=sys.stderr)
    for probe, reason in failures:
        version = f" (version {probe.version_id})" if probe.version_id else ""
        print(f"bulkup: error: could not delete s3://{bucket}/{_shown(probe.key)}{version}: {reason}", file=sys.stderr)
    return 1 if failures else 0


def _older_than(text: str) -> timedelta:
    try:
        return parse_age(text)
    except UsageError as exc:
        raise UsageError(f"--older-than: {exc}") from None


def _client(args: argparse.Namespace, bucket: str):
    """An S3 client as ``bulkup put`` makes it, checked against the bucket (one-line errors)."""
    options = options_from(args, UploadOptions)
    if options.ca_bundle and not os.path.isfile(options.ca_bundle):
        raise UsageError(f"CA bundle not found: {options.ca_bundle}")
    warn_if_insecure(options.verify_ssl)
    return connect(client_settings(options)).route(bucket).client


def _line(bucket: str, upload: StaleUpload, now: datetime) -> str:
    initiated = upload.initiated.strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = f"{upload.parts} part{'' if upload.parts == 1 else 's'}"
    return (
        f"{initiated}  {format_age(now - upload.initiated):>8}  {parts:>11}  "
        f"{human_bytes(upload.size):>10}  s3://{bucket}/{_shown(upload.key)}  {upload.upload_id}"
    )


def _probe_line(bucket: str, probe: ProbeObject, now: datetime) -> str:
    """Like an upload's line: written, age, what it is, bytes, where, and its version (or -)."""
    written = probe.modified.strftime("%Y-%m-%dT%H:%M:%SZ")
    kind = "delete marker" if probe.delete_marker else "probe object"
    return (
        f"{written}  {format_age(now - probe.modified):>8}  {kind:>11}  {human_bytes(probe.size):>10}  "
        f"s3://{bucket}/{_shown(probe.key)}  {probe.version_id or '-'}"
    )


def _count(n: int) -> str:
    return f"{n} stale multipart upload{'' if n == 1 else 's'}"


def _probe_count(n: int) -> str:
    return f"{n} leftover probe object{'' if n == 1 else 's'}"


def _shown(key: str) -> str:
    """A key safe to print on one line (control characters escaped)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in key)


def _remote_error(exc: BaseException, bucket: str) -> str:
    if isinstance(exc, bex.ClientError) and error_code(exc) == "NoSuchBucket":
        return f"bucket {bucket!r} does not exist"
    return describe(exc)
