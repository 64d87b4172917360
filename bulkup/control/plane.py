"""The control plane of a run: each bucket's route, what its store verifies, and what every
worker needs (credentials, region, trust store, the engine).

``ControlPlane`` is boto3's: a session with the full credential chain, a client, HeadBucket
and the probes. Where the environment is plain (``awsenv``) it remembers each bucket's route
for a day, beside the store's answers (``storeanswers``), so that a later run may take
``RememberedPlane`` (``remembered``), which answers from that memory without boto3. The
steps of an operation take either (``Plane``).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bulkup.control.awsenv import plain_environment
from bulkup.control.credentials import CredentialWatch
from bulkup.control.s3client import (
    ClientSettings,
    S3Client,
    effective_ca_bundle,
    frozen_credentials,
    make_client,
    make_session,
    resolve_bucket,
)
from bulkup.control.storeanswers import forget, recall, remember
from bulkup.control.verification import ChecksumChoice, StoreChecks, choose_checksum, probe_store
from bulkup.errors import NotVerifiedError, UsageError
from bulkup.plan.checksums import AUTO, DEFAULT_ALGORITHM, ChecksumAlgorithm, get_algorithm
from bulkup.pools.base import Pool
from bulkup.transport.engines import EngineUnavailable, choose_engine
from bulkup.transport.messages import WorkerConfig
from bulkup.transport.proxy import proxy_environment
from bulkup.transport.request import BucketEndpoint, CredentialSet

if TYPE_CHECKING:
    import boto3

ROUTE = "route"  # the question, as a bucket's route is remembered


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


class Plane(ABC):
    """A run's control plane, as the steps of an operation use it."""

    settings: ClientSettings

    @abstractmethod
    def route(self, bucket: str) -> BucketRoute:
        """How to reach ``bucket``."""

    @abstractmethod
    def ask_store(
        self, bucket: str, key_hint: str, algorithm: ChecksumAlgorithm, remembered: bool = True
    ) -> BucketRoute:
        """The bucket's route, with what its store verifies (``algorithm``: the flexible
        checksum asked about)."""

    @property
    @abstractmethod
    def region(self) -> str:
        """The run's region: requests are signed for it where a bucket names none."""

    @abstractmethod
    def credentials(self) -> CredentialSet:
        """The credentials to sign with now."""

    @abstractmethod
    def credential_watch(self, pool: Pool) -> CredentialWatch | None:
        """What passes renewed credentials on to ``pool``'s workers (None: they do not change)."""

    def checksum_for(
        self, bucket: str, key_hint: str, requested: str, require_verified: bool, notify: Callable[[str, bool], None]
    ) -> tuple[BucketRoute, ChecksumChoice]:
        """The bucket's route and the checksum to send there (``requested``: auto or a name),
        told once through ``notify(line, warning)``; NotVerifiedError, before anything is
        sent, if verification is required and the store verifies nothing bulkup can send."""
        if requested == "none":
            route = self.route(bucket)
        else:
            route = self.ask_store(bucket, key_hint, asked_algorithm(requested))
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
            region=self.region,
            credentials=self.credentials(),
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


@dataclass
class ControlPlane(Plane):
    """The boto3 side of a run: session, client settings, a client, and bucket routes.
    ``remembers``: the environment is plain, so each bucket's route depends only on the
    settings, the region and the bucket, and is remembered (``recall_route``)."""

    session: boto3.Session
    settings: ClientSettings
    client: S3Client
    routes: dict[str, BucketRoute] = field(default_factory=dict)
    remembers: bool = False

    def route(self, bucket: str) -> BucketRoute:
        """The bucket's client and endpoint (checked once with HeadBucket): a client in the
        bucket's own region when AWS names another one, and the endpoint signed for it."""
        if bucket not in self.routes:
            endpoint, bucket_region, answered = resolve_bucket(self.client, bucket)
            client = self.client
            if bucket_region and bucket_region != client.meta.region_name and not self.settings.endpoint_url:
                client = make_client(self.session, self.settings, bucket_region)
            endpoint = dataclasses.replace(endpoint, region=client.meta.region_name)
            self.routes[bucket] = BucketRoute(client, endpoint)
            if self.remembers and answered:  # a bucket that answered HeadBucket, not a plain 403
                remember_route(self.settings, self.region, bucket, endpoint)
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

    @property
    def region(self) -> str:
        region: str = self.client.meta.region_name
        return region

    def credentials(self) -> CredentialSet:
        return frozen_credentials(self.session)

    def credential_watch(self, pool: Pool) -> CredentialWatch:
        return CredentialWatch(self.session, pool)


def connect(settings: ClientSettings, session: boto3.Session | None = None) -> ControlPlane:
    """A session (the given one, or one with the usual credential chain) and a client."""
    remembers = session is None and plain_environment(settings.profile) is not None
    session = session or make_session(settings)
    settings = dataclasses.replace(settings, ca_bundle=effective_ca_bundle(session, settings))
    return ControlPlane(session, settings, make_client(session, settings), remembers=remembers)


def asked_algorithm(requested: str) -> ChecksumAlgorithm:
    """The flexible checksum a store is asked about when ``requested`` (auto or a name, not
    none) is to be sent."""
    return get_algorithm(DEFAULT_ALGORITHM if requested in (AUTO, "md5") else requested)


def recall_route(settings: ClientSettings, region: str, bucket: str) -> BucketEndpoint | None:
    """The endpoint HeadBucket found for ``bucket`` within the last day, with ``settings``
    (its endpoint URL and addressing style) in ``region`` and a plain environment (None:
    none remembered)."""
    answer = recall(ROUTE, _route_key(settings, region), bucket)
    if answer is None:
        return None
    try:
        return BucketEndpoint(
            str(answer["scheme"]),
            str(answer["host"]),
            int(answer["port"]),
            str(answer["base_path"]),
            str(answer["region"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def remember_route(settings: ClientSettings, region: str, bucket: str, endpoint: BucketEndpoint) -> None:
    remember(ROUTE, _route_key(settings, region), bucket, dataclasses.asdict(endpoint))


def forget_route(settings: ClientSettings, region: str, bucket: str) -> None:
    """Ask HeadBucket again next time (a run on the remembered route failed)."""
    forget(ROUTE, _route_key(settings, region), bucket)


def _route_key(settings: ClientSettings, region: str) -> str:
    """What a route depends on in a plain environment, besides the bucket."""
    return f"{settings.endpoint_url or 'AWS'} {settings.addressing_style} addressing, {region}"
