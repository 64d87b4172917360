"""Object attributes as users type them, checked and put in the form S3's headers take.

Each function raises ``ValueError`` with a one-line reason naming the option.
"""

from __future__ import annotations

import datetime as dt
import email.utils
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
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise ValueError(f"{option} {text!r}: not a date (use ISO 8601, e.g. 2027-01-31T12:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def http_date(option: str, text: str) -> str:
    """The ``Expires`` header's form of a date."""
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
