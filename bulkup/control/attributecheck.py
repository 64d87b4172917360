"""Ask the store, before any data is sent, whether it takes the run's object attributes.

A store that refuses an attribute (Object Lock on a bucket without it, ACLs on a bucket that
enforces its owner, tags without the permission, an unknown storage class) would refuse
every object the same way. One CreateMultipartUpload with all of them, aborted at once,
finds that out; if it is refused, one per attribute names the one at fault, and the run ends
with one line before anything is sent. Probe keys carry ``PROBE_MARK`` like the checksum
probe's, so ``bulkup cleanup`` finds one a killed run left.
"""
from __future__ import annotations

import secrets

import botocore.exceptions as bex

from bulkup.control.s3client import describe
from bulkup.control.verification import PROBE_MARK
from bulkup.errors import FatalRemoteError
from bulkup.plan.jobs import ATTRIBUTE_OPTIONS, ObjectSettings, attribute_params

LOCK = ("object_lock_mode", "object_lock_retain_until", "object_lock_legal_hold")


class AttributeRefused(FatalRemoteError):
    """The store refuses an object attribute the run asks for."""


def check_attributes(client, bucket: str, key_hint: str, settings: ObjectSettings, where: str) -> None:
    """Raise AttributeRefused, naming the option, if the store refuses an attribute of
    ``settings``; nothing if it takes them all (or none is asked for)."""
    groups = _groups(settings)
    if not groups or _accepted(client, bucket, key_hint, {k: v for g in groups.values() for k, v in g.items()}):
        return
    for options, params in groups.items():
        refusal = _refusal(client, bucket, key_hint, params)
        if refusal is not None:
            hint = f" (is Object Lock enabled on bucket {bucket}?)" if "object-lock" in options else ""
            raise AttributeRefused(f"the store at {where} refuses {options}{hint}: {refusal}; nothing was sent")


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
