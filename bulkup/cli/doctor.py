"""``bulkup doctor``: which data path uploads take here and why, and what a store verifies."""

from __future__ import annotations

import argparse

from bulkup.cli.arguments import options_from
from bulkup.cli.common import warn_if_insecure
from bulkup.doctor import report
from bulkup.options import DoctorOptions, UploadOptions
from bulkup.options.resolve import client_settings
from bulkup.plan.s3url import parse_s3_url


def run(args: argparse.Namespace) -> int:
    """``bulkup doctor``: the report, on stdout."""
    options = options_from(args, UploadOptions)
    own = options_from(args, DoctorOptions)
    store = None
    if args.store or options.endpoint_url:
        warn_if_insecure(options.verify_ssl)
        store = (client_settings(options), parse_s3_url(args.store) if args.store else None)
    return report(as_json=own.json, ray=own.cluster, store=store, profile=options.profile)
