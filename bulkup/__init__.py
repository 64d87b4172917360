"""bulkup: a multiprocess, zero-copy bulk uploader for S3 and S3-compatible stores."""
from . import progress
from .api import UploadOptions, upload
from .coordinator import ObjectResult, UploadResult
from .errors import BulkupError

__version__ = "0.1.0"
__all__ = ["upload", "UploadOptions", "UploadResult", "ObjectResult", "BulkupError", "__version__"]
