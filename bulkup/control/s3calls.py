"""The coordinator's calls to the store: create, complete and abort multipart uploads, and
look at an object, each answering in the terms the coordinator acts on.

A failure that no other object can escape (credentials, a missing bucket) raises
``FatalRemoteError``; one that ends this object alone raises ``ObjectFailed``.
"""
from __future__ import annotations

from typing import Mapping

import botocore.exceptions as bex

from bulkup.control.plane import BucketRoute
from bulkup.control.s3client import describe, error_code
from bulkup.errors import FatalRemoteError
from bulkup.plan.jobs import UploadJob
from bulkup.transport.responses import FATAL_CODES


ABORT_ATTEMPTS = 3


class ObjectFailed(Exception):
    """This object cannot be uploaded; ``str()`` is the reason."""


class KeyTaken(Exception):
    """A conditional write found an object at the key (412 to If-None-Match: *)."""


class S3Calls:
    """Control-plane calls for the objects of a run, through each bucket's client."""

    def __init__(self, routes: Mapping[str, BucketRoute]) -> None:
        self.routes = routes

    def create(self, job: UploadJob) -> str:
        """A new multipart upload for ``job``; its id."""
        try:
            return self._client(job).create_multipart_upload(
                Bucket=job.bucket, Key=job.source.key, **job.settings.create_params(job.source)
            )["UploadId"]
        except bex.ClientError as exc:
            raise _classified(exc) from None
        except bex.BotoCoreError as exc:
            raise FatalRemoteError(f"CreateMultipartUpload: {describe(exc)}") from None

    def complete(self, job: UploadJob, upload_id: str, parts: list[dict],
                 whole_checksum: dict[str, str]) -> dict | None:
        """Complete the upload; the store's answer, or None when it no longer knows it.
        With no-overwrite, only if the key is free (KeyTaken if not)."""
        condition = {"IfNoneMatch": "*"} if job.settings.no_overwrite else {}
        try:
            return self._client(job).complete_multipart_upload(
                Bucket=job.bucket, Key=job.source.key, UploadId=upload_id,
                MultipartUpload={"Parts": parts}, **whole_checksum, **condition)
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
        try:
            self._client(job).delete_object(Bucket=job.bucket, Key=job.source.key)
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
                gone = _gone_after(call, where)
                if gone is not None:
                    return gone
        return False

    def head(self, job: UploadJob) -> dict | None:
        """The object's HeadObject answer with checksums, None if it cannot be had."""
        try:
            return self._client(job).head_object(Bucket=job.bucket, Key=job.source.key,
                                                 ChecksumMode="ENABLED")
        except (bex.ClientError, bex.BotoCoreError):
            return None

    def _client(self, job: UploadJob):
        return self.routes[job.bucket].client


def _gone_after(call, params: dict) -> bool | None:
    """True if ``call`` says the upload is gone (NoSuchUpload), False if the store cannot be
    asked (the caller gives up), None otherwise (it was there when asked)."""
    try:
        call(**params)
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
