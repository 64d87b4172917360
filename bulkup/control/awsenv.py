"""The AWS environment, read without botocore where it is plain enough to read exactly.

Importing botocore and making a session cost ~0.5 s, most of a small upload. Where the
environment is *plain*, what botocore would find in it is known without asking it:

- credentials in ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` (and
  ``AWS_SESSION_TOKEN``), which botocore's chain takes before anything else when no
  profile is named;
- no profile named (``--profile``, ``AWS_PROFILE``, ``AWS_DEFAULT_PROFILE``);
- no other ``AWS_*`` variable than those and ``AWS_DEFAULT_REGION``, ``AWS_CA_BUNDLE``,
  ``AWS_CONFIG_FILE`` and ``AWS_SHARED_CREDENTIALS_FILE`` (each with a value);
- neither the config file nor the credentials file says anything: absent, not a regular
  file (``/dev/null``), or empty; botocore reads such a file as it reads none.

Then the region is ``AWS_DEFAULT_REGION``'s, the trust store ``AWS_CA_BUNDLE``'s, and the
profile has no ``s3`` settings. Anything else (a profile, SSO, roles, a config file, an
expiring credential, an endpoint or a quirk set in the environment) is botocore's to read:
``plain_environment`` answers None and says why in the debug log.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

from bulkup.transport.request import CredentialSet

DEFAULT_REGION = "us-east-1"
SYSTEM_CA_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
)
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
KNOWN = (
    *CREDENTIALS,
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_CA_BUNDLE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
FILES = (("AWS_CONFIG_FILE", "~/.aws/config"), ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"))
log = logging.getLogger("bulkup")


@dataclass(frozen=True)
class PlainEnvironment:
    """What botocore would find in a plain environment."""

    credentials: CredentialSet
    region: str | None  # AWS_DEFAULT_REGION
    ca_bundle: str | None  # AWS_CA_BUNDLE


def plain_environment(profile: str | None, environ: Mapping[str, str] = os.environ) -> PlainEnvironment | None:
    """The environment as botocore would read it with ``profile`` (None: none named), if it
    is plain (see the module's docstring); else None, and the reason in the debug log."""
    why = why_not_plain(profile, environ)
    if why is not None:
        log.debug("the AWS environment is read by botocore: %s", why)
        return None
    return PlainEnvironment(
        credentials=CredentialSet(
            environ["AWS_ACCESS_KEY_ID"], environ["AWS_SECRET_ACCESS_KEY"], environ.get("AWS_SESSION_TOKEN")
        ),
        region=environ.get("AWS_DEFAULT_REGION"),
        ca_bundle=environ.get("AWS_CA_BUNDLE"),
    )


def why_not_plain(profile: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """Why botocore must read this environment (None: it is plain)."""
    if profile is not None:
        return f"profile {profile!r}"
    if missing := [name for name in CREDENTIALS if not environ.get(name)]:
        return f"{' and '.join(missing)} not set"
    for name, value in sorted(environ.items()):
        if name.startswith("AWS_") and name not in KNOWN:
            return f"{name} is set"
        if name.startswith("AWS_") and not value:
            return f"{name} is set and empty"
    if (bundle := environ.get("AWS_CA_BUNDLE")) and not os.path.exists(bundle):
        return f"AWS_CA_BUNDLE names {bundle}, which is not there"
    for variable, default in FILES:
        path = os.path.expanduser(os.path.expandvars(environ.get(variable) or default))
        try:
            if os.path.isfile(path) and os.path.getsize(path) > 0:
                return f"{path} may say something"
        except OSError as exc:
            return f"{path}: {exc.strerror}"
    return None


def system_trust_store() -> str | None:
    """The system's CA file (or directory) as OpenSSL would use it; None: none found."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, *SYSTEM_CA_FILES):
        if candidate and os.path.isfile(candidate):
            return candidate
    if paths.capath and os.path.isdir(paths.capath) and os.listdir(paths.capath):
        return paths.capath
    return None
