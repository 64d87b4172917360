"""Writing ``--report FILE.json``: a run's outcome as indented JSON."""

from __future__ import annotations

import json

from bulkup.errors import BulkupError


def write_json(path: str, data: dict) -> None:
    """Write ``data`` to ``path``; an unwritable path is one clear error."""
    try:
        with open(path, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
    except OSError as exc:
        raise BulkupError(f"{path}: cannot write the report: {exc.strerror}") from None
