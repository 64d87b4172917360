"""What the commands share: the options of a run from its flags and the profile, the
progress display, and the lines every uploading command says the same way."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Iterable

from bulkup.cli.arguments import given, options_from
from bulkup.display import ProgressSink, make_progress
from bulkup.display.text import human_bytes
from bulkup.errors import Interrupted
from bulkup.ops.steps import verdict
from bulkup.options import OutputOptions, UploadOptions
from bulkup.options.profile import apply_s3_settings, read_s3_settings
from bulkup.plan.files import Skip
from bulkup.plan.results import UploadResult
from bulkup.redact import redact

INSECURE_WARNING = (
    "WARNING: TLS certificate verification is OFF (--no-verify-ssl). Anyone on "
    "the network path can read and alter this upload. Use --ca-bundle instead."
)


def said_verdict(result: UploadResult, require_verified: bool) -> bool:
    """Say (a line each) what went wrong that the failures do not already say: attributes the
    store did not keep, objects it did not verify under --require-verified; whether any."""
    lines = verdict(result, require_verified)
    for line in lines:
        print(f"bulkup: error: {line}", file=sys.stderr)
    return bool(lines)


def warn_if_insecure(verify_ssl: bool) -> None:
    """Say loudly, before anything is sent, that certificates are not checked."""
    if not verify_ssl:
        print(INSECURE_WARNING, file=sys.stderr)


def warn_skipped(skipped: Iterable[Skip]) -> None:
    """One warning line per tree entry that was not uploaded, naming it and why."""
    for skip in skipped:
        print(f"bulkup: warning: skipped {skip.path}: {skip.reason}", file=sys.stderr)


def with_profile_settings(args: argparse.Namespace, options: UploadOptions) -> UploadOptions:
    """``options`` with the AWS CLI s3 settings of the profile in use where no flag set them."""
    applied, _ = apply_s3_settings(options, read_s3_settings(options.profile), given(args, UploadOptions))
    return applied


def upload_options(args: argparse.Namespace, base: UploadOptions | None = None) -> UploadOptions:
    """UploadOptions from the flags given (over ``base``), with the profile's s3 settings
    where no flag gave them (a resumed run keeps what its journal recorded instead)."""
    options = options_from(args, UploadOptions, base)
    return options if base is not None else with_profile_settings(args, options)


def progress_sink(args: argparse.Namespace) -> ProgressSink:
    """The progress display the flags and the terminal call for."""
    output = options_from(args, OutputOptions)
    return make_progress("none" if output.no_progress else output.progress, output.quiet)


def stopped(args: argparse.Namespace, progress: ProgressSink, exc: BaseException, *more: str) -> Interrupted:
    """The Interrupted a run ends with after ``exc`` (Ctrl-C, SIGTERM): what was stored
    before, and the command that continues it (this one, with ``more`` flags it lacks)."""
    left = exc.uploads_left if isinstance(exc, Interrupted) else []
    state = progress.state
    done = f"{state.objects_done:,} of {state.objects_total:,} objects stored ({human_bytes(state.bytes_done)})"
    argv = list(getattr(args, "command_line", None) or sys.argv[1:])
    argv += [flag for flag in more if flag not in argv]
    interrupted = Interrupted("interrupted", left)
    interrupted.then = f"{done}; continue with: {redact(shlex.join(['bulkup', *argv]))}"
    return interrupted
