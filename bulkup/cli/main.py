# PYTHON_ARGCOMPLETE_OK
"""The ``bulkup`` command line: its commands, logging, and how errors end it."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import re
import signal
import sys
import threading
import traceback
from typing import NoReturn

from bulkup import redact
from bulkup.cli.commands import BY_NAME, Formatter, add_commands, overview_examples
from bulkup.cli.outcome import ended, json_progress
from bulkup.errors import BulkupError, Interrupted, UsageError
from bulkup.version import __version__

# An upload outlives its reader: `bulkup put ... --progress json | head` finishes the upload.
UPLOADING_COMMANDS = ("put", "sync", "migrate", "resume")


def run() -> NoReturn:
    """The ``bulkup`` command (``python -m bulkup``): ``main()``, then ``end``."""
    end(main())


def end(code: int) -> NoReturn:
    """End the process with ``code`` as a normal exit would, without finalizing each module
    (~25 ms with bulkup's imports, a tenth of a small put): the output is flushed and the
    exit handlers run (logging's, multiprocessing's, Ray's), then the process exits. Where a
    thread that is no daemon still runs, or the output cannot be flushed, a normal exit
    waits for it or says so."""
    busy = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        busy.append(threading.main_thread())
    if busy:
        sys.exit(code)
    atexit._run_exitfuncs()
    atexit._clear()  # run once, as a normal exit runs them
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Run the ``bulkup`` command line; its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _main(argv)
    except Exception as exc:  # the last safety net: a bug is one line (with --debug, its traceback)
        return _internal_error(exc, argv)


def _main(argv: list[str]) -> int:
    completing = "_ARGCOMPLETE" in os.environ
    parser = build_parser(None if completing else _command_in(argv))
    if completing:  # a shell asks for completions (argcomplete)
        import argcomplete

        argcomplete.autocomplete(parser)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return ended("error", str(exc), exc.exit_code, json_progress(argv))
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
    args.command_line = argv  # an interrupted run says the command that continues it
    try:
        return BY_NAME[args.command].handler()(args)
    except Interrupted as exc:
        return ended("interrupted", interrupted_line(exc.uploads_left, exc.then), exc.exit_code, json_progress(argv))
    except BulkupError as exc:
        return ended("error", f"bulkup: error: {one_line(str(exc))}", exc.exit_code, json_progress(argv))
    except KeyboardInterrupt:
        return ended("interrupted", interrupted_line([]), Interrupted.exit_code, json_progress(argv))


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
    line = f"bulkup: error: internal error: {what} (bulkup {command}): {todo}".replace(" ()", "")
    return ended("error", line, 1, json_progress(argv))


def interrupted_line(left: list[str], then: str = "") -> str:
    """What an interrupted put says: every open upload aborted, or which are not and how to
    abort them; then (``then``) what was stored and how to continue."""
    after = f"; {then}" if then else ""
    if not left:
        return f"bulkup: interrupted: open multipart uploads were aborted{after}"
    shown = "; ".join(left[:5]) + (f"; and {len(left) - 5} more" if len(left) > 5 else "")
    bucket = left[0].split("/")[2]
    return (
        f"bulkup: interrupted: {len(left)} multipart upload(s) were NOT aborted: {shown}; "
        f"abort them with: bulkup cleanup s3://{bucket}/ --older-than 0s --yes{after}"
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
        raise UsageError(f"bulkup: error: {one_line(message.removeprefix('argument '))}{hint}")


def _command_in(argv: list[str]) -> str | None:
    """The command ``argv`` runs: its first word that is not an option (bulkup's own options
    take no value), if that names a command."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in BY_NAME else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser, every command and option on it (``only``: the options of
    that command alone)."""
    parser = _Parser(
        prog="bulkup",
        description="Fast, verified bulk uploads to S3 and S3-compatible stores.",
        epilog=overview_examples(),
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"bulkup {__version__}")
    parser.add_argument("--debug", action="store_true", help="verbose logs (secrets never shown)")
    commands = parser.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")
    add_commands(commands, only)
    for command in commands.choices.values():  # `bulkup put ... --debug`, as aws-cli takes it
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="verbose logs (secrets never shown)"
        )
    return parser
