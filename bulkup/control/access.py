"""What a user's credentials may do at a destination, asked step by step as ``bulkup doctor
s3://bucket/prefix/`` asks it: are there credentials (and whose), does the bucket exist, can
it be listed, can an object be written under the prefix and deleted again. Each step that
fails says why and what to do; the steps after a failed one are not taken."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions as bex

from bulkup.control.plane import ControlPlane
from bulkup.control.probekeys import DOCTOR_MARK, new_probe_key
from bulkup.control.s3client import describe, error_code

DOCTOR_BODY = b"written by bulkup doctor, deleted at once\n"
# The store's answer -> what to do, for the codes that say the credentials themselves are wrong.
CREDENTIALS_WRONG = {
    "InvalidAccessKeyId": "the store knows no such access key: check AWS_ACCESS_KEY_ID or the profile (--profile)",
    "SignatureDoesNotMatch": "the secret key does not match the access key: check AWS_SECRET_ACCESS_KEY or the profile",
    "ExpiredToken": "the session token has expired: renew it (aws sso login, or new temporary credentials)",
    "InvalidToken": "the session token is not valid: renew it (aws sso login, or new temporary credentials)",
}


@dataclass(frozen=True)
class Step:
    """One question asked of the store, and its answer."""

    name: str  # credentials, bucket, list, write, delete
    ok: bool
    detail: str
    fix: str = ""  # what to do when not ok


def access_steps(plane: ControlPlane, bucket: str, prefix: str, ask_identity: bool) -> list[Step]:
    """Ask, in order, until one fails: the credentials, the bucket, listing under ``prefix``,
    writing and deleting a ``.bulkup-doctor-`` object there. ``ask_identity``: ask AWS STS
    whose credentials they are (AWS only; other stores have no STS at their endpoint)."""
    found = credentials(plane, ask_identity)
    steps = [found]
    if not found.ok:
        return steps
    client = plane.client
    key = new_probe_key(prefix, DOCTOR_MARK)
    where = f"s3://{bucket}/{prefix}"
    questions: list[tuple[str, Callable[[], Any], str, str]] = [
        (
            "bucket",
            lambda: _head_bucket(client, bucket),
            f"{bucket} exists",
            f"allow s3:ListBucket on arn:aws:s3:::{bucket} to these credentials (HeadBucket needs it)",
        ),
        (
            "list",
            lambda: client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1),
            f"can list {where}",
            f"allow s3:ListBucket on arn:aws:s3:::{bucket} to these credentials",
        ),
        (
            "write",
            lambda: client.put_object(Bucket=bucket, Key=key, Body=DOCTOR_BODY),
            f"wrote s3://{bucket}/{key} ({len(DOCTOR_BODY)} bytes)",
            f"allow s3:PutObject on arn:aws:s3:::{bucket}/{prefix}* to these credentials",
        ),
        (
            "delete",
            lambda: client.delete_object(Bucket=bucket, Key=key),
            "deleted it again",
            f"allow s3:DeleteObject on arn:aws:s3:::{bucket}/{prefix}*; the object written is left: remove it "
            f"with bulkup cleanup {where} --older-than 0s --yes",
        ),
    ]
    for name, call, done, fix in questions:
        try:
            call()
        except (bex.ClientError, bex.BotoCoreError) as exc:
            steps.append(_failed(name, exc, fix, steps, bucket))
            return steps
        if name == "bucket":  # a signed request was answered: the store knows these credentials
            steps[0] = Step("credentials", True, f"{steps[0].detail}; the store accepts them")
        steps.append(Step(name, True, done))
    return steps


def _head_bucket(client: Any, bucket: str) -> None:
    """HeadBucket; a 403 (a HEAD answer has no body to say why) is asked again with a GET,
    whose answer names the cause: wrong credentials, or no permission."""
    try:
        client.head_bucket(Bucket=bucket)
    except bex.ClientError as exc:
        if error_code(exc) != "403":
            raise
        client.list_objects_v2(Bucket=bucket, MaxKeys=1)  # raises the cause, if it is one
        raise


def credentials(plane: ControlPlane, ask_identity: bool) -> Step:
    """Which credentials a run uses (where they come from, and whose, when AWS says)."""
    try:
        found = plane.session.get_credentials()
    except bex.BotoCoreError as exc:
        return Step("credentials", False, describe(exc), "check the profile (--profile) and ~/.aws/config")
    if found is None:
        return Step(
            "credentials",
            False,
            "none found",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with --profile",
        )
    access_key = found.access_key or ""
    shown = f"{access_key[:4]}…{access_key[-4:]}" if len(access_key) > 8 else "(short key)"
    detail = f"access key {shown} from {_source(found.method)}"
    if ask_identity:
        try:
            arn = plane.session.client("sts").get_caller_identity()["Arn"]
        except (bex.ClientError, bex.BotoCoreError) as exc:
            return Step("credentials", False, f"{detail}; AWS refused them: {describe(exc)}", _credentials_fix(exc))
        detail += f", which are {arn}"
    return Step("credentials", True, detail)


def _failed(name: str, exc: BaseException, fix: str, steps: list[Step], bucket: str) -> Step:
    """The step that failed; when the store's answer says the credentials are wrong, the
    credentials step is marked failed instead (its fix is the one that helps)."""
    if isinstance(exc, bex.ClientError) and error_code(exc) in CREDENTIALS_WRONG:
        steps[0] = Step("credentials", False, f"{steps[0].detail}; the store refused them", _credentials_fix(exc))
        return Step(name, False, describe(exc), "fix the credentials first")
    if isinstance(exc, bex.ClientError) and error_code(exc) in ("403", "AccessDenied"):
        return Step(name, False, "access denied", fix)
    if isinstance(exc, bex.ClientError) and error_code(exc) in ("404", "NoSuchBucket"):
        return Step(name, False, "no such bucket", _bucket_fix(bucket))
    return Step(name, False, describe(exc), "" if isinstance(exc, bex.SSLError) else fix)


def _credentials_fix(exc: BaseException) -> str:
    code = error_code(exc) if isinstance(exc, bex.ClientError) else ""
    return CREDENTIALS_WRONG.get(code, "check the credentials (AWS_ACCESS_KEY_ID, --profile)")


def _bucket_fix(bucket: str) -> str:
    return f"check the name {bucket!r}, --endpoint-url and --region; create the bucket if it should exist"


def _source(method: str | None) -> str:
    """Where botocore found the credentials, in words."""
    return {
        "env": "the environment (AWS_ACCESS_KEY_ID)",
        "shared-credentials-file": "~/.aws/credentials",
        "config-file": "~/.aws/config",
        "sso": "AWS SSO",
        "assume-role": "an assumed role",
        "assume-role-with-web-identity": "a web identity role",
        "iam-role": "the instance's role",
        "container-role": "the container's role",
    }.get(method or "", method or "an unknown source")
