"""How a command that cannot finish says so: one line on stderr, and for a tool reading
``--progress json``, the same as an event on stdout."""

from __future__ import annotations

import json
import sys


def ended(event: str, line: str, exit_code: int, as_json: bool) -> int:
    """Print ``line`` on stderr, and with ``as_json`` an ``event`` (``error`` or
    ``interrupted``) on stdout with the line's message and the exit code; the exit code."""
    print(line, file=sys.stderr)
    if as_json:
        message = line.split(": ", 2)[-1]  # without "bulkup: error: "
        try:
            print(json.dumps({"event": event, "message": message, "exit_code": exit_code}), flush=True)
        except BrokenPipeError:  # the reader went away: stderr has said it
            pass
    return exit_code


def json_progress(argv: list[str]) -> bool:
    """Whether a command line asks for ``--progress json``."""
    pairs = zip(argv, argv[1:], strict=False)
    return "--progress=json" in argv or any(a == "--progress" and b == "json" for a, b in pairs)
