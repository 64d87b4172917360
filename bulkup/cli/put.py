"""``bulkup put``: upload files and directory trees."""

from __future__ import annotations

import argparse

from bulkup.api import planned, upload
from bulkup.cli.arguments import options_from
from bulkup.cli.common import (
    progress_sink,
    said_verdict,
    stopped,
    upload_options,
    warn_if_insecure,
    warn_skipped,
)
from bulkup.display.text import human_bytes
from bulkup.errors import Interrupted
from bulkup.ops.put import Planned, stream_source
from bulkup.options import OutputOptions, UploadOptions
from bulkup.plan.parts import choose_part_size, is_multipart
from bulkup.report import write_json


def run(args: argparse.Namespace) -> int:
    options = upload_options(args)
    output = options_from(args, OutputOptions)
    warn_if_insecure(options.verify_ssl)
    if options.dry_run and stream_source(args.sources) is None:
        return _print_dry_run(planned(args.sources, args.destination, options), args.destination, options)
    progress = progress_sink(args)
    try:
        result = upload(args.sources, args.destination, options, progress=progress, records=False)  # totals
    except (Interrupted, KeyboardInterrupt) as exc:
        if stream_source(args.sources) is not None:
            raise  # a stream cannot be read again: no command continues it
        skipping = options.if_size_differ or options.no_overwrite
        raise stopped(args, progress, exc, *([] if skipping else ["--skip-existing"])) from None
    if output.report and not options.dry_run:
        write_json(
            output.report,
            {
                **result.summary(progress.state.peak_rate),
                "skipped": [{"path": s.path, "reason": s.reason} for s in result.skipped],
            },
        )
    warn_skipped(result.skipped)
    if said_verdict(result, options.require_verified) or not result.ok:
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
