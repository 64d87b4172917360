"""An answer to "can this run here?", with the reason in plain words (for ``bulkup doctor``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Availability:
    """Whether an engine can run here, and in plain words why (not)."""

    usable: bool
    reason: str

    def __bool__(self) -> bool:
        return self.usable
