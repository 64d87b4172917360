"""Ask the store, before any data is sent, whether it takes the run's object attributes, and
afterwards whether it kept them.

A store that refuses an attribute (Object Lock on a bucket without it, ACLs on a bucket that
enforces its owner, tags without the permission, an unknown storage class) would refuse
every object the same way. One CreateMultipartUpload with all of them, aborted at once,
finds that out; if it is refused, one per attribute names the one at fault, and the run ends
with one line before anything is sent. Probe keys carry ``PROBE_MARK`` like the checksum
probe's, so ``bulkup cleanup`` finds one a killed run left.

A store may also take an attribute and drop it (rclone's server accepts tags and Object Lock
and keeps neither, and ignores If-None-Match). ``--no-overwrite`` is asked before anything
is sent: a probe object written twice, the second time conditionally, must be refused (the
probe object is deleted at once). The others are read back from one uploaded object after
the run (``confirm_attributes``); what is missing is named.
"""
from __future__ import annotations

import secrets

import botocore.exceptions as bex

from bulkup.control.s3client import describe, error_code
from bulkup.control.verification import PROBE_MARK
from bulkup.errors import FatalRemoteError
from bulkup.plan.jobs import ATTRIBUTE_OPTIONS, ObjectSettings, attribute_params

LOCK = ("object_lock_mode", "object_lock_retain_until", "object_lock_legal_hold")


class AttributeRefused(FatalRemoteError):
    """The store refuses an object attribute the run asks for."""


def check_attributes(client, bucket: str, key_hint: str, settings: ObjectSettings, where: str) -> None:
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


def check_no_overwrite(client, bucket: str, key_hint: str, where: str) -> None:
    """AttributeRefused if the store writes over an object despite If-None-Match: *."""
    key = f"{key_hint}{PROBE_MARK}{secrets.token_hex(6)}"
    try:
        client.put_object(Bucket=bucket, Key=key, Body=b"")
        try:
            client.put_object(Bucket=bucket, Key=key, Body=b"", IfNoneMatch="*")
        except bex.ClientError as exc:
            if error_code(exc) == "PreconditionFailed":
                return
            raise AttributeRefused(f"the store at {where} cannot tell whether a key is taken "
                                   f"({describe(exc)}): --no-overwrite cannot be kept; nothing was sent") from None
        raise AttributeRefused(f"the store at {where} ignores If-None-Match (a conditional write over an "
                               "object succeeded): --no-overwrite cannot be kept; nothing was sent")
    except bex.BotoCoreError:
        return                  # not the condition's fault: the run will say what is wrong
    finally:
        try:
            client.delete_object(Bucket=bucket, Key=key)
        except (bex.ClientError, bex.BotoCoreError):
            pass


MTIME_DROPPED = "--preserve-mtime (no x-amz-meta-mtime)"


def confirm_after_run(routes, result, settings: ObjectSettings) -> None:
    """Read one uploaded object's attributes back; note in ``result`` those the store did
    not keep (nothing is read if no attribute beyond the defaults was asked for)."""
    asked = [n for n in (*_HEADERS, *_READ_BACK) if getattr(settings, n)] or settings.preserve_mtime
    if not asked or result.sample is None:
        return
    bucket, key = result.sample
    result.attributes_missing = [f"the store at {routes[bucket].where} did not keep {what} on s3://{bucket}/{key}"
                                 for what in confirm_attributes(routes[bucket].client, bucket, key, settings)]


def confirm_attributes(client, bucket: str, key: str, settings: ObjectSettings) -> list[str]:
    """The options whose attribute the object at ``key`` does not have, each with what the
    store answered (an empty list: every one asked for is there)."""
    missing = []
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except (bex.ClientError, bex.BotoCoreError) as exc:
        return [f"every attribute (HeadObject: {describe(exc)})"]
    for name, param in _HEADERS.items():
        if getattr(settings, name) and head.get(param) is None:
            missing.append(f"{ATTRIBUTE_OPTIONS[name]} (HeadObject has no {param})")
    if settings.preserve_mtime and "mtime" not in head.get("Metadata", {}):
        missing.append(MTIME_DROPPED)
    for name, read in _READ_BACK.items():
        if getattr(settings, name):
            why = _read_back(client, bucket, key, read)
            if why:
                missing.append(f"{ATTRIBUTE_OPTIONS[name]} ({why})")
    return missing


def _read_back(client, bucket: str, key: str, read: str) -> str | None:
    """Why the object shows none of ``read`` (tags, retention, legal hold); None if it does."""
    call, field = {"tags": ("get_object_tagging", "TagSet"), "retention": ("get_object_retention", "Retention"),
                   "legal_hold": ("get_object_legal_hold", "LegalHold")}[read]
    try:
        answer = getattr(client, call)(Bucket=bucket, Key=key)
    except (bex.ClientError, bex.BotoCoreError) as exc:
        return f"{call}: {describe(exc)}"
    return None if answer.get(field) else f"{call} shows none"


_HEADERS = {"cache_control": "CacheControl", "content_encoding": "ContentEncoding",
            "content_disposition": "ContentDisposition", "content_language": "ContentLanguage",
            "expires": "Expires"}
_READ_BACK = {"tagging": "tags", "object_lock_mode": "retention", "object_lock_legal_hold": "legal_hold"}


def _groups(settings: ObjectSettings) -> dict[str, dict[str, str]]:
    """The attributes asked for, by the options that set them (a lock's fields together)."""
    params = attribute_params(settings)
    groups: dict[str, dict[str, str]] = {}
    for name, (param, value) in params.items():
        label = "/".join(ATTRIBUTE_OPTIONS[n] for n in LOCK if n in params) if name in LOCK else ATTRIBUTE_OPTIONS[name]
        groups.setdefault(label, {})[param] = value
    return groups


def _accepted(client, bucket: str, key_hint: str, params: dict) -> bool:
    return _refusal(client, bucket, key_hint, params) is None


def _refusal(client, bucket: str, key_hint: str, params: dict) -> str | None:
    """Why the store refuses a multipart upload with ``params`` (None: it took it; the upload
    is aborted at once)."""
    key = f"{key_hint}{PROBE_MARK}{secrets.token_hex(6)}"
    try:
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, **params)["UploadId"]
    except bex.ClientError as exc:
        return describe(exc)
    except bex.BotoCoreError:
        return None             # not the attributes' fault: the run will say what is wrong
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except (bex.ClientError, bex.BotoCoreError):
        pass
    return None
