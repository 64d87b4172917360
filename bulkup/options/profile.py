"""The AWS CLI's ``s3`` settings of the active profile, so that a tuned ``~/.aws/config``
carries over to bulkup:

    [profile fast]
    s3 =
      multipart_chunksize = 16MB
      max_concurrent_requests = 40

Flags given on the command line win; ``bulkup doctor`` shows where each setting came from.
Sizes read as the AWS CLI reads them (``MB`` is 2**20 bytes).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import botocore.exceptions as bex
import botocore.session

from bulkup.errors import UsageError
from bulkup.plan.parts import parse_rate, parse_size
from bulkup.pools.base import local_workers

if TYPE_CHECKING:
    from bulkup.options import UploadOptions

DEFAULT = "default"
FLAG = "command line"
NOT_APPLIED = {
    "payload_signing_enabled": "not applied: bulkup signs UNSIGNED-PAYLOAD and the store checks "
    "each part's own checksum instead (over HTTPS; plain HTTP as well)",
}


@dataclass(frozen=True)
class ProfileS3Settings:
    """The ``s3`` section of one profile, as the AWS CLI would read it."""

    profile: str
    config_file: str
    values: dict[str, str] = field(default_factory=dict)

    def origin(self, name: str) -> str:
        return f"[profile {self.profile}] s3.{name} in {self.config_file}"


def read_s3_settings(profile: str | None) -> ProfileS3Settings:
    """The profile's (else AWS_PROFILE's, else default's) ``s3`` settings; empty if none."""
    session = botocore.session.Session(profile=profile)
    config_file = os.path.expanduser(session.get_config_variable("config_file") or "~/.aws/config")
    name = profile or session.profile or "default"
    try:
        section = session.get_scoped_config().get("s3")
    except bex.ProfileNotFound:
        section = None
    values = {k: str(v) for k, v in section.items()} if isinstance(section, dict) else {}
    return ProfileS3Settings(profile=name, config_file=config_file, values=values)


def apply_s3_settings(
    options: UploadOptions, found: ProfileS3Settings, given: set[str]
) -> tuple[UploadOptions, dict[str, str]]:
    """``options`` with the profile's settings where no flag in ``given`` set the option;
    and for each setting, where its value came from."""
    changes: dict = {}
    origins: dict[str, str] = {}
    for option, setting, convert in _MAPPING:
        if option in given:
            origins[option] = FLAG
        elif setting in found.values:
            try:
                changes[option] = convert(found.values[setting], options)
            except ValueError as exc:
                raise UsageError(f"{found.origin(setting)}: {exc}") from None
            origins[option] = found.origin(setting)
        else:
            origins[option] = DEFAULT
    for setting, why in NOT_APPLIED.items():
        if setting in found.values:
            origins[setting] = f"{found.origin(setting)}: {why}"
    return dataclasses.replace(options, **changes), origins


def _size(text: str, options: UploadOptions) -> int:
    return parse_size(text)


def _connections(text: str, options: UploadOptions) -> int:
    """max_concurrent_requests counts requests in flight in all: per worker, rounded up."""
    total = int(text)
    if total < 1:
        raise ValueError(f"max_concurrent_requests must be at least 1, not {total}")
    return max(1, math.ceil(total / local_workers(options.workers)))


def _rate(text: str, options: UploadOptions) -> int:
    return parse_rate(text)


def _addressing(text: str, options: UploadOptions) -> str:
    if text not in ("auto", "path", "virtual"):
        raise ValueError(f"addressing_style must be auto, path or virtual, not {text!r}")
    return text


# UploadOptions field, AWS CLI s3 setting, conversion.
_MAPPING = (
    ("part_size", "multipart_chunksize", _size),
    ("multipart_threshold", "multipart_threshold", _size),
    ("connections", "max_concurrent_requests", _connections),
    ("addressing_style", "addressing_style", _addressing),
    ("bwlimit", "max_bandwidth", _rate),
)
SETTINGS = tuple(option for option, _, _ in _MAPPING)
