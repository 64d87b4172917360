"""``bulkup sync``: upload what is new or changed under a prefix; optionally delete what is gone."""

from __future__ import annotations

import argparse
import sys

from bulkup.cli.common import (
    add_connection_options,
    add_filter_options,
    add_output_options,
    add_upload_options,
    progress_sink,
    report_missing_attributes,
    upload_options,
    warn_if_insecure,
    warn_skipped,
    with_profile_settings,
)
from bulkup.display.text import counted
from bulkup.sync import SyncResult, sync


def add_parser(commands) -> None:
    """Register ``bulkup sync`` on the CLI's subcommands."""
    p = commands.add_parser(
        "sync",
        help="upload what is new or changed; with --delete, remove what is gone",
        description="Upload the files of DIR that are new or changed under s3://bucket/prefix/ "
        "(size, then the mtime bulkup recorded, or the object's time; see --compare), and with "
        "--delete remove the objects under the prefix whose file is gone.",
    )
    p.add_argument("source", metavar="DIR")
    p.add_argument("destination", metavar="s3://bucket/prefix/")
    p.add_argument(
        "--compare",
        choices=["mtime", "size", "checksum"],
        default="mtime",
        help="when sizes agree: mtime (default: the x-amz-meta-mtime sync writes, else the "
        "object's time), size (as --size-only), checksum (the object's whole CRC64NVME or "
        "MD5 ETag against the file's, read now: rclone's --checksum)",
    )
    p.add_argument(
        "--size-only",
        dest="compare",
        action="store_const",
        const="size",
        help="compare sizes only (as aws-cli and rclone)",
    )
    p.add_argument(
        "--delete",
        action="store_true",
        help="delete objects under the prefix whose file is gone (after every upload "
        "succeeded; never outside the prefix; --dry-run lists them first)",
    )
    p.add_argument(
        "--no-follow-symlinks",
        dest="follow_symlinks",
        action="store_false",
        help="skip symbolic links instead of uploading what they point to",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be sent and deleted")
    p.add_argument(
        "--no-sync-state",
        dest="remember",
        action="store_false",
        help="neither use nor keep what syncs remember of objects (in ~/.cache/bulkup): "
        "read every object whose size agrees with HeadObject, as rclone does",
    )
    add_filter_options(p)
    add_connection_options(p)
    add_upload_options(p)
    add_output_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    warn_if_insecure(args.verify_ssl)
    options = with_profile_settings(args, upload_options(args))
    result = sync(
        args.source,
        args.destination,
        options,
        comparison=args.compare,
        delete=args.delete,
        progress=progress_sink(args),
        remember=args.remember,
    )
    bucket = args.destination[len("s3://") :].split("/", 1)[0]
    if result.state_unavailable:
        print(
            f"bulkup: warning: what earlier syncs learned cannot be used ({result.state_unavailable}): "
            "every object whose size agrees was read with HeadObject",
            file=sys.stderr,
        )
    if result.mtime_dropped:
        print(
            f"bulkup: warning: {result.mtime_dropped}: sync compares files with the objects' "
            "LastModified there (the AWS CLI's rule)",
            file=sys.stderr,
        )
    if args.dry_run:
        for local, why in result.plan.send:
            print(f"(dry run) upload: {local.path} -> s3://{bucket}/{local.key} ({why})")
        for key in result.plan.delete:
            print(f"(dry run) delete: s3://{bucket}/{key}")
    warn_skipped(result.skipped)
    _print_outcome(result, bucket, dry=args.dry_run)
    if result.upload is not None:
        report_missing_attributes(result.upload)
    if not result.ok:
        return 1
    return 2 if result.skipped else 0


def _print_outcome(result: SyncResult, bucket: str, dry: bool) -> None:
    plan = result.plan
    new = sum(1 for _, why in plan.send if why == "new")
    verb = "would send" if dry else "sent"
    line = (
        f"sync: {verb} {len(plan.send):,} ({new:,} new, {len(plan.send) - new:,} changed), {plan.unchanged:,} unchanged"
    )
    if plan.delete or plan.kept:
        line += f", {'would delete' if dry else 'deleted'} {len(plan.delete if dry else result.deleted):,}"
    if result.excluded:
        line += f", {result.excluded:,} excluded by filters"
    if result.skipped:
        line += f", {counted(len(result.skipped), 'entry', 'entries')} skipped"
    print(line, file=sys.stderr)
    if plan.kept:
        kept = ", ".join(f"{why} ({n:,})" for why, n in plan.kept.most_common())
        print(f"sync: --delete kept {sum(plan.kept.values()):,} objects with no file: {kept}", file=sys.stderr)
    for key, why in result.delete_failed:
        print(f"bulkup: error: could not delete s3://{bucket}/{key}: {why}", file=sys.stderr)
