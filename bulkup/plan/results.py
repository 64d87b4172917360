"""What a run did: per-object outcomes, where parts went, and running totals.

Totals are always kept; the per-object and per-part lists only when asked for (the Python
API and `bulkup put`), so a migration of millions of objects keeps bounded memory: its
journal holds the per-object record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from bulkup.plan.files import Skip

MAX_FAILURES_KEPT = 1000


class NodeTotals(TypedDict):
    """One Ray node's share of a run: its workers, parts per data path, parts, bytes, rate."""

    workers: list[int]
    paths: dict[str, int]
    parts: int
    bytes: int
    rate: int  # bytes per second over the run


@dataclass(frozen=True, kw_only=True)
class WorkerStats:
    """A worker's own resource use, which it sends as it exits (for summaries and evidence)."""

    worker: int
    pid: int
    cpu_user: float
    cpu_system: float
    max_rss: int  # bytes, peak resident set since the worker was ready to send
    throttled: float = 0.0  # seconds its connections waited to keep to --bwlimit
    held_back: float = 0.0  # seconds its requests waited for the store: paced to the run's rate, backing off


@dataclass(frozen=True, kw_only=True)
class PartRecord:
    """Where one part went: for reports and for proving the work was spread."""

    key: str
    part_number: int | None
    worker: int
    pid: int
    connection: str
    request_on_connection: int
    attempts: int
    data_path: str = ""  # e.g. "kTLS+io_uring"
    fallback: str | None = None
    ktls_rx: bool = False
    tls: str | None = None  # protocol and cipher negotiated, on a connection's first request


@dataclass(kw_only=True)
class ObjectResult:
    """One object's outcome (``error`` is None once the server has it)."""

    key: str
    path: str
    size: int
    etag: str = ""
    checksum: str | None = None
    parts: int = 1
    error: str | None = None
    bucket: str = ""
    verification: str = ""  # how the store verified it, e.g. "server: md5 per part"
    exists: bool = False  # not written: the key was taken (--no-overwrite)


@dataclass
class UploadResult:
    """The outcome of a run."""

    record: bool = True  # keep every object and part (else totals only)
    objects: list[ObjectResult] = field(default_factory=list)
    failed: list[ObjectResult] = field(default_factory=list)
    failed_count: int = 0
    uploaded_count: int = 0
    bytes_uploaded: int = 0
    skipped: list[Skip] = field(default_factory=list)  # tree entries not uploaded
    excluded: int = 0  # files --exclude / --include left out
    existing_count: int = 0  # objects not written: their key was taken (--no-overwrite)
    kept_count: int = 0  # objects not replaced (--if-size-differ / --if-source-newer)
    stream_peak_held: int | None = None  # a stream's most bytes held in memory at once
    sample: tuple[str, str] | None = None  # (bucket, key) of the first object uploaded
    attributes_missing: list[str] = field(default_factory=list)  # asked for, not kept by the store
    parts: list[PartRecord] = field(default_factory=list)
    part_count: int = 0
    retries: int = 0  # part attempts beyond the first
    slowdowns: int = 0  # answers asking the run to slow down (SlowDown, 5xx, no connection)
    lowest_rate: float | None = None  # requests/s the run was slowed to at most
    engines: dict[int, str] = field(default_factory=dict)
    nodes: dict[int, str] = field(default_factory=dict)  # worker -> node (Ray runs only)
    workers: dict[int, WorkerStats] = field(default_factory=dict)
    workers_lost: list[tuple[int, str]] = field(default_factory=list)
    verification: dict[str, int] = field(default_factory=dict)  # objects by how verified
    seconds: float = 0.0
    _paths: dict[int, dict[str, int]] = field(default_factory=dict)
    _fallbacks: dict[int, str] = field(default_factory=dict)
    _tls: dict[int, set[str]] = field(default_factory=dict)
    _bytes: dict[int, int] = field(default_factory=dict)

    @property
    def uploaded(self) -> list[ObjectResult]:
        return [o for o in self.objects if o.error is None and not o.exists]

    @property
    def ok(self) -> bool:
        return self.failed_count == 0 and not self.attributes_missing

    def add_object(self, obj: ObjectResult) -> None:
        if self.record:
            self.objects.append(obj)

    def object_done(self, obj: ObjectResult) -> None:
        if self.sample is None:
            self.sample = (obj.bucket, obj.key)
        self.uploaded_count += 1
        self.bytes_uploaded += obj.size
        if obj.verification:
            self.verification[obj.verification] = self.verification.get(obj.verification, 0) + 1

    @property
    def held_back(self) -> float:
        """Seconds the run's requests waited for the store: paced to its rate, backing off."""
        return sum(stats.held_back for stats in self.workers.values())

    @property
    def unverified_count(self) -> int:
        """Objects uploaded that the store did not verify."""
        return sum(n for label, n in self.verification.items() if not label.startswith("server: "))

    def object_exists(self, obj: ObjectResult) -> None:
        self.existing_count += 1

    def object_failed(self, obj: ObjectResult) -> None:
        self.failed_count += 1
        if len(self.failed) < MAX_FAILURES_KEPT:
            self.failed.append(obj)

    def add_part(self, part: PartRecord, length: int = 0) -> None:
        self.part_count += 1
        self._bytes[part.worker] = self._bytes.get(part.worker, 0) + length
        self.retries += part.attempts - 1
        counts = self._paths.setdefault(part.worker, {})
        counts[part.data_path] = counts.get(part.data_path, 0) + 1
        if part.fallback:
            self._fallbacks[part.worker] = part.fallback
        if part.tls:
            self._tls.setdefault(part.worker, set()).add(part.tls)
        if self.record:
            self.parts.append(part)

    def paths_by_worker(self) -> dict[int, dict[str, int]]:
        """For each worker, how many parts went by each data path (e.g. kTLS+sendfile)."""
        return self._paths

    def tls_by_worker(self) -> dict[int, list[str]]:
        """For each worker, the TLS protocol and cipher its connections negotiated."""
        return {worker: sorted(found) for worker, found in self._tls.items()}

    def fallbacks(self) -> dict[int, str]:
        """Workers whose connections fell back from the chosen engine, with the reason."""
        return self._fallbacks

    def by_node(self) -> dict[str, NodeTotals]:
        """Per node (Ray runs): its workers, their data paths, parts, bytes and rate."""
        nodes: dict[str, NodeTotals] = {}
        for worker, node in sorted(self.nodes.items()):
            entry = nodes.setdefault(node, {"workers": [], "paths": {}, "parts": 0, "bytes": 0, "rate": 0})
            entry["workers"].append(worker)
            for path, count in self._paths.get(worker, {}).items():
                entry["paths"][path] = entry["paths"].get(path, 0) + count
                entry["parts"] += count
            entry["bytes"] += self._bytes.get(worker, 0)
        for entry in nodes.values():
            entry["rate"] = round(entry["bytes"] / max(self.seconds, 1e-9))
        return nodes

    @property
    def rate(self) -> float:
        """Average bytes per second over the run."""
        return self.bytes_uploaded / max(self.seconds, 1e-9)

    def peak(self, peak_rate: float) -> float:
        """The peak rate a display measured, never below the run's average."""
        return max(peak_rate, self.rate)

    def summary(self, peak_rate: float | None = None) -> dict[str, object]:
        """The run as plain data, for JSON reports and the JSON progress stream."""
        return {
            "objects_uploaded": self.uploaded_count,
            "objects_failed": self.failed_count,
            "objects_excluded": self.excluded,
            "objects_existing": self.existing_count,
            "objects_kept": self.kept_count,
            **({"stream_peak_bytes_held": self.stream_peak_held} if self.stream_peak_held is not None else {}),
            "bytes_uploaded": self.bytes_uploaded,
            "seconds": round(self.seconds, 3),
            "rate": round(self.rate),
            "peak_rate": None if peak_rate is None else round(self.peak(peak_rate)),
            "parts": self.part_count,
            "retries": self.retries,
            "slowdowns": self.slowdowns,
            "held_back_seconds": round(self.held_back, 3),
            "lowest_request_rate": None if self.lowest_rate is None else round(self.lowest_rate, 1),
            "verification": dict(sorted(self.verification.items())),
            "workers": {
                str(w): {
                    "engine": self.engines.get(w),
                    "paths": paths,
                    "fallback": self._fallbacks.get(w),
                    "tls": sorted(self._tls.get(w, ())),
                    "cpu_seconds": _cpu(self.workers.get(w)),
                    "peak_rss": _peak(self.workers.get(w)),
                    "throttled_seconds": _throttled(self.workers.get(w)),
                    **({"node": self.nodes[w]} if w in self.nodes else {}),
                }
                for w, paths in sorted(self._paths.items())
            },
            **({"nodes": self.by_node()} if self.nodes else {}),
            "workers_lost": [{"worker": w, "reason": why} for w, why in self.workers_lost],
            "failures": [{"key": o.key, "reason": o.error} for o in self.failed],
            "attributes_missing": self.attributes_missing,
        }


def _peak(stats: WorkerStats | None) -> int | None:
    return None if stats is None else stats.max_rss


def _throttled(stats: WorkerStats | None) -> float | None:
    return None if stats is None else stats.throttled


def _cpu(stats: WorkerStats | None) -> float | None:
    return None if stats is None else round(stats.cpu_user + stats.cpu_system, 3)
