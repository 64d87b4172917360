"""``bulkup put``: upload files and directory trees."""

from __future__ import annotations

import argparse

from bulkup.api import Planned, planned, stream_source, upload
from bulkup.cli.common import (
    add_connection_options,
    add_filter_options,
    add_output_options,
    add_upload_options,
    progress_sink,
    report_missing_attributes,
    size_arg,
    unverified_error,
    upload_options,
    warn_if_insecure,
    warn_skipped,
    with_profile_settings,
)
from bulkup.display.text import human_bytes
from bulkup.options import UploadOptions
from bulkup.plan.parts import choose_part_size, is_multipart
from bulkup.report import write_json


def add_parser(commands) -> None:
    """Register ``bulkup put`` on the CLI's subcommands."""
    put = commands.add_parser(
        "put",
        help="upload files and directory trees",
        description="Upload files and directory trees to s3://bucket/prefix/.",
    )
    put.add_argument("sources", nargs="+", metavar="SRC")
    put.add_argument("destination", metavar="s3://bucket/prefix/")
    add_connection_options(put)
    add_upload_options(put)
    put.add_argument(
        "--no-follow-symlinks",
        dest="follow_symlinks",
        action="store_false",
        help="skip symbolic links instead of uploading what they point to",
    )
    add_filter_options(put)
    put.add_argument(
        "--no-clobber",
        "-n",
        dest="no_overwrite",
        action="store_true",
        help="as s5cmd's: the same as --no-overwrite (a conditional write)",
    )
    put.add_argument(
        "--expected-size",
        type=size_arg,
        metavar="SIZE",
        help="a stream's size (SRC -, a FIFO), roughly: its parts are sized to fit "
        "10,000 (default: --part-size, so streams up to 10,000 parts of it)",
    )
    put.add_argument(
        "--if-size-differ",
        action="store_true",
        help="replace an object already there only if its size differs (as s5cmd)",
    )
    put.add_argument(
        "--if-source-newer",
        action="store_true",
        help="replace an object already there only if the file is newer (as s5cmd)",
    )
    put.add_argument("--dry-run", action="store_true", help="show what would be uploaded")
    put.add_argument("--report", metavar="FILE.json", help="write the run's summary as JSON")
    add_output_options(put)
    put.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    warn_if_insecure(args.verify_ssl)
    options = with_profile_settings(args, upload_options(args))
    if args.dry_run and stream_source(args.sources) is None:
        return _print_dry_run(planned(args.sources, args.destination, options), args.destination, options)
    progress = progress_sink(args)
    result = upload(args.sources, args.destination, options, progress=progress)
    if args.report and not args.dry_run:
        write_json(
            args.report,
            {
                **result.summary(progress.state.peak_rate),
                "skipped": [{"path": s.path, "reason": s.reason} for s in result.skipped],
            },
        )
    warn_skipped(result.skipped)
    report_missing_attributes(result)
    if not result.ok or unverified_error(result, options.require_verified):
        return 1
    return 2 if result.skipped else 0


def _print_dry_run(plan: Planned, destination: str, options: UploadOptions) -> int:
    """Each file as it is found, then the totals (nothing held: a tree of millions is fine)."""
    bucket = destination[len("s3://") :].split("/", 1)[0]
    count = total = 0
    for f in plan.files:
        part_size = choose_part_size(f.size, options.part_size)
        multipart = is_multipart(f.size, options.multipart_threshold or part_size)
        how = f"{-(-f.size // part_size)} parts of {human_bytes(part_size)}" if multipart else "single PUT"
        print(f"(dry run) {f.path} -> s3://{bucket}/{f.key} ({human_bytes(f.size)}, {how})")
        count, total = count + 1, total + f.size
    excluded = f"; {plan.excluded:,} files excluded by filters" if plan.excluded else ""
    print(f"(dry run) {count} objects, {human_bytes(total)}{excluded}; nothing was uploaded")
    warn_skipped(plan.skipped)
    return 2 if plan.skipped else 0
