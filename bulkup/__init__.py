"""bulkup: a multiprocess, zero-copy bulk uploader for S3 and S3-compatible stores.

The data path, one subpackage each: ``plan`` (what to upload: sources, parts, checksums)
-> ``control`` (the coordinator and the S3 control plane) -> ``pools`` (where senders run:
local processes or Ray actors) -> ``transport`` (worker, connection, request, send engines)
-> ``kernel`` (kTLS, io_uring). Around it: ``migrate`` (manifests, journal, resume),
``display`` (progress), ``cli``.

The public names load lazily, so worker processes and engine probes, which import parts of
the package, do not pay for boto3 and the dashboards.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from bulkup.version import __version__

__all__ = [
    "upload",
    "UploadOptions",
    "UploadResult",
    "ObjectResult",
    "ProgressSink",
    "BulkupError",
    "progress",
    "__version__",
]

_LAZY = {
    "upload": "bulkup.api",
    "UploadOptions": "bulkup.options",
    "UploadResult": "bulkup.plan.results",
    "ObjectResult": "bulkup.plan.results",
    "ProgressSink": "bulkup.display.sink",
    "BulkupError": "bulkup.errors",
}

if TYPE_CHECKING:
    from bulkup import display as progress
    from bulkup.api import upload
    from bulkup.display.sink import ProgressSink
    from bulkup.errors import BulkupError
    from bulkup.options import UploadOptions
    from bulkup.plan.results import ObjectResult, UploadResult


def __getattr__(name: str):
    if name == "progress":  # the displays, under their earlier name
        return importlib.import_module("bulkup.display")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bulkup' has no attribute {name!r}")
