"""What a user asks for: every option declared once (``registry``, ``declared``), read from
a profile's AWS CLI settings (``profile``), and checked and resolved once into each layer's
settings (``resolve``)."""

from __future__ import annotations

from bulkup.options.declared import (
    AUTO,
    DEFAULT_TARGET_GBPS,
    PER_CONNECTION_GBPS,
    CleanupOptions,
    DoctorOptions,
    ManifestOptions,
    MigrateOptions,
    OutputOptions,
    SyncOptions,
    UploadOptions,
)
from bulkup.options.resolve import RunSettings, client_settings, connections_for, resolve, resolve_filters, validate

__all__ = [
    "AUTO",
    "DEFAULT_TARGET_GBPS",
    "PER_CONNECTION_GBPS",
    "CleanupOptions",
    "DoctorOptions",
    "ManifestOptions",
    "MigrateOptions",
    "OutputOptions",
    "RunSettings",
    "SyncOptions",
    "UploadOptions",
    "client_settings",
    "connections_for",
    "resolve",
    "resolve_filters",
    "validate",
]
