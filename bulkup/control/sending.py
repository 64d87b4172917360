"""How far each object's parts in flight have got, for the per-object progress bars.

A worker reports only how many bytes it handed to the kernel since its last report, not for
which part: its connections send their parts side by side. So the bytes are spread evenly
over the parts it is sending (its first ``lanes`` tasks in the order it was given them, one
per connection), each capped at its length; a part's estimate ends when it is answered. This
is for display only: what was stored is counted from the parts the store accepted.
"""

from __future__ import annotations

from collections.abc import Iterable

from bulkup.transport.messages import PartTask


class SendingEstimate:
    """Bytes sent so far of each part in flight, and so of each object (kept as a total per
    object: asked once per answer, it must not cost a walk over every part in flight)."""

    def __init__(self) -> None:
        self._parts: dict[int, tuple[str, int]] = {}  # task id -> (key, bytes sent of it)
        self._totals: dict[str, int] = {}  # key -> bytes sent of its parts in flight

    def sent(self, held: Iterable[PartTask], nbytes: int, lanes: int) -> dict[str, int]:
        """Spread ``nbytes`` over the parts a worker holds (oldest first, at most ``lanes``
        at once); the new total in flight of each object whose estimate moved."""
        sending = [task for task in sorted(held, key=lambda t: t.task_id)][: max(1, lanes)]
        moved: set[str] = set()
        while nbytes > 0:
            open_ = [t for t in sending if self._sent_of(t) < t.source.length]
            if not open_:
                break
            share = max(1, nbytes // len(open_))
            for task in open_:
                taken = min(share, task.source.length - self._sent_of(task), nbytes)
                self._parts[task.task_id] = (task.key, self._sent_of(task) + taken)
                self._totals[task.key] = self._totals.get(task.key, 0) + taken
                nbytes -= taken
                moved.add(task.key)
                if nbytes <= 0:
                    break
        return {key: self.of(key) for key in moved}

    def answered(self, task: PartTask) -> tuple[str, int]:
        """The part is done with (accepted, or given up): its object's new total in flight."""
        if (part := self._parts.pop(task.task_id, None)) is not None:
            key, sent = part
            left = self._totals.pop(key) - sent
            if left:
                self._totals[key] = left
        return task.key, self.of(task.key)

    def of(self, key: str) -> int:
        """Bytes of ``key``'s parts in flight sent so far."""
        return self._totals.get(key, 0)

    def _sent_of(self, task: PartTask) -> int:
        return self._parts.get(task.task_id, ("", 0))[1]
