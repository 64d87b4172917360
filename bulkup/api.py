"""The Python API: ``bulkup.upload(sources, "s3://bucket/prefix/", ...)``."""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .checksums import DEFAULT_ALGORITHM, get_algorithm
from .coordinator import Coordinator
from .jobs import BucketRoute, ObjectSettings, UploadJob
from .results import ObjectResult, UploadResult
from .engines import ENGINES, EngineUnavailable, choose_engine
from .errors import UsageError
from .messages import WorkerConfig
from .plan import MAX_PART_SIZE, MIN_PART_SIZE
from .pool import Pool, WorkerPool
from .progress import ProgressSink
from .s3client import ClientSettings, bucket_route, effective_ca_bundle, frozen_credentials, make_client, make_session
from .s3url import parse_s3_url
from .sources import Collected, collect_sources

if TYPE_CHECKING:
    import boto3

log = logging.getLogger("bulkup")


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
    workers: int | None = None                # default: one per core (with ray: per node)
    connections: int = 2                       # per worker
    checksum: str = DEFAULT_ALGORITHM
    engine: str = "auto"
    storage_class: str | None = None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    sse: str | None = None
    sse_kms_key_id: str | None = None
    follow_symlinks: bool = True
    dry_run: bool = False
    max_attempts: int = 5
    tls_max_version: str | None = None          # "1.2" or "1.3"
    ray: str | None = None                      # a Ray cluster's address ("auto"): send from its nodes

    def client_settings(self) -> ClientSettings:
        return ClientSettings(self.endpoint_url, self.region, self.profile, self.addressing_style,
                              self.ca_bundle, self.verify_ssl)


def upload(sources: str | list[str], destination: str, options: UploadOptions | None = None,
           progress: ProgressSink | None = None, session: "boto3.Session | None" = None,
           **kwargs) -> UploadResult:
    """Upload files and directory trees to ``s3://bucket/prefix/``.

    Keyword arguments are UploadOptions fields. ``session`` is a boto3 Session to take
    credentials and configuration from (default: a new one, with the usual credential
    chain and ``profile``). Raises BulkupError (one-line message) when nothing can be
    uploaded; per-object failures are in the result (``result.ok``).
    """
    options = options or UploadOptions(**kwargs)
    progress = progress or ProgressSink()
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    validate(options)
    dest = parse_s3_url(destination)
    found = collect_sources([os.fspath(s) for s in sources], dest, options.follow_symlinks)
    if options.dry_run:
        return _dry_run_result(found)
    control = connect(options, session)
    route = control.route(dest.bucket)
    settings = object_settings(options)
    jobs = [UploadJob(f, dest.bucket, settings) for f in found.files]
    coordinator = Coordinator(control.session, {dest.bucket: route},
                              make_pool(options, control, route.endpoint.tls), progress)
    coordinator.result.skipped = found.skipped
    try:
        coordinator.run(jobs, len(jobs), sum(f.size for f in found.files))
    except BaseException:
        progress.close()
        raise
    progress.finish(coordinator.result, _skipped_lines(found.skipped))
    return coordinator.result


def _skipped_lines(skipped: list[tuple[str, str]]) -> dict[str, str]:
    return {"skipped": f"{len(skipped)} files not uploaded (see the warnings)"} if skipped else {}


@dataclass
class ControlPlane:
    """The boto3 side of a run: session, client settings, a client, and bucket routes."""

    session: "boto3.Session"
    settings: ClientSettings
    client: object
    routes: dict[str, BucketRoute] = field(default_factory=dict)

    def route(self, bucket: str) -> BucketRoute:
        """The bucket's client and endpoint (checked once with HeadBucket)."""
        if bucket not in self.routes:
            self.routes[bucket] = bucket_route(self.session, self.settings, self.client, bucket)
        return self.routes[bucket]


def connect(options: UploadOptions, session: "boto3.Session | None" = None) -> ControlPlane:
    """A session (the given one, or one with the usual credential chain) and a client."""
    settings = options.client_settings()
    session = session or make_session(settings)
    settings = dataclasses.replace(settings, ca_bundle=effective_ca_bundle(session, settings))
    return ControlPlane(session, settings, make_client(session, settings))


def make_pool(options: UploadOptions, control: ControlPlane, tls: bool) -> Pool:
    """Local worker processes, or (``options.ray``) actors on a Ray cluster's nodes."""
    if options.ray:
        from .raypool import RayWorkerPool
        return RayWorkerPool(worker_config(options, control, tls, choose_here=False), tls,
                             options.ray, options.workers)
    return WorkerPool(worker_config(options, control, tls), tls, options.workers or os.cpu_count() or 1)


def worker_config(options: UploadOptions, control: ControlPlane, tls: bool,
                  choose_here: bool = True) -> WorkerConfig:
    """What every worker needs: credentials, region, TLS, and the engine: chosen here once,
    or (``choose_here=False``: Ray) by each node for itself."""
    engine, engine_reason = options.engine, ""
    if choose_here:
        try:
            chosen, engine_reason = choose_engine(options.engine, tls)
        except EngineUnavailable as exc:
            raise UsageError(str(exc)) from None
        engine = chosen.name
    return WorkerConfig(region=control.client.meta.region_name,
                        credentials=frozen_credentials(control.session),
                        checksum=options.checksum, engine=engine, engine_reason=engine_reason,
                        connections=options.connections, verify_tls=options.verify_ssl,
                        ca_bundle=control.settings.ca_bundle, max_attempts=options.max_attempts,
                        tls_max_version=options.tls_max_version)


def validate(options: UploadOptions) -> None:
    try:
        get_algorithm(options.checksum)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if options.part_size is not None and not MIN_PART_SIZE <= options.part_size <= MAX_PART_SIZE:
        raise UsageError("part size must be between 5 MiB and 5 GiB")
    if options.workers is not None and options.workers < 1:
        raise UsageError("--workers must be at least 1")
    if options.connections < 1:
        raise UsageError("--connections must be at least 1")
    if options.tls_max_version not in (None, "1.2", "1.3"):
        raise UsageError("--tls-max-version must be 1.2 or 1.3")
    if options.addressing_style not in ("auto", "path", "virtual"):
        raise UsageError("--addressing-style must be auto, path or virtual")
    if options.ca_bundle and not os.path.isfile(options.ca_bundle):
        raise UsageError(f"CA bundle not found: {options.ca_bundle}")
    for key, value in options.metadata.items():
        if not key or not (key + value).isascii() or not (key + value).isprintable():
            raise UsageError(f"metadata {key}={value!r}: keys and values must be printable ASCII")
    if options.engine != "auto" and options.engine not in ENGINES:
        raise UsageError(f"unknown engine {options.engine!r} (choose from auto, {', '.join(ENGINES)})")


def object_settings(options: UploadOptions) -> ObjectSettings:
    return ObjectSettings(
        checksum=get_algorithm(options.checksum), part_size=options.part_size,
        multipart_threshold=options.multipart_threshold, content_type=options.content_type,
        metadata=tuple(sorted(options.metadata.items())), storage_class=options.storage_class,
        sse=options.sse, sse_kms_key_id=options.sse_kms_key_id)


def _dry_run_result(found: Collected) -> UploadResult:
    return UploadResult(objects=[ObjectResult(f.key, f.path, f.size) for f in found.files],
                        skipped=found.skipped)
