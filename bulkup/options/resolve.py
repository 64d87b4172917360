"""What a user asks for (``UploadOptions``), checked and turned once into each layer's settings.

``resolve`` is the only place options become settings: the control plane gets
``ClientSettings``, the plan ``ObjectSettings``, the senders ``SendSettings`` and the pool
``PoolSettings``. Nothing below this module sees ``UploadOptions``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from bulkup.control.plane import SendSettings
from bulkup.control.s3client import ClientSettings
from bulkup.control.verification import AUTO
from bulkup.errors import UsageError
from bulkup.plan import attributes
from bulkup.plan.checksums import DEFAULT_ALGORITHM, get_algorithm
from bulkup.plan.filters import NO_FILTERS, Filters
from bulkup.plan.jobs import ObjectSettings
from bulkup.plan.parts import MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_SIZE, MIN_PART_SIZE
from bulkup.pools.base import PoolSettings, local_workers
from bulkup.transport.engines import ENGINES

DEFAULT_TARGET_GBPS = 10.0  # as the AWS CRT's default throughput target
PER_CONNECTION_GBPS = 0.5  # what S3 serves one connection, roughly (0.4-0.7)
MAX_CONNECTIONS = 64  # per worker: sender threads of one process


@dataclass
class UploadOptions:
    """Everything ``bulkup put`` accepts, with the same defaults."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    addressing_style: str = "auto"
    ca_bundle: str | None = None
    verify_ssl: bool = True
    part_size: int | None = None
    multipart_threshold: int | None = None
    workers: int | None = None  # default: one per core (with ray: per node)
    connections: int | None = None  # per worker; None: sized from target_throughput
    target_throughput: float = DEFAULT_TARGET_GBPS  # Gbit/s the run's connections should carry
    checksum: str = AUTO  # auto: the best checksum the store verifies
    require_verified: bool = False  # refuse (exit 1) where the store verifies nothing
    engine: str = "auto"
    storage_class: str | None = None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    sse: str | None = None
    sse_kms_key_id: str | None = None
    cache_control: str | None = None
    content_encoding: str | None = None
    content_disposition: str | None = None
    content_language: str | None = None
    expires: str | None = None  # ISO 8601 or an HTTP date
    acl: str | None = None  # a canned ACL
    tags: str | None = None  # "k=v&k2=v2", URL-encoded as the AWS CLI takes it
    object_lock_mode: str | None = None  # GOVERNANCE | COMPLIANCE
    object_lock_retain_until: str | None = None  # a future date, ISO 8601
    object_lock_legal_hold: str | None = None  # ON | OFF
    no_overwrite: bool = False  # write only where the key is free (If-None-Match: *)
    if_size_differ: bool = False  # replace an object only if its size differs (s5cmd)
    if_source_newer: bool = False  # replace an object only if the file is newer (s5cmd)
    preserve_mtime: bool = False  # each file's mtime as x-amz-meta-mtime (as rclone)
    follow_symlinks: bool = True
    filters: list[tuple[str, str]] = field(default_factory=list)  # ("exclude"|"include", pattern), in order
    dry_run: bool = False
    retry_deadline: float = 300.0  # s: how long a request is retried while the store refuses
    tls_max_version: str | None = None  # "1.2" or "1.3"
    min_rate: int = 256 * 1024  # bytes/s: a request slower than this is cut and retried
    bwlimit: int | None = None  # bytes/s for the whole run, shared by every connection
    expected_size: int | None = None  # a stream's size, if known roughly: sizes its parts
    ray: str | None = None  # a Ray cluster's address ("auto"): send from its nodes
    ray_require_tls: bool = False  # refuse a cluster that runs without TLS


@dataclass(frozen=True)
class RunSettings:
    """A run's options, checked and split by the layer that uses them."""

    client: ClientSettings
    objects: ObjectSettings
    sending: SendSettings
    pool: PoolSettings
    follow_symlinks: bool = True
    filters: Filters = NO_FILTERS
    if_size_differ: bool = False
    if_source_newer: bool = False
    expected_size: int | None = None
    dry_run: bool = False
    checksum: str = AUTO  # asked for: auto, or an algorithm's name
    require_verified: bool = False


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
        client=ClientSettings(
            options.endpoint_url,
            options.region,
            options.profile,
            options.addressing_style,
            options.ca_bundle,
            options.verify_ssl,
        ),
        objects=ObjectSettings(
            checksum=get_algorithm(DEFAULT_ALGORITHM if options.checksum == AUTO else options.checksum),
            part_size=options.part_size,
            multipart_threshold=options.multipart_threshold,
            content_type=options.content_type,
            metadata=tuple(sorted(options.metadata.items())),
            storage_class=options.storage_class,
            sse=options.sse,
            sse_kms_key_id=options.sse_kms_key_id,
            **_attributes(options),
        ),
        sending=_send_settings(options),
        pool=PoolSettings(workers=options.workers, ray=options.ray, ray_require_tls=options.ray_require_tls),
        follow_symlinks=options.follow_symlinks,
        filters=resolve_filters(options.filters),
        if_size_differ=options.if_size_differ,
        if_source_newer=options.if_source_newer,
        expected_size=options.expected_size,
        dry_run=options.dry_run,
        checksum=options.checksum,
        require_verified=options.require_verified,
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
    min_rate, start_rate = options.min_rate, None
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


def _attributes(options: UploadOptions) -> dict:
    """The object attributes of ``options`` in the form S3's headers take (ValueError: why not)."""
    text = {
        name: attributes.header_value("--" + name.replace("_", "-"), getattr(options, name))
        for name in ("cache_control", "content_encoding", "content_disposition", "content_language")
        if getattr(options, name)
    }
    return {
        **text,
        "expires": options.expires and attributes.http_date("--expires", options.expires),
        "acl": options.acl and attributes.choice("--acl", options.acl, attributes.CANNED_ACLS),
        "tagging": options.tags and attributes.tagging(options.tags),
        "object_lock_mode": options.object_lock_mode
        and attributes.choice("--object-lock-mode", options.object_lock_mode, attributes.LOCK_MODES),
        "object_lock_retain_until": options.object_lock_retain_until
        and attributes.retain_until(options.object_lock_retain_until),
        "object_lock_legal_hold": options.object_lock_legal_hold
        and attributes.choice("--object-lock-legal-hold", options.object_lock_legal_hold, attributes.LEGAL_HOLD),
        "no_overwrite": options.no_overwrite,
        "preserve_mtime": options.preserve_mtime,
    }


def _check_attributes(options: UploadOptions) -> None:
    try:
        _attributes(options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OverflowError:  # a date that moves past year 9999 in UTC
        dates = {"--expires": options.expires, "--object-lock-retain-until": options.object_lock_retain_until}
        given = ", ".join(f"{name} {value!r}" for name, value in dates.items() if value)
        raise UsageError(f"{given}: out of range (dates end at 9999-12-31 UTC)") from None
    if bool(options.object_lock_mode) != bool(options.object_lock_retain_until):
        raise UsageError("--object-lock-mode and --object-lock-retain-until go together (S3 takes a retention as both)")
    locking = options.object_lock_mode or options.object_lock_legal_hold
    if locking and options.checksum == "none":
        raise UsageError(
            "Object Lock needs a checksum on every write (S3 refuses one without): "
            "--checksum none cannot be used with --object-lock-*"
        )
    if options.preserve_mtime and "mtime" in {k.lower() for k in options.metadata}:
        raise UsageError("--preserve-mtime writes x-amz-meta-mtime: do not also give --metadata mtime=...")


# The numbers a run takes: option, whole number or not, whether a value is in range, and the
# line that says so. None is allowed where it is the option's default (not given).
_NUMBERS: tuple[tuple[str, bool, Callable[[float], bool], str], ...] = (
    ("part_size", True, lambda n: MIN_PART_SIZE <= n <= MAX_PART_SIZE, "--part-size must be between 5 MiB and 5 GiB"),
    ("multipart_threshold", True, lambda n: 0 <= n <= MAX_SIZE, "--multipart-threshold must be 0 bytes or more"),
    (
        "expected_size",
        True,
        lambda n: 0 <= n <= MAX_OBJECT_SIZE,
        "--expected-size must be between 0 bytes and 48.8 TiB (S3's largest object)",
    ),
    ("workers", True, lambda n: 1 <= n <= MAX_SIZE, "--workers must be at least 1"),
    ("connections", True, lambda n: 1 <= n <= MAX_SIZE, "--connections must be at least 1"),
    (
        "target_throughput",
        False,
        lambda n: 0 < n <= 10_000,
        "--target-throughput must be above 0 and at most 10000 (Gbit/s)",
    ),
    ("retry_deadline", False, lambda n: 0 <= n <= 7 * 86400, "--retry-deadline must be between 0s and 7d"),
    ("min_rate", False, lambda n: 1 <= n <= MAX_SIZE, "--min-rate must be at least 1 byte a second"),
    ("bwlimit", False, lambda n: 1024 <= n <= MAX_SIZE, "--bwlimit must be at least 1 KiB/s"),
)


def _check_numbers(options: UploadOptions) -> None:
    """UsageError for the first number that is not one (NaN included) or out of its range."""
    for name, whole, in_range, line in _NUMBERS:
        value = getattr(options, name)
        if value is None and UploadOptions.__dataclass_fields__[name].default is None:
            continue
        number = isinstance(value, int) or (not whole and isinstance(value, float))
        if isinstance(value, bool) or not number or not in_range(value):
            raise UsageError(f"{line}, not {value!r}")


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
    _check_numbers(options)
    if options.tls_max_version not in (None, "1.2", "1.3"):
        raise UsageError("--tls-max-version must be 1.2 or 1.3")
    if options.addressing_style not in ("auto", "path", "virtual"):
        raise UsageError("--addressing-style must be auto, path or virtual")
    if options.ca_bundle and not os.path.isfile(options.ca_bundle):
        raise UsageError(f"CA bundle not found: {options.ca_bundle}")
    for key, value in options.metadata.items():
        if not key or not (key + value).isascii() or not (key + value).isprintable():
            raise UsageError(f"metadata {key}={value!r}: keys and values must be printable ASCII")
    for name in ("content_type", "storage_class"):  # sent as headers
        value = getattr(options, name)
        if value is not None and not (value.isascii() and value.isprintable()):
            raise UsageError(f"--{name.replace('_', '-')} {value!r}: must be printable ASCII")
    if options.engine != "auto" and options.engine not in ENGINES:
        raise UsageError(f"unknown engine {options.engine!r} (choose from auto, {', '.join(ENGINES)})")
