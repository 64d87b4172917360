"""The coordinator's calls to the store: create, complete and abort multipart uploads, and
look at an object, each answering in the terms the coordinator acts on.

A store that is busy or restarting (SlowDown, a 5xx, no connection) is asked again until
the retry deadline, each refusal slowing the whole run (``throttled``). A failure that no
other object can escape (credentials, a missing bucket) raises ``FatalRemoteError``; one
that ends this object alone raises ``ObjectFailed``.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from bulkup.control import botoerrors as bex
from bulkup.control.plane import BucketRoute
from bulkup.control.s3client import S3Client, describe, error_code
from bulkup.errors import FatalRemoteError
from bulkup.plan.jobs import UploadJob
from bulkup.transport.responses import FATAL_CODES, slows_the_run
from bulkup.transport.retry import Deadline, pause

T = TypeVar("T")
LONGEST_PAUSE = 2.0  # s: the coordinator waits in line with everything else it does


ABORT_ATTEMPTS = 3


class ObjectFailed(Exception):
    """This object cannot be uploaded; ``str()`` is the reason."""


class KeyTaken(Exception):
    """A conditional write found an object at the key (412 to If-None-Match: *)."""


class S3Calls:
    """Control-plane calls for the objects of a run, through each bucket's client."""

    def __init__(
        self,
        routes: Mapping[str, BucketRoute],
        retry_deadline: float = 300.0,
        throttled: Callable[[], None] = lambda: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.routes = routes
        self.retry_deadline = retry_deadline
        self.throttled = throttled
        self._sleep = sleep

    def persist(
        self, call: Callable[[], T], held: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext
    ) -> T:
        """``call()``, asked again while the store refuses it as a busy or absent store does,
        until the retry deadline (then its last error is raised); each attempt runs inside
        ``held()`` (interrupts held while the store acts), the pauses between them do not."""
        deadline = Deadline(self.retry_deadline)
        attempt = 0
        while True:
            try:
                with held():
                    return call()
            except bex.ClientError as exc:
                if not _busy(exc) or deadline.passed:
                    raise
            except (
                bex.EndpointConnectionError,
                bex.ConnectionClosedError,
                bex.ReadTimeoutError,
                bex.ConnectTimeoutError,
            ):
                if deadline.passed:
                    raise
            attempt += 1
            self.throttled()
            self._sleep(pause(attempt, LONGEST_PAUSE))

    def create(
        self,
        job: UploadJob,
        held: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
        created: Callable[[str], None] = lambda upload_id: None,
    ) -> str:
        """A new multipart upload for ``job``; its id, given to ``created`` within the same
        ``held()`` as the call that opened it."""
        client = self._client(job)

        def attempt() -> str:
            upload_id: str = client.create_multipart_upload(
                Bucket=job.bucket, Key=job.source.key, **job.settings.create_params(job.source)
            )["UploadId"]
            created(upload_id)
            return upload_id

        try:
            return self.persist(attempt, held)
        except bex.ClientError as exc:
            raise _classified(exc) from None
        except bex.BotoCoreError as exc:
            raise FatalRemoteError(f"CreateMultipartUpload: {describe(exc)}") from None

    def complete(
        self, job: UploadJob, upload_id: str, parts: list[dict[str, str | int]], whole_checksum: dict[str, str]
    ) -> dict[str, Any] | None:
        """Complete the upload; the store's answer, or None when it no longer knows it.
        With no-overwrite, only if the key is free (KeyTaken if not)."""
        condition = {"IfNoneMatch": "*"} if job.settings.no_overwrite else {}
        client = self._client(job)
        try:
            answer: dict[str, Any] = self.persist(
                lambda: client.complete_multipart_upload(
                    Bucket=job.bucket,
                    Key=job.source.key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    **whole_checksum,
                    **condition,
                )
            )
            return answer
        except bex.ClientError as exc:
            if error_code(exc) == "NoSuchUpload":
                return None
            if condition and error_code(exc) == "PreconditionFailed":
                raise KeyTaken() from None
            raise _classified(exc) from None
        except bex.BotoCoreError as exc:
            raise FatalRemoteError(f"CompleteMultipartUpload: {describe(exc)}") from None

    def delete(self, job: UploadJob) -> None:
        """Remove an object this run wrote that is not the file's bytes (best effort)."""
        client = self._client(job)
        try:
            self.persist(lambda: client.delete_object(Bucket=job.bucket, Key=job.source.key))
        except (bex.ClientError, bex.BotoCoreError):
            pass

    def abort(self, job: UploadJob, upload_id: str) -> bool:
        """Abort the upload and confirm it is gone: S3 may keep a part that was in flight
        during an Abort, so ListParts is asked and the Abort repeated until it says
        NoSuchUpload (a few times at most). False if it could not be confirmed
        (``bulkup cleanup`` finds such uploads later)."""
        client = self._client(job)
        where = {"Bucket": job.bucket, "Key": job.source.key, "UploadId": upload_id}
        for _ in range(ABORT_ATTEMPTS):
            for call in (client.abort_multipart_upload, client.list_parts):
                gone = _gone_after(functools.partial(self.persist, functools.partial(call, **where)))
                if gone is not None:
                    return gone
        return False

    def head(self, job: UploadJob) -> dict[str, Any] | None:
        """The object's HeadObject answer with checksums, None if it cannot be had."""
        client = self._client(job)
        try:
            answer: dict[str, Any] = self.persist(
                lambda: client.head_object(Bucket=job.bucket, Key=job.source.key, ChecksumMode="ENABLED")
            )
            return answer
        except (bex.ClientError, bex.BotoCoreError):
            return None

    def _client(self, job: UploadJob) -> S3Client:
        return self.routes[job.bucket].client


def _busy(exc: bex.ClientError) -> bool:
    """Whether the store refused as a busy or restarting one does (SlowDown, a 5xx)."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return slows_the_run(error_code(exc)) or status >= 500 or status == 429


def _gone_after(call: Callable[[], object]) -> bool | None:
    """True if ``call`` says the upload is gone (NoSuchUpload), False if the store cannot be
    asked (the caller gives up), None otherwise (it was there when asked)."""
    try:
        call()
    except bex.ClientError as exc:
        return True if error_code(exc) == "NoSuchUpload" else None
    except bex.BotoCoreError:
        return False
    return None


def _classified(exc: bex.ClientError) -> Exception:
    message = describe(exc)
    if error_code(exc) in FATAL_CODES:
        return FatalRemoteError(message)
    return ObjectFailed(message)
