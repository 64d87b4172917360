"""The control plane of a run: a boto3 session and client, each bucket's route, and what
every worker needs from them (credentials, region, trust store, the engine)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bulkup.control.s3client import (
    ClientSettings,
    S3Client,
    effective_ca_bundle,
    frozen_credentials,
    make_client,
    make_session,
    resolve_bucket,
)
from bulkup.control.verification import ChecksumChoice, StoreChecks, choose_checksum, probe_store
from bulkup.errors import NotVerifiedError, UsageError
from bulkup.plan.checksums import AUTO, DEFAULT_ALGORITHM, ChecksumAlgorithm, get_algorithm
from bulkup.transport.engines import EngineUnavailable, choose_engine
from bulkup.transport.messages import WorkerConfig
from bulkup.transport.proxy import proxy_environment
from bulkup.transport.request import BucketEndpoint

if TYPE_CHECKING:
    import boto3


@dataclass(frozen=True)
class SendSettings:
    """How workers send, besides what the control plane adds (credentials, region, CA bundle)."""

    engine: str = "auto"  # auto, or an engine's name
    connections: int = 2  # per worker
    verify_tls: bool = True
    retry_deadline: float = 300.0  # s: a request is retried this long while the store refuses
    tls_max_version: str | None = None
    min_rate: float = 256 * 1024  # bytes/s: the slowest a request may go before it is cut
    bwlimit: float | None = None  # bytes/s for the whole run (None: no limit)
    start_rate: float | None = None  # bytes/s a worker starts at, until its share is set


@dataclass(frozen=True)
class BucketRoute:
    """How to reach one bucket: the control-plane client, the data-plane endpoint, and what
    the store verifies (once asked)."""

    client: S3Client
    endpoint: BucketEndpoint
    checks: StoreChecks | None = None

    @property
    def where(self) -> str:
        """The store's address, as messages name it."""
        return f"{self.endpoint.host}:{self.endpoint.port}"


@dataclass
class ControlPlane:
    """The boto3 side of a run: session, client settings, a client, and bucket routes."""

    session: boto3.Session
    settings: ClientSettings
    client: S3Client
    routes: dict[str, BucketRoute] = field(default_factory=dict)

    def route(self, bucket: str) -> BucketRoute:
        """The bucket's client and endpoint (checked once with HeadBucket): a client in the
        bucket's own region when AWS names another one, and the endpoint signed for it."""
        if bucket not in self.routes:
            endpoint, bucket_region = resolve_bucket(self.client, bucket)
            client = self.client
            if bucket_region and bucket_region != client.meta.region_name and not self.settings.endpoint_url:
                client = make_client(self.session, self.settings, bucket_region)
            self.routes[bucket] = BucketRoute(client, dataclasses.replace(endpoint, region=client.meta.region_name))
        return self.routes[bucket]

    def ask_store(
        self, bucket: str, key_hint: str, algorithm: ChecksumAlgorithm, remembered: bool = True
    ) -> BucketRoute:
        """The bucket's route, with what its store verifies (asked once per bucket; with
        ``remembered``, as it answered within the last day if it did)."""
        route = self.route(bucket)
        if route.checks is None:
            where = f"{route.endpoint.host}:{route.endpoint.port}"
            checks = probe_store(route.client, bucket, key_hint, algorithm, where, remembered=remembered)
            route = self.routes[bucket] = dataclasses.replace(route, checks=checks)
        return route

    def checksum_for(
        self, bucket: str, key_hint: str, requested: str, require_verified: bool, notify: Callable[[str, bool], None]
    ) -> tuple[BucketRoute, ChecksumChoice]:
        """The bucket's route and the checksum to send there (``requested``: auto or a name),
        told once through ``notify(line, warning)``; NotVerifiedError, before anything is
        sent, if verification is required and the store verifies nothing bulkup can send."""
        if requested == "none":
            route = self.route(bucket)
        else:
            asked = get_algorithm(DEFAULT_ALGORITHM if requested in (AUTO, "md5") else requested)
            route = self.ask_store(bucket, key_hint, asked)
        choice = choose_checksum(requested, route.checks)
        notify(choice.notice, choice.warning)
        if require_verified and not choice.verified:
            where = f"{route.endpoint.host}:{route.endpoint.port}"
            raise NotVerifiedError(
                f"the store at {where} verifies no checksum bulkup can send "
                f"({choice.notice.removeprefix('checksums: ')}); --require-verified "
                "refuses to upload unverified: nothing was sent"
            )
        return route, choice

    def worker_config(self, sending: SendSettings, tls: bool, choose_here: bool = True) -> WorkerConfig:
        """What every worker needs: credentials, region, trust store, how to send, and the
        engine: chosen here once, or (``choose_here=False``: Ray) by each node for itself."""
        engine, engine_reason = sending.engine, ""
        if choose_here:
            try:
                chosen, engine_reason = choose_engine(sending.engine, tls)
            except EngineUnavailable as exc:
                raise UsageError(str(exc)) from None
            engine = chosen.name
        return WorkerConfig(
            region=self.client.meta.region_name,
            credentials=frozen_credentials(self.session),
            engine=engine,
            engine_reason=engine_reason,
            connections=sending.connections,
            verify_tls=sending.verify_tls,
            ca_bundle=self.settings.ca_bundle,
            retry_deadline=sending.retry_deadline,
            tls_max_version=sending.tls_max_version,
            min_rate=sending.min_rate,
            rate=sending.start_rate,
            proxy_environment=proxy_environment(),
        )


def connect(settings: ClientSettings, session: boto3.Session | None = None) -> ControlPlane:
    """A session (the given one, or one with the usual credential chain) and a client."""
    session = session or make_session(settings)
    settings = dataclasses.replace(settings, ca_bundle=effective_ca_bundle(session, settings))
    return ControlPlane(session, settings, make_client(session, settings))
