"""What to upload: one object's source, destination, attributes, and any earlier progress.

`bulkup put` makes jobs from a directory walk; `bulkup migrate` makes them from its journal,
carrying the open multipart upload and the parts an earlier run already sent.
"""

from __future__ import annotations

import functools
import mimetypes
import os
from dataclasses import dataclass, field

from bulkup.plan.checksums import ChecksumAlgorithm
from bulkup.plan.files import SourceFile
from bulkup.plan.mtime import format_mtime


@dataclass(frozen=True, kw_only=True)
class ObjectSettings:
    """An object's attributes besides its bytes, and how it is cut and checked."""

    checksum: ChecksumAlgorithm
    part_size: int | None = None
    multipart_threshold: int | None = None
    content_type: str | None = None  # None: guessed per file
    metadata: tuple[tuple[str, str], ...] = ()
    storage_class: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None
    cache_control: str | None = None
    content_encoding: str | None = None
    content_disposition: str | None = None
    content_language: str | None = None
    expires: str | None = None  # an HTTP date
    acl: str | None = None  # a canned ACL
    tagging: str | None = None  # URL-encoded k=v&k2=v2
    object_lock_mode: str | None = None  # GOVERNANCE | COMPLIANCE
    object_lock_retain_until: str | None = None  # ISO 8601, UTC
    object_lock_legal_hold: str | None = None  # ON | OFF
    no_overwrite: bool = False  # write only if the key is free (If-None-Match: *)
    preserve_mtime: bool = False  # the file's mtime as x-amz-meta-mtime (as rclone)

    def object_metadata(self, source: SourceFile) -> tuple[tuple[str, str], ...]:
        """The user metadata (x-amz-meta-*) of ``source``'s object."""
        if not self.preserve_mtime or not source.mtime_ns:
            return self.metadata
        return (*self.metadata, ("mtime", format_mtime(source.mtime_ns)))

    def put_headers(self, source: SourceFile) -> tuple[tuple[str, str], ...]:
        """The object's headers on a single PutObject (the checksum is added per request)."""
        headers = (("Content-Type", self.content_type or guess_content_type(source.path)), *self._same_headers)
        if self.preserve_mtime and source.mtime_ns:
            headers += (("x-amz-meta-mtime", format_mtime(source.mtime_ns)),)
        return headers

    @functools.cached_property
    def _same_headers(self) -> tuple[tuple[str, str], ...]:
        """The headers every single PutObject with these settings carries, worked out once."""
        headers = [(f"x-amz-meta-{k}", v) for k, v in self.metadata]
        headers += [(header, getattr(self, name)) for name, _, header in _OPTIONAL if getattr(self, name)]
        if self.no_overwrite:
            headers.append(("If-None-Match", "*"))
        return tuple(headers)

    def create_params(self, source: SourceFile) -> dict:
        """The same attributes as CreateMultipartUpload parameters, plus the checksum kind
        (the no-overwrite condition goes on CompleteMultipartUpload)."""
        params: dict = {"ContentType": self.content_type or guess_content_type(source.path)}
        if metadata := self.object_metadata(source):
            params["Metadata"] = dict(metadata)
        params.update({param: value for param, value in attribute_params(self).values()})
        if self.checksum.s3_name:
            params["ChecksumAlgorithm"] = self.checksum.s3_name
            if self.checksum.full_object:
                params["ChecksumType"] = "FULL_OBJECT"
        return params


# Optional object attributes: (ObjectSettings field, boto3 parameter, request header).
_OPTIONAL = (
    ("storage_class", "StorageClass", "x-amz-storage-class"),
    ("sse", "ServerSideEncryption", "x-amz-server-side-encryption"),
    ("sse_kms_key_id", "SSEKMSKeyId", "x-amz-server-side-encryption-aws-kms-key-id"),
    ("cache_control", "CacheControl", "Cache-Control"),
    ("content_encoding", "ContentEncoding", "Content-Encoding"),
    ("content_disposition", "ContentDisposition", "Content-Disposition"),
    ("content_language", "ContentLanguage", "Content-Language"),
    ("expires", "Expires", "Expires"),
    ("acl", "ACL", "x-amz-acl"),
    ("tagging", "Tagging", "x-amz-tagging"),
    ("object_lock_mode", "ObjectLockMode", "x-amz-object-lock-mode"),
    ("object_lock_retain_until", "ObjectLockRetainUntilDate", "x-amz-object-lock-retain-until-date"),
    ("object_lock_legal_hold", "ObjectLockLegalHoldStatus", "x-amz-object-lock-legal-hold"),
)


def attribute_params(settings: ObjectSettings) -> dict[str, tuple[str, str]]:
    """The optional attributes ``settings`` sets: field -> (boto3 parameter, value)."""
    return {name: (param, getattr(settings, name)) for name, param, _ in _OPTIONAL if getattr(settings, name)}


# Which option sets each attribute, to name it when a store refuses it.
ATTRIBUTE_OPTIONS = {name: "--" + name.replace("_", "-") for name, _, _ in _OPTIONAL}
ATTRIBUTE_OPTIONS["tagging"] = "--tags"
ATTRIBUTE_OPTIONS["sse"] = "--sse"


@dataclass(kw_only=True)
class UploadJob:
    """One object to upload, and what an earlier run already did for it."""

    source: SourceFile
    bucket: str
    settings: ObjectSettings
    ref: int | None = None  # the journal's id for the object
    upload_id: str | None = None  # an open multipart upload to continue
    part_size: int | None = None  # that upload's part size
    parts_done: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # n -> etag, checksum
    checksum: str | None = None  # the whole file's known checksum (settings.checksum's kind)
    node: str | None = None  # send only from this node (Ray: IP or custom resource)
    restarts: int = 0  # times it started over (a changed file, a lost upload)
    stream: object | None = None  # a control.spool.Spool: a stream of unknown length


def guess_content_type(path: str) -> str:
    """The Content-Type for a file, from its name (as the AWS CLI guesses it)."""
    name = os.path.basename(path)
    dot = name.find(".")
    return _type_of_suffix(name[dot:] if dot >= 0 else "")


@functools.lru_cache(maxsize=4096)
def _type_of_suffix(suffixes: str) -> str:
    """What mimetypes guesses from a name's suffixes (once per suffix: the guess costs ~15 µs)."""
    guessed, _ = mimetypes.guess_type(f"name{suffixes}", strict=False)
    return guessed or "binary/octet-stream"
