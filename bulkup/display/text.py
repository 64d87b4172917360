"""The words and numbers every display shares: sizes, durations, status and summary lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bulkup.display.state import ProgressState

if TYPE_CHECKING:
    from bulkup.plan.results import UploadResult


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """(1, 'file') -> '1 file'; (1200, 'file') -> '1,200 files'."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def format_seconds(seconds: float) -> str:
    """3725 -> '1:02:05'."""
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def notice_line(text: str, warning: bool) -> str:
    """A notice as every display prints it: ``bulkup: [warning: ]text``."""
    return f"bulkup: {'warning: ' if warning else ''}{text}"


def status_line(state: ProgressState, now: float) -> str:
    """One line: objects, bytes, percent, rate, ETA, and any failures or retries."""
    percent = 100 * state.bytes_progress / state.bytes_total if state.bytes_total else 100.0
    eta = state.eta()
    parts = [
        f"{state.objects_finished}/{state.objects_total} objects",
        f"{human_bytes(state.bytes_progress)}/{human_bytes(state.bytes_total)} ({percent:.0f}%)",
        f"{human_bytes(state.rate)}/s",
        f"ETA {format_seconds(eta)}" if eta is not None else "ETA -",
    ]
    if state.objects_failed:
        parts.append(f"{state.objects_failed} failed")
    if state.retrying:
        parts.append(f"{len(state.retrying)} retrying")
    if state.slowdowns:
        parts.append(slowed_words(state.slowdowns, state.request_rate))
    return ", ".join(parts)


def slowed_words(slowdowns: int, request_rate: float | None) -> str:
    """``store said slow down 12 times, at 48 requests/s``."""
    rate = f", at {request_rate:,.0f} requests/s" if request_rate is not None else ""
    return f"store said slow down {slowdowns:,} time{'s' * (slowdowns != 1)}{rate}"


def summary_lines(result: UploadResult, state: ProgressState, extra: dict[str, str] | None) -> list[str]:
    """The plain-text summary: totals, throughput, workers, extra lines, failure count."""
    lines = [
        f"uploaded {result.uploaded_count} objects, {human_bytes(result.bytes_uploaded)} in "
        f"{result.seconds:.1f} s ({human_bytes(result.rate)}/s average, "
        f"{human_bytes(result.peak(state.peak_rate))}/s peak), {result.retries} retries"
    ]
    if result.verification:
        lines.append(f"verification: {verification_text(result)}")
    if result.slowdowns:
        lines.append(f"slowed down: {throttle_text(result)}")
    lines += worker_lines(result)
    lines += [f"  {label}: {text}" for label, text in node_rows(result)]
    lines += [f"{label}: {text}" for label, text in (extra or {}).items()]
    if result.failed_count:
        lines.append(f"{result.failed_count} objects failed (each is listed above)")
    return lines


def throttle_text(result: UploadResult) -> str:
    """How the store pushed back: ``the store asked 37 times (SlowDown, 5xx or no connection);
    the run went down to 45 requests/s, its requests waited 12.3 s in all``."""
    lowest = f"; the run went down to {result.lowest_rate:,.1f} requests/s" if result.lowest_rate else ""
    return (
        f"the store asked {result.slowdowns:,} time{'s' * (result.slowdowns != 1)} (SlowDown, 5xx or "
        f"no connection){lowest}, its requests waited {result.held_back:.1f} s in all"
    )


def verification_text(result: UploadResult) -> str:
    """How the store verified the objects: ``12 server: crc64nvme, 1 server: crc64nvme full-object``."""
    return ", ".join(
        f"{count:,} {label}" for label, count in sorted(result.verification.items(), key=lambda item: -item[1])
    )


def worker_lines(result: UploadResult) -> list[str]:
    """One line per worker: the data paths its parts took, and any fallback or death."""
    return [f"  {label}: {text}" for label, text in worker_rows(result)]


def worker_rows(result: UploadResult) -> list[tuple[str, str]]:
    """(``worker N``, what its parts did) for each worker, then each worker that died."""
    fallbacks, tls = result.fallbacks(), result.tls_by_worker()
    rows = []
    for worker, paths in sorted(result.paths_by_worker().items()):
        used = ", ".join(f"{path} ({count} parts)" for path, count in sorted(paths.items()))
        used += f"; {', '.join(tls[worker])}" if worker in tls else ""
        note = f"; fell back: {fallbacks[worker]}" if worker in fallbacks else ""
        rows.append((_worker_label(result, worker), used + note))
    rows += [
        (_worker_label(result, w), f"died ({why}); its parts were sent by the others") for w, why in result.workers_lost
    ]
    return rows


def _worker_label(result: UploadResult, worker: int) -> str:
    node = result.nodes.get(worker)
    return f"worker {worker} on {node}" if node else f"worker {worker}"


def node_rows(result: UploadResult) -> list[tuple[str, str]]:
    """(``node X``, its workers, paths, bytes and rate) for each node of a Ray run."""
    rows = []
    for node, entry in result.by_node().items():
        paths = ", ".join(sorted(entry["paths"])) or "no parts"
        workers = len(entry["workers"])
        rows.append(
            (
                f"node {node}",
                f"{workers} worker{'s' * (workers != 1)}, {paths}: {entry['parts']} parts, "
                f"{human_bytes(entry['bytes'])} at {human_bytes(entry['rate'])}/s",
            )
        )
    return rows
