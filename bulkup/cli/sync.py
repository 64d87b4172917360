"""``bulkup sync``: upload what is new or changed under a prefix; optionally delete what is gone."""

from __future__ import annotations

import argparse
import sys

from bulkup.api import sync
from bulkup.cli.arguments import options_from
from bulkup.cli.common import (
    progress_sink,
    said_verdict,
    stopped,
    upload_options,
    warn_if_insecure,
    warn_skipped,
)
from bulkup.display.text import counted
from bulkup.errors import Interrupted
from bulkup.ops.sync import SyncResult
from bulkup.options import OutputOptions, SyncOptions


def run(args: argparse.Namespace) -> int:
    options = upload_options(args)
    own = options_from(args, SyncOptions)
    warn_if_insecure(options.verify_ssl)
    progress = progress_sink(args)
    try:
        result = sync(
            args.source,
            args.destination,
            options,
            comparison="size" if own.size_only else own.compare,
            delete=own.delete,
            progress=progress,
            remember=own.remember,
        )
    except (Interrupted, KeyboardInterrupt) as exc:
        raise stopped(args, progress, exc) from None  # the same sync sends only what is missing
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
    if options.dry_run:
        for local, why in result.plan.send:
            print(f"(dry run) upload: {local.path} -> s3://{bucket}/{local.key} ({why})")
        for key in result.plan.delete:
            print(f"(dry run) delete: s3://{bucket}/{key}")
    warn_skipped(result.skipped)
    _print_outcome(result, bucket, dry=options.dry_run, quiet=options_from(args, OutputOptions).quiet)
    if result.upload is not None and said_verdict(result.upload, options.require_verified):
        return 1
    if not result.ok:
        return 1
    return 2 if result.skipped else 0


def _print_outcome(result: SyncResult, bucket: str, dry: bool, quiet: bool) -> None:
    """What the sync did (unless ``quiet``), and each delete that failed."""
    for key, why in result.delete_failed:
        print(f"bulkup: error: could not delete s3://{bucket}/{key}: {why}", file=sys.stderr)
    if quiet:
        return
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
