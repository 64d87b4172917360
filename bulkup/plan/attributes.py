"""Object attributes: the one table of them (``ATTRIBUTES``), and how each is checked and put
in the form S3's headers take.

An attribute is declared once, here: the option that sets it (``--cache-control``; the
same name is the field of ``UploadOptions`` and of a manifest line), its request header on
PutObject, its parameter of CreateMultipartUpload (the key HeadObject answers it under),
how its value is checked, and how an uploaded object is read back to show the store kept
it. The options, the manifest reader, the request headers and the check after a run are all
made from this table: adding an attribute is one entry here (and its test).

Each check raises ``ValueError`` with a one-line reason naming the option.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode

CANNED_ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
)
LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
LEGAL_HOLD = ("ON", "OFF")
MAX_TAGS = 10  # S3's limits on object tags
MAX_TAG_KEY, MAX_TAG_VALUE = 128, 256


def header_value(option: str, value: str) -> str:
    """``value`` if it can travel as an HTTP header value (printable ASCII, no line breaks)."""
    if not value.isascii() or not value.isprintable():
        raise ValueError(
            f"{option} {value!r}: must be printable ASCII (encode other characters, "
            "e.g. filename*=UTF-8''... in Content-Disposition)"
        )
    return value


def when(option: str, text: str) -> dt.datetime:
    """A moment given as ISO 8601 (``2027-01-31``, ``2027-01-31T12:00:00Z``) or as an HTTP
    date (``Sun, 31 Jan 2027 12:00:00 GMT``); without a zone, UTC."""
    import email.utils  # ~10 ms to import: only for the dates of a few attributes

    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise ValueError(f"{option} {text!r}: not a date (use ISO 8601, e.g. 2027-01-31T12:00:00Z)") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    try:
        moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{option} {text!r}: out of range (after the year 9999 in UTC)") from None
    return moment


def http_date(option: str, text: str) -> str:
    """The ``Expires`` header's form of a date."""
    import email.utils

    return email.utils.format_datetime(when(option, text).astimezone(dt.UTC), usegmt=True)


def retain_until(text: str, now: dt.datetime | None = None) -> str:
    """``--object-lock-retain-until`` as S3 takes it (ISO 8601, UTC); it must be in the future."""
    moment = when("--object-lock-retain-until", text).astimezone(dt.UTC)
    if moment <= (now or dt.datetime.now(dt.UTC)):
        raise ValueError(f"--object-lock-retain-until {text!r}: is not in the future")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def tagging(text: str) -> str:
    """``--tags k=v&k2=v2`` (URL-encoded as the AWS CLI takes it) as the x-amz-tagging value."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise ValueError(f"--tags {text!r}: expected key=value pairs joined by '&'") from None
    keys = [k for k, _ in pairs]
    if len(pairs) > MAX_TAGS:
        raise ValueError(f"--tags: {len(pairs)} tags, S3 allows at most {MAX_TAGS} an object")
    if len(set(keys)) != len(keys):
        raise ValueError(f"--tags {text!r}: a key is given twice")
    for key, value in pairs:
        if not 0 < len(key) <= MAX_TAG_KEY or len(value) > MAX_TAG_VALUE:
            raise ValueError(
                f"--tags: tag {key!r}: keys take 1-{MAX_TAG_KEY} characters, values at most {MAX_TAG_VALUE}"
            )
    return urlencode(pairs, quote_via=quote, safe="")


def choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{option} {value!r}: choose from {', '.join(allowed)}")
    return value


def _header(option: str, text: str) -> str:
    return header_value(option, text)


def _choice(allowed: tuple[str, ...]) -> Callable[[str, str], str]:
    return lambda option, text: choice(option, text, allowed)


@dataclass(frozen=True)
class Attribute:
    """One object attribute, everything that names, checks, sends and reads it back."""

    name: str  # its key among an object's settings (and in a migration's journal)
    option: str  # the UploadOptions field and the manifest line's field
    header: str  # the PutObject request header
    param: str  # the CreateMultipartUpload parameter, and HeadObject's answer key
    check: Callable[[str, str], str]  # (flag, text) -> the value S3 takes; ValueError: why not
    read_back: str  # how an uploaded object shows it: head, tags, retention, legal_hold, "" (not)
    help: str
    metavar: str = "VALUE"
    choices: tuple[str, ...] | None = None
    in_manifest: bool = True  # a manifest line may give its own value

    @property
    def flag(self) -> str:
        return "--" + self.option.replace("_", "-")


SSE = ("AES256", "aws:kms", "aws:kms:dsse")

ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute(
        "storage_class",
        "storage_class",
        "x-amz-storage-class",
        "StorageClass",
        _header,
        "",
        "storage class (e.g. STANDARD_IA, GLACIER_IR; default: the bucket's)",
        metavar="CLASS",
    ),
    Attribute(
        "sse",
        "sse",
        "x-amz-server-side-encryption",
        "ServerSideEncryption",
        _choice(SSE),
        "",
        "server-side encryption",
        choices=SSE,
        in_manifest=False,
    ),
    Attribute(
        "sse_kms_key_id",
        "sse_kms_key_id",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "SSEKMSKeyId",
        _header,
        "",
        "the KMS key of --sse aws:kms",
        metavar="KEY_ID",
        in_manifest=False,
    ),
    Attribute(
        "cache_control", "cache_control", "Cache-Control", "CacheControl", _header, "head", "the Cache-Control header"
    ),
    Attribute(
        "content_encoding",
        "content_encoding",
        "Content-Encoding",
        "ContentEncoding",
        _header,
        "head",
        "the Content-Encoding header (e.g. gzip)",
    ),
    Attribute(
        "content_disposition",
        "content_disposition",
        "Content-Disposition",
        "ContentDisposition",
        _header,
        "head",
        "the Content-Disposition header",
    ),
    Attribute(
        "content_language",
        "content_language",
        "Content-Language",
        "ContentLanguage",
        _header,
        "head",
        "the Content-Language header",
    ),
    Attribute(
        "expires",
        "expires",
        "Expires",
        "Expires",
        http_date,
        "head",
        "the Expires header (ISO 8601 or an HTTP date)",
        metavar="DATE",
    ),
    Attribute(
        "acl",
        "acl",
        "x-amz-acl",
        "ACL",
        _choice(CANNED_ACLS),
        "",
        "a canned ACL (not read back: stores rewrite grants)",
        choices=CANNED_ACLS,
    ),
    Attribute(
        "tagging",
        "tags",
        "x-amz-tagging",
        "Tagging",
        lambda option, text: tagging(text),
        "tags",
        "object tags, URL-encoded (x-amz-tagging)",
        metavar="K=V&K2=V2",
    ),
    Attribute(
        "object_lock_mode",
        "object_lock_mode",
        "x-amz-object-lock-mode",
        "ObjectLockMode",
        _choice(LOCK_MODES),
        "retention",
        "Object Lock retention mode (with --object-lock-retain-until)",
        choices=LOCK_MODES,
        in_manifest=False,
    ),
    Attribute(
        "object_lock_retain_until",
        "object_lock_retain_until",
        "x-amz-object-lock-retain-until-date",
        "ObjectLockRetainUntilDate",
        lambda option, text: retain_until(text),
        "",
        "Object Lock retention date: ISO 8601, in the future",
        metavar="DATE",
        in_manifest=False,
    ),
    Attribute(
        "object_lock_legal_hold",
        "object_lock_legal_hold",
        "x-amz-object-lock-legal-hold",
        "ObjectLockLegalHoldStatus",
        _choice(LEGAL_HOLD),
        "legal_hold",
        "Object Lock legal hold",
        choices=LEGAL_HOLD,
        in_manifest=False,
    ),
)
BY_NAME = {a.name: a for a in ATTRIBUTES}


def merged(base: tuple[tuple[str, str], ...], own: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """``base``'s attributes with ``own`` (name -> value) on top, in the table's order."""
    values = {**dict(base), **own}
    return tuple((a.name, values[a.name]) for a in ATTRIBUTES if a.name in values)
