"""Reading S3's answers to object writes: success, or which kind of failure (no I/O)."""

from __future__ import annotations

from datetime import datetime

from bulkup.transport.failures import PartFailed

# Failures no other request can escape: stop the whole run.
FATAL_CODES = {
    "InvalidAccessKeyId": "the access key is not known to the server (wrong credentials)",
    "SignatureDoesNotMatch": "the server rejected the request signature (wrong secret key?)",
    "ExpiredToken": "the session token has expired",
    "InvalidToken": "the session token is invalid",
    "AccessDenied": "access denied",
    "NoSuchBucket": "the bucket does not exist",
    "AllAccessDisabled": "all access to this object has been disabled",
    "AuthorizationHeaderMalformed": "authorization header malformed (wrong region?)",
    "PermanentRedirect": "the bucket is in another region or endpoint",
}
RETRYABLE_CODES = {
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "OperationAborted",
    "Throttling",
    "RequestLimitExceeded",
}
# The store is asked too much, or is not (fully) there: the whole run slows down. A failure's
# code is S3's error code, the HTTP status when there is none, or "connection".
THROTTLING_CODES = {
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "RequestThrottled",
    "429",
    "connection",
}
# The store found the body does not match its checksum: corrupted on the way, most likely.
# The part is read and checked again, then sent again.
DIGEST_CODES = {"BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch"}


def error_code_and_message(body: bytes) -> tuple[str, str]:
    """The <Code> and <Message> of an S3 error document ('' when absent)."""
    import xml.etree.ElementTree as ET  # only an error has a document to read

    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "", ""
    return (root.findtext("Code") or "").strip(), (root.findtext("Message") or "").strip()


def failure_from_response(status: int, body: bytes) -> PartFailed:
    """Classify a non-2xx answer to PutObject/UploadPart."""
    code, message = error_code_and_message(body)
    if code == "RequestTimeTooSkewed":  # every request would be refused the same way
        return PartFailed(f"RequestTimeTooSkewed: {clock_skew_words(body)}", retryable=False, fatal=True, code=code)
    if code in FATAL_CODES:
        return PartFailed(f"{code}: {FATAL_CODES[code]}", retryable=False, fatal=True, code=code)
    if code == "" and status in (401, 403):
        return PartFailed(f"HTTP {status}: access denied", retryable=False, fatal=True, code=str(status))
    detail = f"{code or 'HTTP ' + str(status)}: {message or 'no message'}"
    retryable = status >= 500 or code in RETRYABLE_CODES or code in DIGEST_CODES or status in (408, 429)
    return PartFailed(detail, retryable=retryable, code=code or str(status))


def slows_the_run(code: str) -> bool:
    """Whether a failure with this code means the store wants fewer requests (or is down)."""
    return code in THROTTLING_CODES or (code.isdigit() and int(code) >= 500)


def clock_skew_words(body: bytes) -> str:
    """How far this machine's clock is from the store's, from S3's RequestTimeTooSkewed."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(body)
        sent = datetime.strptime(root.findtext("RequestTime") or "", "%Y%m%dT%H%M%SZ")
        server = datetime.strptime((root.findtext("ServerTime") or "").replace("Z", ""), "%Y-%m-%dT%H:%M:%S")
    except (ET.ParseError, ValueError):
        return "this machine's clock is too far from the store's (set it right, e.g. with NTP)"
    skew = (sent - server).total_seconds()
    minutes, seconds = divmod(int(abs(skew)), 60)
    amount = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    side = "behind" if skew < 0 else "ahead of"
    return f"this machine's clock is {amount} {side} the store's (set it right, e.g. with NTP)"


def etag_of(headers: dict[str, str]) -> str:
    """The ETag header of a successful write (quotes kept, as Complete wants them)."""
    etag = headers.get("etag", "")
    if not etag:
        raise PartFailed("server accepted the part but sent no ETag", retryable=True)
    return etag
