# PYTHON_ARGCOMPLETE_OK
"""The ``bulkup`` command line: its commands, logging, and how errors end it."""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import traceback
from typing import IO, NoReturn

from bulkup import redact
from bulkup.cli import cleanup, migrate, put, sync
from bulkup.cli.common import add_connection_options, add_filter_options, warn_if_insecure, warn_skipped
from bulkup.control.s3client import ClientSettings
from bulkup.doctor import report
from bulkup.errors import BulkupError
from bulkup.migrate.manifest import OutputFailed, replaced_when_done, write_manifest
from bulkup.options import resolve_filters
from bulkup.plan.filters import Filters
from bulkup.plan.s3url import parse_s3_url
from bulkup.version import __version__

# An upload outlives its reader: `bulkup put ... --progress json | head` finishes the upload.
UPLOADING_COMMANDS = ("put", "sync", "migrate", "resume")


def main(argv: list[str] | None = None) -> int:
    """Run the ``bulkup`` command line; its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _main(argv)
    except Exception as exc:  # the last safety net: a bug is one line (with --debug, its traceback)
        return _internal_error(exc, argv)


def _main(argv: list[str]) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asks for completions (argcomplete)
        import argcomplete

        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    if args.command not in UPLOADING_COMMANDS:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `bulkup doctor | head` ends quietly
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
        logging.addLevelName(level, logging.getLevelName(level).lower())  # bulkup: warning: ...
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING, format="bulkup: %(levelname)s: %(message)s"
    )
    redact.install()
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    if not args.debug:
        # Their warnings repeat what our one-line error says (certificate dumps included).
        for name in ("botocore", "urllib3"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        return args.func(args)
    except BulkupError as exc:
        print(f"bulkup: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print(interrupted_line(getattr(exc, "uploads_left", [])), file=sys.stderr)
        return 130


def one_line(text: str) -> str:
    """``text`` with its line breaks made spaces: an error is one line, whatever it quotes."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _internal_error(exc: Exception, argv: list[str]) -> int:
    """Say (one line) that bulkup failed where it should not have; the traceback with --debug."""
    debug = "--debug" in argv
    if debug:
        traceback.print_exception(exc)
    command = next((a for a in argv if not a.startswith("-")), "")
    what = redact.redact(one_line(str(exc)))
    what = f"{type(exc).__name__}: {what[:300]}" if what else type(exc).__name__
    todo = "the traceback is above" if debug else "rerun with --debug for the details"
    print(f"bulkup: error: internal error: {what} (bulkup {command}): {todo}".replace(" ()", ""), file=sys.stderr)
    return 1


def interrupted_line(left: list[str]) -> str:
    """What an interrupted put says: every open upload aborted, or which are not and how to
    abort them."""
    if not left:
        return "bulkup: interrupted: open multipart uploads were aborted"
    shown = "; ".join(left[:5]) + (f"; and {len(left) - 5} more" if len(left) > 5 else "")
    bucket = left[0].split("/")[2]
    return (
        f"bulkup: interrupted: {len(left)} multipart upload(s) were NOT aborted: {shown}; "
        f"abort them with: bulkup cleanup s3://{bucket}/ --older-than 0s --yes"
    )


def _interrupt_on_sigterm(signum, frame) -> None:
    """SIGTERM (a container stop, ``timeout``) ends a run as Ctrl-C does."""
    raise KeyboardInterrupt


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is bulkup's one line (exit 2), and a value such as
    ``-5M`` is an option's value (a negative size), not an unknown option."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str) -> NoReturn:
        hint = "" if message.startswith("argument ") else f" (see {self.prog} --help)"
        self.exit(2, f"bulkup: error: {one_line(message.removeprefix('argument '))}{hint}\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser, every command and option on it."""
    parser = _Parser(prog="bulkup", description="Fast, verified bulk uploads to S3.")
    parser.add_argument("--version", action="version", version=f"bulkup {__version__}")
    parser.add_argument("--debug", action="store_true", help="verbose logs (secrets never shown)")
    commands = parser.add_subparsers(dest="command", required=True)
    put.add_parser(commands)
    sync.add_parser(commands)
    migrate.add_parsers(commands)
    manifest = commands.add_parser(
        "manifest",
        help="write a JSON Lines manifest of a directory tree",
        description="Write a manifest (JSON Lines) of every file under "
        "DIR, destined for s3://bucket/prefix/, to standard output or FILE.",
    )
    manifest.add_argument("directory", metavar="DIR")
    manifest.add_argument("destination", metavar="s3://bucket/prefix/")
    manifest.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the manifest to FILE, which appears only once it is complete "
        "(a failure leaves no FILE, or the one there was)",
    )
    manifest.add_argument("--no-follow-symlinks", dest="follow_symlinks", action="store_false")
    add_filter_options(manifest)
    manifest.set_defaults(func=_cmd_manifest)
    doctor = commands.add_parser("doctor", help="which data path uploads take here, and why")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="diagnose every node of a Ray cluster instead of this machine",
    )
    doctor.add_argument(
        "store",
        nargs="?",
        metavar="s3://bucket",
        help="ask the store (--endpoint-url, or AWS) which checksums it verifies, "
        "with a multipart upload in this bucket that is aborted at once",
    )
    add_connection_options(doctor)
    doctor.set_defaults(func=_cmd_doctor)
    cleanup.add_parser(commands)
    for command in commands.choices.values():  # `bulkup put ... --debug`, as aws-cli takes it
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="verbose logs (secrets never shown)"
        )
    return parser


def _cmd_manifest(args: argparse.Namespace) -> int:
    filters = resolve_filters(args.filters)
    if args.output in (None, "-"):
        found = _manifest_to_stdout(args, filters)
    else:
        found = _manifest_to_file(args, filters)
    if found is None:
        return 130  # interrupted, and said so
    count, skipped, excluded = found
    warn_skipped(skipped)
    left_out = f" ({excluded:,} files excluded by filters)" if excluded else ""
    print(f"bulkup: {count} entries written{left_out}", file=sys.stderr)
    return 2 if skipped else 0


def _manifest_to_file(args: argparse.Namespace, filters: Filters) -> tuple | None:
    """The manifest into ``--output``, put in place only once complete (None: interrupted)."""
    path = args.output
    kept = f"{path} is as it was" if os.path.exists(path) else f"no {path} was written"
    try:
        with replaced_when_done(path) as out:
            return write_manifest(
                args.directory, args.destination, out, args.follow_symlinks, filters, _own_files(out, path)
            )
    except OutputFailed as exc:
        raise BulkupError(
            f"cannot write the manifest ({path}): {exc.reason.lower()}: {kept}; "
            "free space on its disk (or choose another -o) and run again"
        ) from None
    except KeyboardInterrupt:
        print(f"bulkup: interrupted: {kept}", file=sys.stderr)
        return None


def _manifest_to_stdout(args: argparse.Namespace, filters: Filters) -> tuple | None:
    """The manifest on standard output, a line at a time, so that a failure can say how far
    it got (None: interrupted)."""
    out = _Lines(sys.stdout)
    try:
        return write_manifest(
            args.directory, args.destination, out, args.follow_symlinks, filters, _own_files(sys.stdout)
        )
    except OutputFailed as exc:
        raise BulkupError(
            f"cannot write the manifest (standard output): {exc.reason.lower()}: the output is "
            f"INCOMPLETE, it stopped after {out.lines:,} lines; run again, with -o FILE "
            "(a failure leaves no partial file)"
        ) from None
    except KeyboardInterrupt:
        print(
            f"bulkup: interrupted: the manifest on standard output is INCOMPLETE, it stopped after {out.lines:,} lines",
            file=sys.stderr,
        )
        return None


class _Lines:
    """Writes text to a stream unbuffered (UTF-8, straight to its file descriptor where it has
    one), counting the lines written in full: a failure knows exactly where it stopped."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lines = 0
        try:
            stream.flush()
            self.fd: int | None = stream.fileno()
        except (OSError, ValueError):  # a stream of no file (in-process callers)
            self.fd = None

    def write(self, text: str) -> int:
        if self.fd is None:
            self.stream.write(text)
        else:
            data = memoryview(text.encode("utf-8"))
            while data:
                data = data[os.write(self.fd, data) :]
        self.lines += text.count("\n")
        return len(text)


def _own_files(out: IO[str], path: str | None = None) -> frozenset[tuple[int, int]]:
    """(device, inode) of the manifest's own output (and the file it replaces), which a tree
    that holds them must not list."""
    found = set()
    for stat_of in (lambda: os.fstat(out.fileno()), lambda: os.stat(path)):
        try:
            st = stat_of()
        except (OSError, TypeError, ValueError):
            continue
        found.add((st.st_dev, st.st_ino))
    return frozenset(found)


def _cmd_doctor(args: argparse.Namespace) -> int:
    store = None
    if args.store or args.endpoint_url:
        warn_if_insecure(args.verify_ssl)
        settings = ClientSettings(
            args.endpoint_url,
            args.region,
            args.profile,
            args.addressing_style or "auto",
            args.ca_bundle,
            args.verify_ssl,
        )
        store = (settings, parse_s3_url(args.store).bucket if args.store else None)
    return report(as_json=args.json, ray=args.ray, store=store, profile=args.profile)


if __name__ == "__main__":
    sys.exit(main())
