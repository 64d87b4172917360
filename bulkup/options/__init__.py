"""What a user asks for: every option declared once (``registry``, ``declared``), read from
a profile's AWS CLI settings (``profile``), and checked and resolved once into each layer's
settings (``resolve``, imported from there: it needs boto3, which the command line's
help must not wait for)."""

from __future__ import annotations

from bulkup.options.declared import (
    AUTO,
    DEFAULT_TARGET_GBPS,
    PER_CONNECTION_GBPS,
    CleanupOptions,
    DoctorOptions,
    ListOptions,
    ManifestOptions,
    MigrateOptions,
    OutputOptions,
    SyncOptions,
    UploadOptions,
)

__all__ = [
    "AUTO",
    "DEFAULT_TARGET_GBPS",
    "PER_CONNECTION_GBPS",
    "CleanupOptions",
    "DoctorOptions",
    "ListOptions",
    "ManifestOptions",
    "MigrateOptions",
    "OutputOptions",
    "SyncOptions",
    "UploadOptions",
]
