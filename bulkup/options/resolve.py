"""Options checked and turned, once, into each layer's settings (``RunSettings``).

``resolve`` is the only place options become settings: the control plane gets
``ClientSettings``, the plan ``ObjectSettings``, the senders ``SendSettings`` and the pool
``PoolSettings``. Nothing below this module sees ``UploadOptions``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from bulkup.control.plane import SendSettings
from bulkup.control.s3client import ClientSettings
from bulkup.errors import UsageError
from bulkup.options.declared import AUTO, PER_CONNECTION_GBPS, UploadOptions
from bulkup.options.registry import declared, default_of
from bulkup.plan.attributes import ATTRIBUTES
from bulkup.plan.checksums import DEFAULT_ALGORITHM, get_algorithm
from bulkup.plan.filters import NO_FILTERS, Filters
from bulkup.plan.jobs import ObjectSettings
from bulkup.pools.base import PoolSettings, local_workers

MAX_CONNECTIONS = 64  # per worker: sender threads of one process


@dataclass(frozen=True)
class SourceSettings:
    """Which files a run sends, and which objects it may replace."""

    follow_symlinks: bool = True
    filters: Filters = NO_FILTERS
    if_size_differ: bool = False
    if_source_newer: bool = False
    expected_size: int | None = None  # a stream's, roughly


@dataclass(frozen=True)
class CheckSettings:
    """What the store is asked to verify, and whether the run insists."""

    checksum: str = AUTO  # asked for: auto, or an algorithm's name
    require_verified: bool = False


@dataclass(frozen=True)
class RunSettings:
    """A run's options, checked and split by the layer that uses them (one frozen value,
    resolved once: nothing downstream reads options again)."""

    client: ClientSettings
    objects: ObjectSettings
    sending: SendSettings
    pool: PoolSettings
    sources: SourceSettings = SourceSettings()
    checks: CheckSettings = CheckSettings()
    dry_run: bool = False


def connections_for(target_gbps: float, workers: int | None) -> int:
    """Connections per worker for ``target_gbps`` in all: S3 serves one connection roughly
    ``PER_CONNECTION_GBPS``, so a 100 Gbit/s target needs some 200 connections, however few
    the cores (at least 2 per worker, at most ``MAX_CONNECTIONS``)."""
    count = local_workers(workers)
    return max(2, min(MAX_CONNECTIONS, math.ceil(target_gbps / PER_CONNECTION_GBPS / count)))


def resolve(options: UploadOptions) -> RunSettings:
    """Check ``options`` (UsageError naming the first problem) and split them by layer."""
    validate(options)
    return RunSettings(
        client=client_settings(options),
        objects=ObjectSettings(
            checksum=get_algorithm(DEFAULT_ALGORITHM if options.checksum == AUTO else options.checksum),
            part_size=options.part_size,
            multipart_threshold=options.multipart_threshold,
            content_type=options.content_type,
            metadata=tuple(sorted(options.metadata.items())),
            attributes=object_attributes(options),
            no_overwrite=options.no_overwrite,
            preserve_mtime=options.preserve_mtime,
        ),
        sending=_send_settings(options),
        pool=PoolSettings(workers=options.workers, ray=options.ray, ray_require_tls=options.ray_require_tls),
        sources=SourceSettings(
            follow_symlinks=options.follow_symlinks,
            filters=resolve_filters(options.filters),
            if_size_differ=options.if_size_differ,
            if_source_newer=options.if_source_newer,
            expected_size=options.expected_size,
        ),
        checks=CheckSettings(checksum=options.checksum, require_verified=options.require_verified),
        dry_run=options.dry_run,
    )


def client_settings(options: UploadOptions) -> ClientSettings:
    """Where and how to reach the store (what doctor and cleanup need of the options)."""
    return ClientSettings(
        options.endpoint_url,
        options.region,
        options.profile,
        options.addressing_style,
        options.ca_bundle,
        options.verify_ssl,
    )


def _send_settings(options: UploadOptions) -> SendSettings:
    """How the workers send. A bandwidth limit also bounds the connections (sized for the
    limit, not the target throughput) and the rate below which a request is cut (a connection
    may carry no more than its share of the limit)."""
    target = options.target_throughput
    if options.bwlimit:
        target = min(target, options.bwlimit * 8 / 1e9)
    workers = local_workers(options.workers)
    connections = options.connections or connections_for(target, options.workers)
    min_rate: float = options.min_rate
    start_rate: float | None = None
    if options.bwlimit:
        min_rate = min(min_rate, options.bwlimit / (workers * connections) / 4)
        start_rate = options.bwlimit / workers / 16  # until the coordinator sets each share
    return SendSettings(
        engine=options.engine,
        connections=connections,
        verify_tls=options.verify_ssl,
        retry_deadline=options.retry_deadline,
        tls_max_version=options.tls_max_version,
        min_rate=min_rate,
        bwlimit=options.bwlimit,
        start_rate=start_rate,
    )


def object_attributes(options: UploadOptions) -> tuple[tuple[str, str], ...]:
    """The object attributes ``options`` set, in the form S3 takes (ValueError: why not)."""
    found = []
    for attribute in ATTRIBUTES:
        value = getattr(options, attribute.option)
        if value:
            found.append((attribute.name, attribute.check(attribute.flag, value)))
    return tuple(found)


def _check_attributes(options: UploadOptions) -> None:
    try:
        object_attributes(options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    given = {attribute.name for attribute in ATTRIBUTES if getattr(options, attribute.option)}
    if ("object_lock_mode" in given) != ("object_lock_retain_until" in given):
        raise UsageError("--object-lock-mode and --object-lock-retain-until go together (S3 takes a retention as both)")
    locking = given & {"object_lock_mode", "object_lock_legal_hold"}
    if locking and options.checksum == "none":
        raise UsageError(
            "Object Lock needs a checksum on every write (S3 refuses one without): "
            "--checksum none cannot be used with --object-lock-*"
        )
    if options.preserve_mtime and "mtime" in {k.lower() for k in options.metadata}:
        raise UsageError("--preserve-mtime writes x-amz-meta-mtime: do not also give --metadata mtime=...")


def _check_declared(options: UploadOptions) -> None:
    """UsageError for the first value its declaration finds invalid (None is the default of
    an option not given, where that is the default)."""
    for name, declared_option in declared(UploadOptions):
        value = getattr(options, name)
        if declared_option.valid is None or (value is None and default_of(UploadOptions, name) is None):
            continue
        if not declared_option.valid(value):
            raise UsageError(f"{declared_option.name} must {declared_option.must}, not {value!r}")


def resolve_filters(rules: list[tuple[str, str]]) -> Filters:
    """Filters from ``(action, pattern)`` pairs; UsageError for a bad rule."""
    try:
        return Filters.of(rules)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"filters: {exc}") from None


def validate(options: UploadOptions) -> None:
    """Raise UsageError (one line) for the first option that cannot work."""
    resolve_filters(options.filters)
    _check_attributes(options)
    if options.checksum != AUTO:
        try:
            get_algorithm(options.checksum)
        except ValueError as exc:
            raise UsageError(str(exc).replace("(choose from ", "(choose from auto, ")) from None
    _check_declared(options)
    if options.tls_max_version not in (None, "1.2", "1.3"):
        raise UsageError("--tls-max-version must be 1.2 or 1.3")
    if options.addressing_style not in ("auto", "path", "virtual"):
        raise UsageError("--addressing-style must be auto, path or virtual")
    if options.ca_bundle and not os.path.isfile(options.ca_bundle):
        raise UsageError(f"CA bundle not found: {options.ca_bundle}")
    for key, value in options.metadata.items():
        if not key or not (key + value).isascii() or not (key + value).isprintable():
            raise UsageError(f"metadata {key}={value!r}: keys and values must be printable ASCII")
    if options.content_type is not None and not (options.content_type.isascii() and options.content_type.isprintable()):
        raise UsageError(f"--content-type {options.content_type!r}: must be printable ASCII")
    engines = declared_choices("engine")
    if options.engine not in engines:
        raise UsageError(f"unknown engine {options.engine!r} (choose from {', '.join(engines)})")


def declared_choices(name: str) -> tuple[str, ...]:
    """The choices UploadOptions declares for the option ``name``."""
    return dict(declared(UploadOptions))[name].choices or ()
