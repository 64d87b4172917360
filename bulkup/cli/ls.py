"""``bulkup ls``: list a bucket under a prefix in the AWS CLI's layout, so that a user can see
what an upload stored without another tool."""

from __future__ import annotations

import argparse
from datetime import datetime

from bulkup.cli.arguments import options_from
from bulkup.cli.common import warn_if_insecure
from bulkup.control.plane import connect
from bulkup.display.text import human_bytes
from bulkup.ops.ls import Listed, buckets, listing
from bulkup.options import ListOptions, UploadOptions
from bulkup.options.resolve import client_settings
from bulkup.plan.s3url import parse_s3_url

PREFIX_COLUMN = " " * 26 + " PRE "  # where aws-cli puts a common prefix


def run(args: argparse.Namespace) -> int:
    own = options_from(args, ListOptions)
    options = options_from(args, UploadOptions)
    warn_if_insecure(options.verify_ssl)
    plane = connect(client_settings(options))
    if args.target in (None, "s3://"):
        for bucket in buckets(plane):
            print(f"{_when(bucket.modified)} {bucket.key}", flush=True)
        return 0
    where = parse_s3_url(args.target)
    shown_from = where.key.rpartition("/")[0] + "/" if "/" in where.key else ""
    count = total = 0
    for item in listing(plane, where, own.recursive):
        name = item.key if own.recursive else item.key[len(shown_from) :]
        if item.is_prefix:
            print(f"{PREFIX_COLUMN}{name}", flush=True)
            continue
        count, total = count + 1, total + (item.size or 0)
        print(f"{_when(item.modified)} {_size(item, own.human_readable):>10} {name}", flush=True)
    if own.summarize:
        print(f"\nTotal Objects: {count}\n   Total Size: {human_bytes(total) if own.human_readable else total}")
    return 0


def _when(moment: datetime | None) -> str:
    """A time as aws-cli shows it, in local time."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else " " * 19


def _size(item: Listed, human: bool) -> str:
    size = item.size or 0
    return human_bytes(size) if human else str(size)
