"""An object being uploaded, as the coordinator tracks it: its multipart state and the
parts back so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from bulkup.control.spool import Spool, SpooledPart
from bulkup.plan.files import FileIdentity
from bulkup.plan.jobs import ObjectSettings, UploadJob
from bulkup.plan.parts import PartRange
from bulkup.plan.results import ObjectResult


@dataclass(eq=False, kw_only=True)
class ObjectUpload:
    """One job under way: its outcome so far, its open multipart upload and accepted parts."""

    job: UploadJob
    result: ObjectResult
    upload_id: str | None = None
    ranges: list[PartRange] = field(default_factory=list)
    done: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # n -> etag, checksum
    unechoed: int = 0  # parts the store did not confirm by echoing the checksum
    seen: FileIdentity | None = None  # the file as the first worker to open it found it
    retired: bool = False  # started over as another ObjectUpload
    spooled: dict[int, SpooledPart] = field(default_factory=dict)  # a stream's parts not yet stored

    @property
    def failed(self) -> bool:
        return self.result.error is not None

    @property
    def closed(self) -> bool:
        """Nothing more is to be done for it (failed, started over, or its key was taken)."""
        return self.failed or self.retired or self.result.exists

    @property
    def spool(self) -> Spool | None:
        """A stream's spool: its parts arrive as it is read."""
        return cast(Spool | None, self.job.stream)  # the plan cannot name the control plane's Spool

    @property
    def settings(self) -> ObjectSettings:
        return self.job.settings

    @property
    def all_parts_done(self) -> bool:
        """Every part stored (and for a stream, the stream read to its end)."""
        return len(self.done) == len(self.ranges) and (self.spool is None or self.spool.drained)
