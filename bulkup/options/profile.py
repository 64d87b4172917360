"""The AWS CLI's ``s3`` settings of the active profile, so that a tuned ``~/.aws/config``
carries over to bulkup:

    [profile fast]
    s3 =
      multipart_chunksize = 16MB
      max_concurrent_requests = 40

Which option a setting gives, and how its text is read, is declared with the option
(``Option.aws``, ``Option.from_aws``). Flags given on the command line win; ``bulkup doctor``
shows where each setting came from. Sizes read as the AWS CLI reads them (``MB`` is 2**20
bytes). botocore, which reads the files, is imported only when a profile is read: not
where the environment is plain (``control.awsenv``: no profile, no file that says anything).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from bulkup.control.awsenv import plain_environment
from bulkup.errors import UsageError
from bulkup.options.declared import UploadOptions
from bulkup.options.registry import declared

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
    if plain_environment(profile) is not None:  # no profile, no file: nothing for botocore to find
        config_file = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
        return ProfileS3Settings(profile=DEFAULT, config_file=os.path.expanduser(config_file))
    return botocore_s3_settings(profile)


def botocore_s3_settings(profile: str | None) -> ProfileS3Settings:
    """``read_s3_settings`` as botocore reads the files, whatever the environment."""
    import botocore.exceptions as bex
    import botocore.session

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
    for option, setting, convert in MAPPING:
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


# (UploadOptions field, AWS CLI s3 setting, conversion), as the options declare them.
MAPPING = tuple((name, opt.aws, opt.from_aws) for name, opt in declared(UploadOptions) if opt.aws and opt.from_aws)
