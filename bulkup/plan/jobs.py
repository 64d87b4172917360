"""What to upload: one object's source, destination, attributes, and any earlier progress.

`bulkup put` makes jobs from a directory walk; `bulkup migrate` makes them from its journal,
carrying the open multipart upload and the parts an earlier run already sent.
"""

from __future__ import annotations

import functools
import mimetypes
import os
from dataclasses import dataclass, field

from bulkup.plan.attributes import BY_NAME
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
    attributes: tuple[tuple[str, str], ...] = ()  # (plan.attributes name, the value S3 takes), as set
    no_overwrite: bool = False  # write only if the key is free (If-None-Match: *)
    preserve_mtime: bool = False  # the file's mtime as x-amz-meta-mtime (as rclone)

    def attribute(self, name: str) -> str | None:
        """The value of the attribute ``name`` (plan.attributes), if set."""
        return dict(self.attributes).get(name)

    @property
    def sse(self) -> str | None:
        return self.attribute("sse")

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
        headers += [(BY_NAME[name].header, value) for name, value in self.attributes]
        if self.no_overwrite:
            headers.append(("If-None-Match", "*"))
        return tuple(headers)

    def create_params(self, source: SourceFile) -> dict[str, str | dict[str, str]]:
        """The same attributes as CreateMultipartUpload parameters, plus the checksum kind
        (the no-overwrite condition goes on CompleteMultipartUpload)."""
        params: dict[str, str | dict[str, str]] = {"ContentType": self.content_type or guess_content_type(source.path)}
        if metadata := self.object_metadata(source):
            params["Metadata"] = dict(metadata)
        params.update({BY_NAME[name].param: value for name, value in self.attributes})
        if self.checksum.s3_name:
            params["ChecksumAlgorithm"] = self.checksum.s3_name
            if self.checksum.full_object:
                params["ChecksumType"] = "FULL_OBJECT"
        return params


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
