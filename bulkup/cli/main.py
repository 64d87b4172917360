# PYTHON_ARGCOMPLETE_OK
"""The ``bulkup`` command line: its commands, logging, and how errors end it."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from bulkup import redact
from bulkup.cli import cleanup, migrate, put, sync
from bulkup.cli.common import add_connection_options, add_filter_options, warn_if_insecure, warn_skipped
from bulkup.control.s3client import ClientSettings
from bulkup.plan.s3url import parse_s3_url
from bulkup.doctor import report
from bulkup.errors import BulkupError
from bulkup.migrate.manifest import write_manifest
from bulkup.options import resolve_filters
from bulkup.version import __version__

# An upload outlives its reader: `bulkup put ... --progress json | head` finishes the upload.
UPLOADING_COMMANDS = ("put", "sync", "migrate", "resume")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    if "_ARGCOMPLETE" in os.environ:        # a shell asks for completions (argcomplete)
        import argcomplete
        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    if args.command not in UPLOADING_COMMANDS:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)     # `bulkup doctor | head` ends quietly
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
        logging.addLevelName(level, logging.getLevelName(level).lower())   # bulkup: warning: ...
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="bulkup: %(levelname)s: %(message)s")
    redact.install()
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    if not args.debug:
        # Their warnings repeat what our one-line error says (certificate dumps included).
        for name in ("botocore", "urllib3"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        return args.func(args)
    except BulkupError as exc:
        print(f"bulkup: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print(interrupted_line(getattr(exc, "uploads_left", [])), file=sys.stderr)
        return 130


def interrupted_line(left: list[str]) -> str:
    """What an interrupted put says: every open upload aborted, or which are not and how to
    abort them."""
    if not left:
        return "bulkup: interrupted: open multipart uploads were aborted"
    shown = "; ".join(left[:5]) + (f"; and {len(left) - 5} more" if len(left) > 5 else "")
    bucket = left[0].split("/")[2]
    return (f"bulkup: interrupted: {len(left)} multipart upload(s) were NOT aborted: {shown}; "
            f"abort them with: bulkup cleanup s3://{bucket}/ --older-than 0s --yes")


def _interrupt_on_sigterm(signum, frame) -> None:
    """SIGTERM (a container stop, ``timeout``) ends a run as Ctrl-C does."""
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bulkup", description="Fast, verified bulk uploads to S3.")
    parser.add_argument("--version", action="version", version=f"bulkup {__version__}")
    parser.add_argument("--debug", action="store_true", help="verbose logs (secrets never shown)")
    commands = parser.add_subparsers(dest="command", required=True)
    put.add_parser(commands)
    sync.add_parser(commands)
    migrate.add_parsers(commands)
    manifest = commands.add_parser("manifest", help="write a JSON Lines manifest of a directory tree",
                                   description="Write a manifest (JSON Lines) of every file under "
                                   "DIR, destined for s3://bucket/prefix/, to standard output.")
    manifest.add_argument("directory", metavar="DIR")
    manifest.add_argument("destination", metavar="s3://bucket/prefix/")
    manifest.add_argument("--no-follow-symlinks", dest="follow_symlinks", action="store_false")
    add_filter_options(manifest)
    manifest.set_defaults(func=_cmd_manifest)
    doctor = commands.add_parser("doctor", help="which data path uploads take here, and why")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                        help="diagnose every node of a Ray cluster instead of this machine")
    doctor.add_argument("store", nargs="?", metavar="s3://bucket",
                        help="ask the store (--endpoint-url, or AWS) which checksums it verifies, "
                        "with a multipart upload in this bucket that is aborted at once")
    add_connection_options(doctor)
    doctor.set_defaults(func=_cmd_doctor)
    cleanup.add_parser(commands)
    for command in commands.choices.values():      # `bulkup put ... --debug`, as aws-cli takes it
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="verbose logs (secrets never shown)")
    return parser


def _cmd_manifest(args: argparse.Namespace) -> int:
    filters = resolve_filters(args.filters)
    count, skipped, excluded = write_manifest(args.directory, args.destination, sys.stdout,
                                              args.follow_symlinks, filters)
    warn_skipped(skipped)
    left_out = f" ({excluded:,} files excluded by filters)" if excluded else ""
    print(f"bulkup: {count} entries written{left_out}", file=sys.stderr)
    return 2 if skipped else 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    store = None
    if args.store or args.endpoint_url:
        warn_if_insecure(args.verify_ssl)
        settings = ClientSettings(args.endpoint_url, args.region, args.profile, args.addressing_style or "auto",
                                  args.ca_bundle, args.verify_ssl)
        store = (settings, parse_s3_url(args.store).bucket if args.store else None)
    return report(as_json=args.json, ray=args.ray, store=store, profile=args.profile)


if __name__ == "__main__":
    sys.exit(main())
