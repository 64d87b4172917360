"""The migration commands: ``bulkup migrate``, ``bulkup resume`` and ``bulkup status``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

from bulkup.api import migrate
from bulkup.cli.arguments import options_from
from bulkup.cli.common import (
    progress_sink,
    said_verdict,
    upload_options,
    warn_if_insecure,
)
from bulkup.cli.outcome import ended
from bulkup.display.text import human_bytes
from bulkup.errors import BulkupError, Interrupted
from bulkup.migrate.journal import Journal, JournalBusy, JournalUnwritable
from bulkup.ops.migrate import MigrationResult, default_journal, stored_options
from bulkup.options import DoctorOptions, MigrateOptions, OutputOptions, UploadOptions
from bulkup.options.resolve import validate

MAX_FAILURES_SHOWN = 20


def run_migrate(args: argparse.Namespace) -> int:
    own = options_from(args, MigrateOptions)
    return _run(args.manifest, own.journal or default_journal(args.manifest), upload_options(args), own, args)


def run_resume(args: argparse.Namespace) -> int:
    stored = Journal.open(args.journal, create=False)
    try:
        manifest = stored.meta("manifest")
        base = stored_options(stored)
    finally:
        stored.close()
    if not manifest:
        raise BulkupError(f"{args.journal}: the journal names no manifest (it was never loaded)")
    own = options_from(args, MigrateOptions)
    options = upload_options(args, base)
    if own.no_ray:
        options = dataclasses.replace(options, ray=None)
    return _run(manifest, args.journal, options, own, args)


def _run(manifest: str, journal: str, options: UploadOptions, own: MigrateOptions, args: argparse.Namespace) -> int:
    validate(options)  # bad options are one line before the journal is touched
    warn_if_insecure(options.verify_ssl)
    try:
        result = migrate(
            manifest,
            options,
            journal,
            own.skip_bad_lines,
            own.skip_existing,
            progress_sink(args),
            report=options_from(args, OutputOptions).report,
        )
    except (KeyboardInterrupt, Interrupted):
        where = _where(journal)
        line = (
            f"bulkup: interrupted: {where + '; ' if where else ''}open uploads are kept for resuming. "
            f"Resume with: bulkup migrate {manifest} (or: bulkup resume {journal})"
        )
        return ended("interrupted", line, Interrupted.exit_code, options_from(args, OutputOptions).progress == "json")
    except BulkupError as exc:
        where = None if isinstance(exc, JournalBusy) else _where(journal)
        if where and isinstance(exc, JournalUnwritable):
            exc.args = (f"{exc}, which resumes where this run stopped ({where})",)
        elif where:
            exc.args = (f"{exc}; {where}, rerun to resume",)
        raise
    if options.dry_run:
        for error in result.load.bad:
            print(f"bulkup: warning: bad line {error}", file=sys.stderr)
        left = [result.totals[s] for s in ("pending", "creating", "uploading", "failed")]
        count, size = sum(n for n, _ in left), sum(b for _, b in left)
        print(f"(dry run) {count} objects, {human_bytes(size)} would be uploaded; nothing was sent")
        return 0
    _print_summary(result, quiet=options_from(args, OutputOptions).quiet)
    if said_verdict(result.upload, options.require_verified):
        return 1
    return 0 if result.ok else 1


def _where(journal_path: str) -> str | None:
    """How far the migration the journal records has got (None: no journal that can be read)."""
    if not os.path.isfile(journal_path):
        return None
    try:
        journal = Journal.open(journal_path, create=False)
    except BulkupError:
        return None
    try:
        totals = journal.totals()
    finally:
        journal.close()
    done = totals["done"][0] + totals["skipped"][0]
    return f"{done} of {sum(n for n, _ in totals.values())} objects done"


def _print_summary(result: MigrationResult, quiet: bool) -> None:
    """After the run's own summary: skipped bad lines, and every failure with its line."""
    for error in result.load.bad:
        print(f"bulkup: warning: skipped bad line {error}", file=sys.stderr)
    if not result.upload.seconds and not quiet:
        print(f"nothing left to upload: {_where(result.journal)}", file=sys.stderr)
    failed = result.totals["failed"][0]
    if not failed:
        return
    journal = Journal.open(result.journal, create=False)
    try:
        for obj in journal.failures(MAX_FAILURES_SHOWN):
            print(f"bulkup: failed: line {obj.id}: {obj.source} -> {obj.destination}: {obj.reason}", file=sys.stderr)
    finally:
        journal.close()
    if failed > MAX_FAILURES_SHOWN:
        print(
            f"bulkup: ... and {failed - MAX_FAILURES_SHOWN} more failures: bulkup status {result.journal}",
            file=sys.stderr,
        )


def run_status(args: argparse.Namespace) -> int:
    journal = Journal.open(args.journal, create=False)
    try:
        status = _status(journal)
    finally:
        journal.close()
    if options_from(args, DoctorOptions).json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"migration of {status['manifest']}")
    for state, numbers in status["objects"].items():
        print(f"  {state:<10} {numbers['objects']:>10} objects  {human_bytes(numbers['bytes']):>10}")
    if status["bad_lines"]:
        print(f"  {'bad lines':<10} {status['bad_lines']:>10} (skipped)")
    if status["verification"]:
        print("  how the store verified the objects done:")
    for label, count in status["verification"].items():
        print(f"  {count:>21} objects  {label}")
    for upload in status["uploading"]:
        print(f"  uploading {upload['destination']}: {upload['parts_done']} parts done")
    for failure in status["failures"]:
        print(f"  failed line {failure['line']}: {failure['destination']}: {failure['reason']}")
    print(f"  last change {status['last_change']}")
    return 0


def _status(journal: Journal) -> dict:
    totals = journal.totals()
    last = journal.db.execute("SELECT MAX(since) FROM objects").fetchone()[0]
    return {
        "manifest": journal.meta("manifest"),
        "journal": journal.path,
        "objects": {state: {"objects": n, "bytes": b} for state, (n, b) in totals.items()},
        "verification": journal.verification(),
        "bad_lines": sum(1 for _ in journal.bad_lines()),
        "uploading": [
            {"line": o.id, "destination": o.destination, "parts_done": n}
            for o, n in journal.in_progress(MAX_FAILURES_SHOWN)
        ],
        "failures": [
            {"line": o.id, "destination": o.destination, "reason": o.reason}
            for o in journal.failures(MAX_FAILURES_SHOWN)
        ],
        "last_change": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last)) if last else None,
    }
