"""A run's control plane from memory, for a run that needs nothing of boto3 (importing it
and making a client cost ~0.5 s): the environment is plain (``awsenv``), and the store has
answered, within the last day, every question the run would ask it: the bucket's route
(HeadBucket's endpoint, remembered by ``ControlPlane``), which checksum it verifies, and,
under --no-overwrite, whether it keeps If-None-Match.

``remembered_plane`` builds it whole or not at all (None, and the reason in the debug log),
so that the choice between this plane and boto3's is made before anything is sent, never
halfway. Its answers are those ``ControlPlane`` would give: the same route, the same
``StoreChecks``, the same credentials, region and trust store. Only its client waits until
a call needs it (``ClientOnDemand``): a run of single PutObjects makes none, unless the store
says an object it took differs from the file (which is then deleted, as always).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from bulkup.control.attributecheck import recalled_condition
from bulkup.control.awsenv import DEFAULT_REGION, PlainEnvironment, plain_environment, system_trust_store
from bulkup.control.credentials import CredentialWatch
from bulkup.control.plane import BucketRoute, Plane, asked_algorithm, connect, forget_route, recall_route
from bulkup.control.s3client import ClientSettings, S3Client
from bulkup.control.verification import recalled_checks
from bulkup.plan.checksums import ChecksumAlgorithm
from bulkup.pools.base import Pool
from bulkup.transport.request import CredentialSet

log = logging.getLogger("bulkup")


class ClientOnDemand:
    """A bucket's boto3 client, made (with HeadBucket, as ``ControlPlane`` makes it) when an
    attribute of it is first asked for."""

    def __init__(self, settings: ClientSettings, bucket: str) -> None:
        self._settings = settings
        self._bucket = bucket
        self._client: S3Client | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not the client's: one of ours, not set yet (a copy)
            raise AttributeError(name)
        if self._client is None:
            self._client = connect(self._settings).route(self._bucket).client
        return getattr(self._client, name)


@dataclass
class RememberedPlane(Plane):
    """The control plane of one bucket's run, every answer remembered."""

    settings: ClientSettings
    environment: PlainEnvironment
    routes: dict[str, BucketRoute]
    region_name: str

    def route(self, bucket: str) -> BucketRoute:
        return self.routes[bucket]

    def ask_store(
        self, bucket: str, key_hint: str, algorithm: ChecksumAlgorithm, remembered: bool = True
    ) -> BucketRoute:
        route = self.routes[bucket]
        assert route.checks is not None and route.checks.algorithm == algorithm.name, "asked what was not remembered"
        return route

    @property
    def region(self) -> str:
        return self.region_name

    def credentials(self) -> CredentialSet:
        return self.environment.credentials

    def credential_watch(self, pool: Pool) -> CredentialWatch | None:
        return None  # credentials from the environment do not change during a run

    def forget(self, bucket: str) -> None:
        """Forget the bucket's route: the next run asks HeadBucket, which names what is wrong."""
        forget_route(self.settings, self.region_name, bucket)


def remembered_plane(
    settings: ClientSettings, bucket: str, checksum: str, no_overwrite: bool
) -> RememberedPlane | None:
    """The plane for a run to ``bucket`` (``checksum``: auto, none or an algorithm's name)
    if the environment is plain and every answer it needs is remembered; else None."""
    environment = plain_environment(settings.profile)
    if environment is None:
        return None
    region = settings.region or environment.region or DEFAULT_REGION
    endpoint = recall_route(settings, region, bucket)
    if endpoint is None:
        log.debug("bucket %s: no route remembered: boto3 asks HeadBucket", bucket)
        return None
    where = f"{endpoint.host}:{endpoint.port}"
    checks = None
    if checksum != "none" and (checks := recalled_checks(where, bucket, asked_algorithm(checksum))) is None:
        log.debug("bucket %s: what %s verifies is not remembered: boto3 asks it", bucket, where)
        return None
    if no_overwrite and recalled_condition(where, bucket) is None:
        log.debug("bucket %s: whether %s keeps If-None-Match is not remembered: boto3 asks it", bucket, where)
        return None
    settings = dataclasses.replace(
        settings, ca_bundle=settings.ca_bundle or environment.ca_bundle or system_trust_store()
    )
    route = BucketRoute(ClientOnDemand(settings, bucket), endpoint, checks)
    return RememberedPlane(settings, environment, {bucket: route}, region)
