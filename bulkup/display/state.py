"""What a run's progress looks like right now: counters, rates, workers, large objects.

Pure bookkeeping fed by the coordinator's events (no I/O, no clock of its own: callers
pass ``now``), so every display renders the same numbers and each is testable alone.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

RATE_SAMPLE = 0.5  # seconds between rate samples
RATE_SMOOTHING = 0.3  # weight of the newest sample in the smoothed rate
PEAK_WINDOW = 1.0  # peak throughput is the best rate over a window this long
MAX_ERRORS = 5


@dataclass
class WorkerRow:
    index: int
    pid: int
    engine: str  # the data path it runs, e.g. "kTLS+io_uring"
    connections: int
    ktls: str = "-"  # "on", "off" (fell back), or "-" (plain http)
    sent: int = 0
    rate: float = 0.0
    alive: bool = True
    node: str = ""  # where it runs (Ray), else ""
    _last_sent: int = 0


@dataclass
class LargeObject:
    key: str
    size: int
    parts: int
    parts_done: int = 0
    bytes_done: int = 0  # of the parts the store accepted
    bytes_sending: int = 0  # of its parts in flight, as far as they have got (an estimate)

    @property
    def bytes_shown(self) -> int:
        """How far the object has got, for its bar."""
        return min(self.size, self.bytes_done + self.bytes_sending)


@dataclass
class ProgressState:
    """Everything the displays show, updated by events."""

    started: float = 0.0
    objects_total: int = 0
    bytes_total: int = 0
    objects_done: int = 0
    objects_failed: int = 0
    objects_skipped: int = 0
    bytes_sent: int = 0  # handed to the kernel, retries included
    bytes_done: int = 0  # in objects (and parts) the server accepted
    retries: int = 0
    rate: float = 0.0  # smoothed bytes per second
    object_rate: float = 0.0  # smoothed objects finished per second
    bandwidth_limit: float | None = None  # bytes per second the run keeps to (--bwlimit)
    slowdowns: int = 0  # the store asked the run to slow down (or was unreachable)
    request_rate: float | None = None  # requests per second the run keeps to, once slowed
    size_unknown: bool = False  # a stream: bytes and rate, no total, no ETA
    peak_rate: float = 0.0
    retrying: set[tuple[str, int | None]] = field(default_factory=set)
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_ERRORS))
    workers: dict[int, WorkerRow] = field(default_factory=dict)
    large: dict[str, LargeObject] = field(default_factory=dict)
    _sample_at: float = 0.0
    _sample_sent: int = 0
    _sample_finished: int = 0
    _peak_at: float = 0.0
    _peak_sent: int = 0

    # -- events ------------------------------------------------------------------------

    def start(self, objects: int, total_bytes: int | None, now: float) -> None:
        """The run begins; ``total_bytes`` None: not known (a stream)."""
        self.objects_total, self.bytes_total = objects, total_bytes or 0
        self.size_unknown = total_bytes is None
        self.started = self._sample_at = self._peak_at = now

    def worker_ready(self, index: int, pid: int, engine: str, connections: int, node: str = "") -> None:
        ktls = "on" if engine.startswith("kTLS") else ("off" if "TLS" in engine else "-")
        self.workers[index] = WorkerRow(index, pid, engine, connections, ktls, node=node)

    def nodes(self) -> list[tuple[str, int, str, float]]:
        """Per node (Ray runs): live workers, the data paths they run, their summed rate."""
        found: dict[str, list[WorkerRow]] = {}
        for row in self.workers.values():
            if row.node:
                found.setdefault(row.node, []).append(row)
        return [
            (
                node,
                sum(r.alive for r in rows),
                ", ".join(sorted({r.engine for r in rows if r.alive})),
                sum(r.rate for r in rows if r.alive),
            )
            for node, rows in sorted(found.items())
        ]

    def add_sent(self, worker: int, nbytes: int) -> None:
        self.bytes_sent += nbytes
        if worker in self.workers:
            self.workers[worker].sent += nbytes

    def object_started(self, key: str, size: int, parts: int) -> None:
        self.large[key] = LargeObject(key, size, parts)

    def object_sending(self, key: str, nbytes: int) -> None:
        if key in self.large:
            self.large[key].bytes_sending = nbytes

    def part_done(self, key: str, part: int | None, length: int, worker: int, data_path: str) -> None:
        self.retrying.discard((key, part))
        row = self.workers.get(worker)
        if row is not None and data_path:
            row.engine = data_path
            row.ktls = "on" if data_path.startswith("kTLS") else ("off" if "TLS" in data_path else "-")
        if key in self.large:
            self.large[key].parts_done += 1
            self.large[key].bytes_done += length
            self.bytes_done += length

    def part_retried(self, key: str, part: int | None, reason: str) -> None:
        self.retries += 1
        self.retrying.add((key, part))
        self.errors.append(f"retrying {_label(key, part)}: {reason}")

    def object_restarted(self, key: str, reason: str) -> None:
        self.errors.append(f"starting {key} over: {reason}")
        large = self.large.pop(key, None)
        if large is not None:
            self.bytes_done -= large.bytes_done

    def object_done(self, key: str, size: int) -> None:
        self.objects_done += 1
        self._forget(key, size)

    def object_failed(self, key: str, size: int, reason: str) -> None:
        self.objects_failed += 1
        self.errors.append(f"failed {key}: {reason}")
        self._forget(key, size)
        self.retrying = {r for r in self.retrying if r[0] != key}

    def object_skipped(self, key: str, size: int) -> None:
        self.objects_skipped += 1
        self.bytes_total = max(0, self.bytes_total - size)

    def worker_lost(self, worker: int, why: str) -> None:
        if worker in self.workers:
            self.workers[worker].alive = False
        self.errors.append(f"worker {worker} died ({why}); its parts go to the others")

    def _forget(self, key: str, size: int) -> None:
        large = self.large.pop(key, None)
        self.bytes_done += size - (large.bytes_done if large else 0)

    # -- derived -----------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Update the smoothed and peak rates (call at the display's own pace)."""
        if now - self._sample_at >= RATE_SAMPLE:
            sample = (self.bytes_sent - self._sample_sent) / (now - self._sample_at)
            first = self._sample_sent == 0 and self.rate == 0.0
            self.rate = sample if first else RATE_SMOOTHING * sample + (1 - RATE_SMOOTHING) * self.rate
            for row in self.workers.values():
                row_sample = (row.sent - row._last_sent) / (now - self._sample_at)
                row.rate = RATE_SMOOTHING * row_sample + (1 - RATE_SMOOTHING) * row.rate
                row._last_sent = row.sent
            finished = (self.objects_finished - self._sample_finished) / (now - self._sample_at)
            first_objects = self._sample_finished == 0 and self.object_rate == 0.0
            self.object_rate = (
                finished if first_objects else RATE_SMOOTHING * finished + (1 - RATE_SMOOTHING) * self.object_rate
            )
            self._sample_at, self._sample_sent, self._sample_finished = now, self.bytes_sent, self.objects_finished
        if now - self._peak_at >= PEAK_WINDOW:
            self.peak_rate = max(self.peak_rate, (self.bytes_sent - self._peak_sent) / (now - self._peak_at))
            self._peak_at, self._peak_sent = now, self.bytes_sent
        if now > self.started:  # a run shorter than the window peaks at its average
            self.peak_rate = max(self.peak_rate, min(self.bytes_sent, self.bytes_total) / (now - self.started))

    @property
    def objects_finished(self) -> int:
        return self.objects_done + self.objects_failed + self.objects_skipped

    @property
    def bytes_progress(self) -> int:
        """Bytes to show as done: what was sent, never more than the total."""
        return min(max(self.bytes_sent, self.bytes_done), self.bytes_total)

    def eta(self) -> float | None:
        """Seconds left (None before there is a rate): the longer of the bytes left at the
        byte rate and the objects left at the object rate. Many small objects are bound by
        what each costs, not by their bytes; one large one by its bytes."""
        if self.rate <= 0 or self.size_unknown:
            return None
        by_bytes = max(0.0, (self.bytes_total - self.bytes_progress) / self.rate)
        objects_left = self.objects_total - self.objects_finished
        if self.object_rate <= 0 or objects_left <= 0:
            return by_bytes
        return max(by_bytes, objects_left / self.object_rate)

    def elapsed(self, now: float) -> float:
        return max(0.0, now - self.started)


def _label(key: str, part: int | None) -> str:
    return key if part is None else f"{key} part {part}"
