"""What the commands share: the options of a run from its flags and the profile, the
progress display, and the lines every uploading command says the same way."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from bulkup.cli.arguments import given, options_from
from bulkup.display import ProgressSink, make_progress
from bulkup.options import OutputOptions, UploadOptions
from bulkup.options.profile import apply_s3_settings, read_s3_settings
from bulkup.plan.files import Skip
from bulkup.plan.results import UploadResult

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


def report_missing_attributes(result: UploadResult) -> None:
    """One line per attribute the store did not keep (read back from an uploaded object)."""
    for line in result.attributes_missing:
        print(f"bulkup: error: {line}", file=sys.stderr)


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
    return make_progress(output.progress, output.quiet)
