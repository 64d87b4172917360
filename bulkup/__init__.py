"""bulkup: a multiprocess, zero-copy bulk uploader for S3 and S3-compatible stores.

The public names load lazily, so worker processes and engine probes, which import parts of
the package, do not pay for boto3 and the dashboards.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["upload", "UploadOptions", "UploadResult", "ObjectResult", "BulkupError", "progress",
           "__version__"]

_LAZY = {"upload": "api", "UploadOptions": "api", "UploadResult": "coordinator",
         "ObjectResult": "coordinator", "BulkupError": "errors"}

if TYPE_CHECKING:
    from . import progress
    from .api import UploadOptions, upload
    from .results import ObjectResult, UploadResult
    from .errors import BulkupError


def __getattr__(name: str):
    import importlib
    if name == "progress":
        return importlib.import_module(".progress", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'bulkup' has no attribute {name!r}")
