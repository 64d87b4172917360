"""AWS Signature Version 4 for S3 object writes, with no I/O.

The signing key depends only on the secret, the day and the region, so it is derived once
a day per region; a request then costs one SHA-256 of its canonical form and one HMAC.
Only what the workers send is covered: a method, an already percent-encoded target with an
optional query, and headers the caller chose, every one of them signed. The payload is
``UNSIGNED-PAYLOAD``: bodies are covered by the checksum header, which is signed.

What the requests of a worker share is worked out once, not per request: the X-Amz-Date
string, once a second; the HMAC of the day's signing key, already fed the key, once a day
per region; and, per list of header names, the sorted lower-case names and a template of the
canonical request to fill with the values. A PutObject's
signature costs about 4.5 µs of CPU (8 when all of it was worked out per request; botocore's
S3SigV4Auth, about 85).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from operator import itemgetter

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

_OURS = ("X-Amz-Date", "X-Amz-Content-SHA256")  # headers whose values the signer sets, trimmed


class _Day:
    """A day's signing key for one region, ready to sign with: an HMAC-SHA256 already fed
    the key, copied per signature."""

    __slots__ = ("scope", "credential", "_keyed")

    def __init__(self, key: bytes, day: str, region: str, service: str, access_key: str) -> None:
        self.scope = f"{day}/{region}/{service}/aws4_request"
        self.credential = f"{ALGORITHM} Credential={access_key}/{self.scope}, SignedHeaders="
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def signature(self, message: bytes) -> str:
        mac = self._keyed.copy()
        mac.update(message)
        return mac.hexdigest()


class _Layout:
    """How requests with one list of header names are signed: their values in the order of
    the names lower-cased and sorted, the values SigV4 might have to trim (not those of the
    ``trimmed`` names), and the canonical request as a %-template to fill with the method,
    path, query and the values."""

    __slots__ = ("values", "unsure", "template", "names")

    def __init__(self, names: tuple[str, ...], trimmed: frozenset[str]) -> None:
        order = sorted(names, key=str.lower)
        self.values = itemgetter(*order)  # at least two names: the date and the payload marker
        # The date and the marker, always there and never trimmed, keep the result a tuple.
        self.unsure = itemgetter(*(name for name in order if name not in trimmed), *_OURS)
        self.names = ";".join(name.lower() for name in order)
        lines = "".join(f"{name.lower().replace('%', '%%')}:%s\n" for name in order)
        self.template = f"%s\n%s\n%s\n{lines}\n"
        self.template += f"{self.names.replace('%', '%%')}\n{UNSIGNED_PAYLOAD}"


class SigV4Signer:
    """Signs requests for one service with one access key (and session token), in any region.

    Safe to share between threads: its caches are replaced whole, never changed in place."""

    def __init__(self, access_key: str, secret_key: str, token: str | None, service: str = "s3") -> None:
        self.access_key = access_key
        self._secret_key = secret_key
        self._token = token
        self.service = service
        self._days: dict[tuple[str, str], _Day] = {}  # (day, region) -> its signing key
        self._layouts: dict[tuple[str, ...], _Layout | None] = {}  # header names -> layout (None: no shortcut)
        self._stamp = (-1, "")  # (second, its X-Amz-Date)
        # Headers with values known to need no trimming: a session token (some 1,000 bytes)
        # is checked once, not per request.
        self._trimmed = frozenset(_OURS) | ({"X-Amz-Security-Token"} if token and _plain((token,)) else set())

    def signing_key(self, day: str, region: str) -> bytes:
        """HMAC chain of secret, day (YYYYMMDD), region, service and "aws4_request"."""
        key = f"AWS4{self._secret_key}".encode()
        for step in (day, region, self.service, "aws4_request"):
            key = hmac.new(key, step.encode(), hashlib.sha256).digest()
        return key

    def sign(
        self, method: str, target: str, headers: dict[str, str], region: str, now: float | None = None
    ) -> dict[str, str]:
        """``headers`` (which must include Host) plus X-Amz-Date, X-Amz-Content-SHA256, the
        session token if any, and Authorization over all of them."""
        second = math.floor(time.time() if now is None else now)
        cached_second, stamp = self._stamp
        if second != cached_second:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            self._stamp = (second, stamp)
        signed = dict(headers)
        signed["X-Amz-Date"] = stamp
        signed["X-Amz-Content-SHA256"] = UNSIGNED_PAYLOAD
        if self._token:
            signed["X-Amz-Security-Token"] = self._token
        day = self._day(stamp[:8], region)
        names = tuple(signed)
        try:
            layout = self._layouts[names]
        except KeyError:
            layout = self._layout(names)
        if layout is not None and _plain(layout.unsure(signed)):
            path, _, query = target.partition("?")
            query = canonical_query(query) if query else ""
            canonical = layout.template % (method, path, query, *layout.values(signed))
            signed_names = layout.names
        else:
            canonical, signed_names = canonical_request(method, target, signed, UNSIGNED_PAYLOAD)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        signature = day.signature(f"{ALGORITHM}\n{stamp}\n{day.scope}\n{digest}".encode())
        signed["Authorization"] = f"{day.credential}{signed_names}, Signature={signature}"
        return signed

    def _day(self, day: str, region: str) -> _Day:
        try:
            return self._days[day, region]
        except KeyError:
            pass
        found = _Day(self.signing_key(day, region), day, region, self.service, self.access_key)
        days = {} if len(self._days) >= 16 else dict(self._days)
        days[day, region] = found
        self._days = days
        return found

    def _layout(self, names: tuple[str, ...]) -> _Layout | None:
        """The layout of these names; None where two differ only in case (each is signed as
        a line of its own, as the general path does)."""
        layout = _Layout(names, self._trimmed) if len({name.lower() for name in names}) == len(names) else None
        layouts = {} if len(self._layouts) >= 64 else dict(self._layouts)
        layouts[names] = layout
        self._layouts = layouts
        return layout


def _plain(values: tuple[str, ...]) -> bool:
    """Whether SigV4's trimming (whitespace runs to one space, none at either end) leaves
    every value as it is: so it does the values joined by spaces, where a value's space at
    either end would make a run (an empty value too: it takes the general path)."""
    joined = " ".join(values)
    return " ".join(joined.split()) == joined


def canonical_request(method: str, target: str, headers: dict[str, str], payload_hash: str) -> tuple[str, str]:
    """The canonical request of SigV4 for S3 and the signed header names.

    ``target`` is the path as sent (S3 paths are encoded once, never normalized) with its
    query; query parameters are sorted by name, then value, as their encoded forms.
    """
    path, _, query = target.partition("?")
    lines = sorted((name.lower(), " ".join(value.split())) for name, value in headers.items())
    names = ";".join(name for name, _ in lines)
    header_block = "".join(f"{name}:{value}\n" for name, value in lines)
    query = canonical_query(query) if query else ""
    return f"{method}\n{path}\n{query}\n{header_block}\n{names}\n{payload_hash}", names


def canonical_query(query: str) -> str:
    """A query string as SigV4 signs it: its parameters, already percent-encoded, sorted by
    name and then value (a parameter with no ``=`` has an empty value)."""
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&"))
    return "&".join(f"{name}={value}" for name, value in pairs)
