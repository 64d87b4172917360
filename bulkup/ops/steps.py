"""The steps every operation is built from, so that every check holds for each by
construction: ask the store (the checksum it verifies, the attributes it takes), run the
jobs (workers, the coordinator, the attributes read back), and judge the outcome (the
attributes the store did not keep, objects it did not verify under --require-verified)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from bulkup.control.attributecheck import check_attributes, confirm_after_run
from bulkup.control.coordinator import Coordinator
from bulkup.control.events import RunEvents
from bulkup.control.plane import BucketRoute, Plane
from bulkup.display.text import counted
from bulkup.options.resolve import RunSettings
from bulkup.plan.files import Skip
from bulkup.plan.jobs import ObjectSettings, UploadJob
from bulkup.plan.results import UploadResult
from bulkup.pools.factory import in_process_connections, make_pool

if TYPE_CHECKING:
    from bulkup.pools.local import WorkerLauncher


def ask_store(
    control: Plane, bucket: str, key_hint: str, settings: RunSettings, notify: Callable[[str, bool], None]
) -> tuple[BucketRoute, ObjectSettings]:
    """The bucket's route and the object settings to send there: the checksum the store
    verifies (NotVerifiedError under --require-verified if none), the attributes checked
    (AttributeRefused, naming the option, if it refuses one). Nothing is sent to it yet."""
    route, choice = control.checksum_for(
        bucket, key_hint, settings.checks.checksum, settings.checks.require_verified, notify
    )
    objects = dataclasses.replace(settings.objects, checksum=choice.algorithm)
    check_attributes(route.client, bucket, key_hint, objects, route.where)
    return route, objects


def run_jobs(
    jobs: Iterable[UploadJob],
    count: int,
    total_bytes: int | None,
    routes: dict[str, BucketRoute],
    objects: ObjectSettings,
    settings: RunSettings,
    control: Plane,
    launcher: WorkerLauncher | None,
    events: RunEvents,
    journaled: bool = False,
) -> UploadResult:
    """Upload ``jobs`` (``count`` of them, ``total_bytes`` in all; None: a stream) with the
    launcher's workers (None: no worker process, the senders run in this process, a
    connection per object at most) and one coordinator; then read an uploaded object's
    attributes back. ``journaled``: a journal knows the run, so an interrupted run leaves its
    open uploads, and a file that changes while it is sent starts over instead of failing."""
    if settings.sending.bwlimit:
        events.progress.limit_bandwidth(settings.sending.bwlimit)
    tls = any(route.endpoint.tls for route in routes.values())
    config = control.worker_config(settings.sending, tls, choose_here=not settings.pool.ray)
    if launcher is None:
        config = dataclasses.replace(config, connections=in_process_connections(settings.pool, config, count))
    pool = make_pool(settings.pool, config, tls, launcher, in_process=launcher is None)
    coordinator = Coordinator(
        routes,
        pool,
        events,
        control.credential_watch(pool),
        keep_uploads=journaled,
        restart_changed=journaled,
        bwlimit=settings.sending.bwlimit,
        retry_deadline=settings.sending.retry_deadline,
    )
    result = coordinator.run(jobs, count, total_bytes)
    confirm_after_run(routes, result, objects)
    return result


def verdict(result: UploadResult, require_verified: bool) -> list[str]:
    """What went wrong that the run's failures do not already say, a line each: attributes
    the store did not keep, and under --require-verified, objects it did not verify."""
    lines = list(result.attributes_missing)
    if require_verified and result.unverified_count:
        how = ", ".join(f"{n} {label}" for label, n in result.verification.items() if not label.startswith("server: "))
        lines.append(f"{result.unverified_count} objects were not verified by the store ({how}); --require-verified")
    return lines


def passed_over_lines(result: UploadResult, skipped: Sequence[Skip], excluded: int) -> dict[str, str]:
    """The summary's lines for files not uploaded: unusable ones, those filtered out, and
    those kept as they were (--no-overwrite, --if-size-differ / --if-source-newer)."""
    lines = {}
    if result.kept_count:
        kept = counted(result.kept_count, "object")
        lines["kept"] = f"{kept} already there kept (--if-size-differ / --if-source-newer)"
    if result.existing_count:
        lines["exists"] = (
            f"{counted(result.existing_count, 'object')} already at their keys, left as they were (--no-overwrite)"
        )
    if skipped:
        lines["skipped"] = f"{counted(len(skipped), 'entry', 'entries')} not uploaded (see the warnings)"
    if excluded:
        lines["excluded"] = f"{counted(excluded, 'file')} left out by --exclude/--include"
    return lines
