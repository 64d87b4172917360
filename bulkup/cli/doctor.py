"""``bulkup doctor``: which data path uploads take here and why, and what a store verifies."""

from __future__ import annotations

import argparse

from bulkup.cli.arguments import add_options, options_from
from bulkup.cli.common import warn_if_insecure
from bulkup.doctor import report
from bulkup.options import DoctorOptions, UploadOptions
from bulkup.options.resolve import client_settings
from bulkup.plan.s3url import parse_s3_url


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``bulkup doctor`` on the CLI's subcommands."""
    parser = commands.add_parser("doctor", help="which data path uploads take here, and why")
    parser.add_argument(
        "store",
        nargs="?",
        metavar="s3://bucket",
        help="ask the store (--endpoint-url, or AWS) which checksums it verifies, "
        "with a multipart upload in this bucket that is aborted at once",
    )
    add_options(parser, "doctor", DoctorOptions, UploadOptions)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``bulkup doctor``: the report, on stdout."""
    options = options_from(args, UploadOptions)
    own = options_from(args, DoctorOptions)
    store = None
    if args.store or options.endpoint_url:
        warn_if_insecure(options.verify_ssl)
        store = (client_settings(options), parse_s3_url(args.store).bucket if args.store else None)
    return report(as_json=own.json, ray=own.cluster, store=store, profile=options.profile)
