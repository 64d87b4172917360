"""``migrate``: load a manifest into a journal, then upload what is left (the migration's
pieces, manifest, journal and reconciling, are in ``bulkup.migrate``).

Rerunning the same command (or ``bulkup resume JOURNAL``) after Ctrl-C, a crash, kill -9
or a reboot continues where the journal says the last run stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bulkup.control.events import RunEvents
from bulkup.control.plane import connect
from bulkup.display.sink import ProgressSink
from bulkup.display.text import human_bytes
from bulkup.migrate.journal import Journal, JournalObject, ObjectState
from bulkup.migrate.loading import LoadReport, load_manifest
from bulkup.migrate.reconcile import Action, Decision, Reconciler
from bulkup.ops.steps import ask_store, run_jobs
from bulkup.options import UploadOptions
from bulkup.options.resolve import RunSettings
from bulkup.plan.attributes import merged
from bulkup.plan.checksums import get_algorithm
from bulkup.plan.files import SourceFile
from bulkup.plan.jobs import ObjectSettings, UploadJob
from bulkup.plan.parts import MAX_SINGLE_PUT
from bulkup.plan.results import UploadResult
from bulkup.pools.factory import launch_early
from bulkup.report import write_json

log = logging.getLogger("bulkup")

if TYPE_CHECKING:
    import boto3

LOOKAHEAD = 64  # objects being reconciled ahead of the uploads
RECONCILE_THREADS = 8


def default_journal(manifest: str) -> str:
    """The journal's path: beside the manifest."""
    return manifest + ".journal"


@dataclass
class MigrationResult:
    """What a run of a migration did, and where the whole migration stands."""

    manifest: str
    journal: str
    upload: UploadResult
    load: LoadReport
    totals: dict[str, tuple[int, int]] = field(default_factory=dict)  # state -> objects, bytes
    skipped_now: int = 0  # skipped by --skip-existing in this run
    peak_rate: float | None = None
    journal_seconds: float = 0.0  # time spent committing the journal's steps
    load_seconds: float = 0.0  # wall time loading and checking the manifest

    @property
    def ok(self) -> bool:
        return self.totals.get("failed", (0, 0))[0] == 0 and self.upload.ok


def migrate(
    manifest: str,
    settings: RunSettings,
    recorded: UploadOptions,
    progress: ProgressSink,
    journal_path: str | None = None,
    skip_bad_lines: bool = False,
    skip_existing: str | None = None,
    session: boto3.Session | None = None,
    report: str | None = None,
) -> MigrationResult:
    """Upload everything ``manifest`` lists, journaled; resumes from an existing journal.
    ``recorded``: the options ``settings`` were resolved from, which the journal keeps for
    ``bulkup resume``. ``report``: also write the outcome as JSON there (even when
    interrupted)."""
    if skip_existing not in (None, "size", "checksum"):
        raise ValueError("skip_existing must be None, 'size' or 'checksum'")
    journal = Journal.open(journal_path or default_journal(manifest), run=True)
    try:
        started = time.monotonic()
        try:
            load = load_manifest(journal, manifest, skip_bad_lines)
        except BaseException:
            if journal.created:
                journal.discard()
            raise
        if load.pinned and not settings.pool.ray:
            log.warning(
                "%s: %d of its lines name a node, which only --ray honours: this machine reads their files",
                manifest,
                load.pinned,
            )
        result = MigrationResult(
            manifest, journal.path, UploadResult(record=False), load, load_seconds=time.monotonic() - started
        )
        if settings.dry_run:
            result.totals = journal.totals()
            if journal.created:
                journal.discard()
            return result
        journal.set_meta("options", json.dumps({**dataclasses.asdict(recorded), "dry_run": False}))
        try:
            _run(journal, settings, result, skip_existing, progress, session)
        except BaseException:
            progress.close()
            raise
        finally:
            result.totals = journal.totals()
            result.journal_seconds = journal.seconds
            progress.state.tick(time.monotonic())
            result.peak_rate = progress.state.peak_rate
            if report:
                write_report(result, report, journal)
        if result.upload.seconds:
            progress.finish(result.upload, migration_lines(result, journal))
        return result
    finally:
        if not journal.closed:
            journal.close()


def _run(
    journal: Journal,
    settings: RunSettings,
    result: MigrationResult,
    skip_existing: str | None,
    progress: ProgressSink,
    session: boto3.Session | None,
) -> None:
    objects, total_bytes = journal.unfinished_totals()
    if not objects:
        return
    with launch_early(settings.pool) as launcher:  # the workers start while the run is planned
        control = connect(settings.client, session)
        routes, objects_in = {}, {}
        for bucket in journal.buckets():
            routes[bucket], objects_in[bucket] = ask_store(
                control, bucket, journal.first_key(bucket), settings, _once(progress.notice)
            )
        if not routes:
            return
        result.upload = UploadResult(record=False)
        events = RunEvents(result.upload, progress, [journal])
        reconciler = Reconciler(lambda b: routes[b].client, lambda b: objects_in[b].checksum, skip_existing)
        jobs = _JobSource(journal, reconciler, objects_in, result, progress)
        run_jobs(
            jobs, objects, total_bytes, routes, settings.objects, settings, control, launcher, events, journaled=True
        )


def _once(notify: Callable[[str, bool], None]) -> Callable[[str, bool], None]:
    """``notify``, but a line already told is not told again (one per store, not per bucket)."""
    told: set[str] = set()

    def tell(text: str, warning: bool = False) -> None:
        if text not in told:
            told.add(text)
            notify(text, warning)

    return tell


class _JobSource:
    """The journal's unfinished objects, reconciled ahead of need, as upload jobs."""

    def __init__(
        self,
        journal: Journal,
        reconciler: Reconciler,
        base: dict[str, ObjectSettings],
        result: MigrationResult,
        progress: ProgressSink,
    ) -> None:
        self.journal, self.reconciler, self.base, self.result = journal, reconciler, base, result
        self.progress = progress

    def __iter__(self) -> Iterator[UploadJob]:
        with ThreadPoolExecutor(RECONCILE_THREADS, thread_name_prefix="reconcile") as pool:
            waiting: deque[Future] = deque()
            try:
                for row in self.journal.unfinished():
                    if self.reconciler.needs_server(row):
                        parts = self.journal.parts(row.id) if row.upload_id else {}
                        waiting.append(pool.submit(self.reconciler.decide, row, parts))
                    else:
                        yield from self._apply(self.reconciler.decide(row, {}))
                    while waiting and (waiting[0].done() or len(waiting) >= LOOKAHEAD):
                        yield from self._apply(waiting.popleft().result())
                while waiting:
                    yield from self._apply(waiting.popleft().result())
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def _apply(self, decision: Decision) -> Iterator[UploadJob]:
        row, journal = decision.row, self.journal
        if decision.action is Action.FAIL:
            journal.mark_failed(row.id, decision.reason)
            return
        if decision.action is Action.DONE:
            journal.mark_done(row.id, decision.etag, decision.checksum)
            return
        if decision.action is Action.SKIP:
            journal.mark_skipped(row.id, decision.reason)
            self.result.skipped_now += 1
            self.progress.object_skipped(row.key, decision.size, decision.reason)
            return
        changed = row.identity.differs_from(decision.identity) is not None
        if decision.replan or (decision.upload_id is None and (changed or row.state is ObjectState.FAILED)):
            journal.replan(row.id, decision.identity)
        elif decision.upload_id:
            journal.adopt_upload(row.id, decision.upload_id, decision.parts)
        yield self._job(row, decision)

    def _job(self, row: JournalObject, decision: Decision) -> UploadJob:
        found = decision.identity
        source = SourceFile(
            path=row.source,
            key=row.key,
            size=found.size,
            mtime_ns=found.mtime_ns or 0,
            ctime_ns=found.ctime_ns,
            inode=found.inode,
            device=found.device,
        )
        settings = object_settings_for(row, self.base[row.bucket])
        checksum = None
        given = row.attributes.get("checksum")
        if given and given[0] == settings.checksum.name:
            checksum = given[1]
        if decision.upload_id:
            if row.algorithm:
                settings = dataclasses.replace(settings, checksum=get_algorithm(row.algorithm))
            return UploadJob(
                source=source,
                bucket=row.bucket,
                settings=settings,
                ref=row.id,
                upload_id=decision.upload_id,
                part_size=row.part_size,
                parts_done=decision.parts,
                checksum=checksum,
                node=row.attributes.get("node"),
            )
        return UploadJob(
            source=source,
            bucket=row.bucket,
            settings=settings,
            ref=row.id,
            checksum=checksum,
            node=row.attributes.get("node"),
        )


def object_settings_for(row: JournalObject, base: ObjectSettings) -> ObjectSettings:
    """The run's object settings with the manifest line's own attributes on top."""
    attrs = row.attributes
    if not attrs:
        return base
    changes: dict = {}
    if "content_type" in attrs:
        changes["content_type"] = attrs["content_type"]
    if "metadata" in attrs:
        changes["metadata"] = tuple(sorted({**dict(base.metadata), **attrs["metadata"]}.items()))
    own = {"storage_class": attrs["storage_class"]} if "storage_class" in attrs else {}  # journals before 3
    own.update(attrs.get("object", {}))  # storage_class, cache_control, tagging, acl, ...
    if own:
        changes["attributes"] = merged(base.attributes, own)
    if "checksum" in attrs:
        changes["checksum"] = get_algorithm(attrs["checksum"][0])
        if attrs["checksum"][0] == "md5":
            changes["multipart_threshold"] = MAX_SINGLE_PUT  # md5 is verified on one PUT only
    return dataclasses.replace(base, **changes)


def migration_lines(result: MigrationResult, journal: Journal) -> dict[str, str]:
    """The migration's own summary lines, beside the run's."""
    totals = result.totals
    everything = sum(n for n, _ in totals.values())
    lines = {
        "migration": f"{totals['done'][0]:,} of {everything:,} objects done "
        f"({human_bytes(totals['done'][1])}), {totals['skipped'][0]:,} skipped as "
        f"already there, {totals['failed'][0]:,} failed",
        "journal": f"{journal.path} (manifest checked in {result.load_seconds:.1f} s, "
        f"commits {result.journal_seconds:.2f} s)",
    }
    if result.load.bad_count:
        lines["bad lines"] = f"{result.load.bad_count:,} skipped (listed above)"
    return lines


def stored_options(journal: Journal) -> UploadOptions:
    """The options the journal's migration last ran with (never credentials)."""
    text = journal.meta("options")
    fields = {f.name for f in dataclasses.fields(UploadOptions)}
    values = {k: v for k, v in json.loads(text).items() if k in fields} if text else {}
    return UploadOptions(**values)


def write_report(result: MigrationResult, path: str, journal: Journal) -> None:
    """The run and the migration's state as JSON (every failure, skip and bad line)."""
    upload = result.upload
    report = {
        "manifest": result.manifest,
        "journal": result.journal,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "ok": result.ok,
        "run": {
            **upload.summary(result.peak_rate),
            "skipped_existing": result.skipped_now,
            "journal_seconds": round(result.journal_seconds, 3),
            "load_seconds": round(result.load_seconds, 3),
        },
        "migration": {state: {"objects": n, "bytes": b} for state, (n, b) in result.totals.items()},
        "failures": [
            {"line": o.id, "source": o.source, "destination": o.destination, "reason": o.reason}
            for o in journal.failures()
        ],
        "skipped": [{"line": o.id, "destination": o.destination, "reason": o.reason} for o in journal.skipped()],
        "bad_lines": [{"line": line, "reason": reason} for line, reason in journal.bad_lines()],
    }
    write_json(path, report)
