"""Ask the store, before any data is sent, whether it takes the run's object attributes, and
afterwards whether it kept them.

A store that refuses an attribute (Object Lock on a bucket without it, ACLs on a bucket that
enforces its owner, tags without the permission, an unknown storage class) would refuse
every object the same way. One CreateMultipartUpload with all of them, aborted at once,
finds that out; if it is refused, one per attribute names the one at fault, and the run ends
with one line before anything is sent. Each probe has a key of its own (``probekeys``) and
aborts only the upload it made, so ``bulkup cleanup`` finds one a killed run left.

A store may also take an attribute and drop it (rclone's server accepts tags and Object Lock
and keeps neither, and ignores If-None-Match). ``--no-overwrite`` is asked before anything
is sent: a probe object written twice, the second time conditionally, must be refused. The
probe object is deleted at once, each version written (a versioned bucket keeps no trace);
one the store will not delete is named in a warning, for ``bulkup cleanup``. The store's
answer is remembered for a day per endpoint and bucket (``storeanswers``), so most runs write
no probe object at all. The others are read back from one uploaded object after the run
(``confirm_attributes``); what is missing is named.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bulkup.control import botoerrors as bex
from bulkup.control.cleanup import clear_stale_probe_objects
from bulkup.control.probekeys import new_probe_key
from bulkup.control.s3client import S3Client, describe, error_code
from bulkup.control.storeanswers import recall, remember
from bulkup.errors import FatalRemoteError
from bulkup.plan.attributes import BY_NAME
from bulkup.plan.jobs import ObjectSettings
from bulkup.transport.responses import FATAL_CODES

if TYPE_CHECKING:
    from bulkup.control.plane import BucketRoute
    from bulkup.plan.results import UploadResult

LOCK = ("object_lock_mode", "object_lock_retain_until", "object_lock_legal_hold")
NO_OVERWRITE = "no-overwrite"  # the question, as the store's answer is remembered
KEPT, IGNORED = "kept", "ignored"  # what the store did with If-None-Match: *
log = logging.getLogger("bulkup")


class AttributeRefused(FatalRemoteError):
    """The store refuses an object attribute the run asks for."""


def check_attributes(client: S3Client, bucket: str, key_hint: str, settings: ObjectSettings, where: str) -> None:
    """Raise AttributeRefused, naming the option, if the store refuses an attribute of
    ``settings``; nothing if it takes them all (or none is asked for)."""
    if settings.no_overwrite:
        check_no_overwrite(client, bucket, key_hint, where)
    groups = _groups(settings)
    if not groups or _accepted(client, bucket, key_hint, {k: v for g in groups.values() for k, v in g.items()}):
        return
    for options, params in groups.items():
        refusal = _refusal(client, bucket, key_hint, params)
        if refusal is not None:
            hint = f" (is Object Lock enabled on bucket {bucket}?)" if "object-lock" in options else ""
            raise AttributeRefused(f"the store at {where} refuses {options}{hint}: {refusal}; nothing was sent")


def check_no_overwrite(client: S3Client, bucket: str, key_hint: str, where: str) -> None:
    """AttributeRefused if the store writes over an object despite If-None-Match: * (as it
    answered within the last day, else asked now with a probe object)."""
    condition = recalled_condition(where, bucket)
    if condition is None:
        condition = _probe_condition(client, bucket, key_hint, where)
        if condition is not None:
            remember(NO_OVERWRITE, where, bucket, {"condition": condition})
    if condition == IGNORED:
        raise AttributeRefused(
            f"the store at {where} ignores If-None-Match (a conditional write over an "
            "object succeeded): --no-overwrite cannot be kept; nothing was sent"
        )


def recalled_condition(where: str, bucket: str) -> str | None:
    """What the store did with If-None-Match: * (KEPT or IGNORED), as it answered within the
    last day (None: it did not)."""
    answer = recall(NO_OVERWRITE, where, bucket)
    condition = answer.get("condition") if answer is not None else None
    return condition if condition in (KEPT, IGNORED) else None


def _probe_condition(client: S3Client, bucket: str, key_hint: str, where: str) -> str | None:
    """KEPT or IGNORED, from a probe object written twice (the second time conditionally);
    None if the store could not be asked (not the condition's fault: the run will say)."""
    clear_stale_probe_objects(client, bucket, key_hint)
    key = new_probe_key(key_hint)
    try:
        versions: list[str | None] = [client.put_object(Bucket=bucket, Key=key, Body=b"").get("VersionId")]
    except (bex.ClientError, bex.BotoCoreError) as exc:
        if isinstance(exc, bex.ClientError) and error_code(exc) in FATAL_CODES:
            raise FatalRemoteError(describe(exc)) from None  # it could not upload either
        return None
    try:
        versions.append(client.put_object(Bucket=bucket, Key=key, Body=b"", IfNoneMatch="*").get("VersionId"))
        return IGNORED
    except bex.ClientError as exc:
        if error_code(exc) == "PreconditionFailed":
            return KEPT
        raise AttributeRefused(
            f"the store at {where} cannot tell whether a key is taken "
            f"({describe(exc)}): --no-overwrite cannot be kept; nothing was sent"
        ) from None
    except bex.BotoCoreError:
        return None
    finally:
        _delete_probe_object(client, bucket, key, versions)


def _delete_probe_object(client: S3Client, bucket: str, key: str, versions: list[str | None]) -> None:
    """Delete each version the probe wrote (the key itself where the bucket keeps none); one
    warning line if the store refuses."""
    for version in dict.fromkeys(v for v in versions if v) or [None]:
        try:
            client.delete_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))
        except (bex.ClientError, bex.BotoCoreError) as exc:
            url = f"s3://{bucket}/{_shown(key)}"
            log.warning(
                "could not delete the probe object %s (%s); remove it with: bulkup cleanup %s --older-than 0s --yes",
                url,
                describe(exc),
                url,
            )
            return


def _shown(key: str) -> str:
    """A key safe to print on one line (control characters escaped)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in key)


MTIME_DROPPED = "--preserve-mtime (no x-amz-meta-mtime)"


def confirm_after_run(routes: Mapping[str, BucketRoute], result: UploadResult, settings: ObjectSettings) -> None:
    """Read one uploaded object's attributes back; note in ``result`` those the store did
    not keep (nothing is read if no attribute beyond the defaults was asked for)."""
    asked = [n for n, _ in settings.attributes if BY_NAME[n].read_back] or settings.preserve_mtime
    if not asked or result.sample is None:
        return
    bucket, key = result.sample
    result.attributes_missing = [
        f"the store at {routes[bucket].where} did not keep {what} on s3://{bucket}/{key}"
        for what in confirm_attributes(routes[bucket].client, bucket, key, settings)
    ]


def confirm_attributes(client: S3Client, bucket: str, key: str, settings: ObjectSettings) -> list[str]:
    """The options whose attribute the object at ``key`` does not have, each with what the
    store answered (an empty list: every one asked for is there)."""
    missing: list[str] = []
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except (bex.ClientError, bex.BotoCoreError) as exc:
        return [f"every attribute (HeadObject: {describe(exc)})"]
    for name, _ in settings.attributes:
        attribute = BY_NAME[name]
        if attribute.read_back == "head" and head.get(attribute.param) is None:
            missing.append(f"{attribute.flag} (HeadObject has no {attribute.param})")
        elif attribute.read_back not in ("", "head") and (why := _read_back(client, bucket, key, attribute.read_back)):
            missing.append(f"{attribute.flag} ({why})")
    if settings.preserve_mtime and "mtime" not in head.get("Metadata", {}):
        missing.append(MTIME_DROPPED)
    return missing


def _read_back(client: S3Client, bucket: str, key: str, read: str) -> str | None:
    """Why the object shows none of ``read`` (tags, retention, legal hold); None if it does."""
    call, field = {
        "tags": ("get_object_tagging", "TagSet"),
        "retention": ("get_object_retention", "Retention"),
        "legal_hold": ("get_object_legal_hold", "LegalHold"),
    }[read]
    try:
        answer = getattr(client, call)(Bucket=bucket, Key=key)
    except (bex.ClientError, bex.BotoCoreError) as exc:
        return f"{call}: {describe(exc)}"
    return None if answer.get(field) else f"{call} shows none"


def _groups(settings: ObjectSettings) -> dict[str, dict[str, str]]:
    """The attributes asked for, by the options that set them (a lock's fields together)."""
    names = [name for name, _ in settings.attributes]
    lock = "/".join(BY_NAME[n].flag for n in LOCK if n in names)
    groups: dict[str, dict[str, str]] = {}
    for name, value in settings.attributes:
        attribute = BY_NAME[name]
        groups.setdefault(lock if name in LOCK else attribute.flag, {})[attribute.param] = value
    return groups


def _accepted(client: S3Client, bucket: str, key_hint: str, params: Mapping[str, str]) -> bool:
    return _refusal(client, bucket, key_hint, params) is None


def _refusal(client: S3Client, bucket: str, key_hint: str, params: Mapping[str, str]) -> str | None:
    """Why the store refuses a multipart upload with ``params`` (None: it took it; the upload
    is aborted at once)."""
    key = new_probe_key(key_hint)
    try:
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, **params)["UploadId"]
    except bex.ClientError as exc:
        return describe(exc)
    except bex.BotoCoreError:
        return None  # not the attributes' fault: the run will say what is wrong
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except (bex.ClientError, bex.BotoCoreError):
        pass
    return None
