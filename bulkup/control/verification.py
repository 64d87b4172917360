"""What a store verifies, asked of the store itself, and which checksum a run sends.

A store that ignores a checksum looks exactly like one that checked it when the upload
succeeds, so bulkup asks, with a throwaway multipart upload that is aborted at once (no
object is ever created): a part with the right flexible checksum (does the store echo it?),
one with a wrong one (does it refuse it?), and one with a wrong ``Content-MD5`` (does it
refuse that?). AWS S3 echoes what it verified; stores that do not echo did not verify,
whatever they stored.

The probe's key is its own (``probekeys``): it aborts only the upload it made, so runs that
probe one prefix at once do not disturb each other, nor a user's upload. A complete answer is
remembered for a day per endpoint and bucket (``storeanswers``): most runs ask nothing, and
say the same about their checksum whether the answer was remembered or just given.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from bulkup.control import botoerrors as bex
from bulkup.control.cleanup import clear_stale_probe_uploads
from bulkup.control.probekeys import new_probe_key  # PROBE_MARK: also importable from here
from bulkup.control.s3client import S3Client, describe, error_code
from bulkup.control.storeanswers import recall, remember
from bulkup.errors import FatalRemoteError
from bulkup.plan.checksums import AUTO, ChecksumAlgorithm, get_algorithm
from bulkup.transport.responses import DIGEST_CODES, FATAL_CODES

PROBE_BODY = b"bulkup asks which checksums this store verifies\n"
log = logging.getLogger("bulkup")


class Support(enum.Enum):
    """How a store treats one kind of checksum."""

    VERIFIED = "verified"  # refuses a wrong value (and, flexible: echoes the right one)
    NOT_CONFIRMED = "not confirmed"  # accepts it without saying it checked (no echo)
    ECHO_DIFFERS = "echo differs"  # echoed another value than the one sent
    UNCHECKED = "not verified"  # accepted a wrong value
    REFUSED = "refused"  # refuses requests carrying it
    UNKNOWN = "unknown"  # could not be asked


@dataclass(frozen=True, kw_only=True)
class StoreChecks:
    """What one store (bucket) verifies, as it answered the probe."""

    where: str  # host:port
    algorithm: str  # the flexible checksum asked about
    flexible: Support
    md5: Support
    etag_is_md5: bool = False  # its ETag for a part is the MD5 of the body
    error: str = ""  # why it could not be asked

    def verifies(self, algorithm: ChecksumAlgorithm) -> bool:
        if algorithm.flexible:
            return self.flexible is Support.VERIFIED
        return algorithm.name == "md5" and self.md5 is Support.VERIFIED

    def flexible_words(self) -> str:
        """How the store treats the flexible checksum, in a few words."""
        name = f"x-amz-checksum-{self.algorithm}"
        return {
            Support.VERIFIED: f"verifies {self.algorithm} (it echoes the right value and refuses a wrong one)",
            Support.NOT_CONFIRMED: f"does not confirm {name} (no echo)",
            Support.ECHO_DIFFERS: f"echoes another {self.algorithm} than it was sent",
            Support.UNCHECKED: f"echoes {name} but accepts a wrong one",
            Support.REFUSED: "refuses x-amz-checksum-* headers",
            Support.UNKNOWN: f"could not be asked about {name}",
        }[self.flexible]


@dataclass(frozen=True, kw_only=True)
class ChecksumChoice:
    """The checksum a run sends to one store, and the one line that says why."""

    algorithm: ChecksumAlgorithm
    verified: bool
    notice: str
    warning: bool


def probe_store(
    client: S3Client, bucket: str, key_hint: str, algorithm: ChecksumAlgorithm, where: str, *, remembered: bool = True
) -> StoreChecks:
    """What the store verifies: as it answered within the last day (``remembered``), else
    asked now (see the module's docstring); a complete answer is remembered. Never leaves an
    object."""
    known = recalled_checks(where, bucket, algorithm) if remembered else None
    if known is not None:
        return known
    checks = _ask(client, bucket, key_hint, algorithm, where)
    if not checks.error:
        remember(_question(algorithm), where, bucket, _answer(checks))
    return checks


def _ask(client: S3Client, bucket: str, key_hint: str, algorithm: ChecksumAlgorithm, where: str) -> StoreChecks:
    """The probe itself: one multipart upload of its own, aborted at once."""
    key = new_probe_key(key_hint)
    flexible, md5, etag_is_md5 = Support.UNKNOWN, Support.UNKNOWN, False
    upload_id = None
    try:
        clear_stale_probe_uploads(client, bucket, key_hint)
        upload_id, flexible = _create(client, bucket, key, algorithm)
        if flexible is Support.UNKNOWN:
            flexible, etag_is_md5 = _right_flexible(client, bucket, key, upload_id, algorithm)
        if flexible is Support.VERIFIED:
            flexible = _wrong_flexible(client, bucket, key, upload_id, algorithm)
        md5 = _wrong_md5(client, bucket, key, upload_id, algorithm, with_flexible=flexible is not Support.REFUSED)
    except (bex.ClientError, bex.BotoCoreError) as exc:
        if isinstance(exc, bex.ClientError) and error_code(exc) in FATAL_CODES:
            raise FatalRemoteError(describe(exc)) from None  # it could not upload either
        return StoreChecks(
            where=where,
            algorithm=algorithm.name,
            flexible=flexible,
            md5=md5,
            etag_is_md5=etag_is_md5,
            error=describe(exc),
        )
    finally:
        if upload_id is not None:
            try:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except (bex.ClientError, bex.BotoCoreError):
                pass
    return StoreChecks(where=where, algorithm=algorithm.name, flexible=flexible, md5=md5, etag_is_md5=etag_is_md5)


def _answer(checks: StoreChecks) -> dict[str, str | bool]:
    """``checks`` as plain data to remember (the address and algorithm are in the question)."""
    return {"flexible": checks.flexible.name, "md5": checks.md5.name, "etag_is_md5": checks.etag_is_md5}


def _question(algorithm: ChecksumAlgorithm) -> str:
    return f"checksums {algorithm.name}"


def recalled_checks(where: str, bucket: str, algorithm: ChecksumAlgorithm) -> StoreChecks | None:
    """What the store at ``where`` verifies (``algorithm``: the flexible checksum asked
    about), as it answered within the last day (None: it did not, or not in a way bulkup
    can read)."""
    answer = recall(_question(algorithm), where, bucket)
    if answer is None:
        return None
    try:
        checks = StoreChecks(
            where=where,
            algorithm=algorithm.name,
            flexible=Support[answer["flexible"]],
            md5=Support[answer["md5"]],
            etag_is_md5=answer["etag_is_md5"] is True,
        )
    except (KeyError, TypeError):
        log.debug("store answers: what %s verifies cannot be read: asking it", where)
        return None
    log.debug("checksums: what %s verifies (bucket %s) as it answered within the last day", where, bucket)
    return checks


def _create(client: S3Client, bucket: str, key: str, algorithm: ChecksumAlgorithm) -> tuple[str, Support]:
    """A probe upload that expects ``algorithm``; a plain one if the store refuses that."""
    try:
        params = {"ChecksumAlgorithm": algorithm.s3_name}
        if algorithm.full_object:
            params["ChecksumType"] = "FULL_OBJECT"
        return client.create_multipart_upload(Bucket=bucket, Key=key, **params)["UploadId"], Support.UNKNOWN
    except bex.ClientError as exc:
        if _status(exc) not in (400, 501) or error_code(exc) in FATAL_CODES:
            raise
    return client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"], Support.REFUSED


def _right_flexible(
    client: S3Client, bucket: str, key: str, upload_id: str, algorithm: ChecksumAlgorithm
) -> tuple[Support, bool]:
    value = algorithm.text(PROBE_BODY)
    try:
        answer = client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=1,
            Body=PROBE_BODY,
            **{_flexible_key(algorithm): value},
        )
    except bex.ClientError as exc:
        if _status(exc) in (400, 501) and error_code(exc) not in FATAL_CODES:
            return Support.REFUSED, False
        raise
    etag_is_md5 = answer.get("ETag", "").strip('"') == hashlib.md5(PROBE_BODY).hexdigest()
    echo = _echo(answer, algorithm)
    if echo is None:
        return Support.NOT_CONFIRMED, etag_is_md5
    return (Support.VERIFIED if echo == value else Support.ECHO_DIFFERS), etag_is_md5


def _wrong_flexible(client: S3Client, bucket: str, key: str, upload_id: str, algorithm: ChecksumAlgorithm) -> Support:
    try:
        client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=2,
            Body=PROBE_BODY,
            **{_flexible_key(algorithm): algorithm.text(PROBE_BODY + b"?")},
        )
    except bex.ClientError as exc:
        if _refused_digest(exc):
            return Support.VERIFIED
        raise
    return Support.UNCHECKED


def _wrong_md5(
    client: S3Client, bucket: str, key: str, upload_id: str, algorithm: ChecksumAlgorithm, with_flexible: bool
) -> Support:
    params = {_flexible_key(algorithm): algorithm.text(PROBE_BODY)} if with_flexible else {}
    wrong = base64.b64encode(hashlib.md5(PROBE_BODY + b"?").digest()).decode()
    try:
        client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=3, Body=PROBE_BODY, ContentMD5=wrong, **params
        )
    except bex.ClientError as exc:
        if _refused_digest(exc):
            return Support.VERIFIED
        raise
    return Support.UNCHECKED


def _refused_digest(exc: bex.ClientError) -> bool:
    """The store refused a body whose checksum did not match (not a header it refuses)."""
    return error_code(exc) in DIGEST_CODES or (
        error_code(exc) == "InvalidRequest" and "checksum" in str(exc).lower() and "mismatch" in str(exc).lower()
    )


def _echo(answer: dict[str, Any], algorithm: ChecksumAlgorithm) -> str | None:
    headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    assert algorithm.header is not None  # a flexible checksum's header
    echo: str | None = headers.get(algorithm.header.lower()) or answer.get(_flexible_key(algorithm))
    return echo


def _flexible_key(algorithm: ChecksumAlgorithm) -> str:
    """The parameter that carries ``algorithm`` (the probe asks only about flexible checksums)."""
    assert algorithm.complete_key is not None, f"{algorithm.name} is not a flexible checksum"
    return algorithm.complete_key


def _status(exc: bex.ClientError) -> int | None:
    status: int | None = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status


def choose_checksum(requested: str, checks: StoreChecks | None) -> ChecksumChoice:
    """The checksum to send to a store given what it verifies (``requested``: auto or a
    name; ``checks`` may be None only for none)."""
    if requested == "none":
        return ChecksumChoice(
            algorithm=get_algorithm("none"),
            verified=False,
            warning=True,
            notice="checksums: --checksum none: nothing will be verified by the store",
        )
    assert checks is not None, "the store is asked for every checksum but none"
    where = checks.where
    if checks.error:
        algorithm = get_algorithm("crc64nvme" if requested == AUTO else requested)
        return ChecksumChoice(
            algorithm=algorithm,
            verified=False,
            warning=True,
            notice=(
                f"checksums: could not ask {where} what it verifies ({checks.error}); sending "
                f"{algorithm.name}, and an object counts as verified only where the store echoes it"
            ),
        )
    if requested != AUTO:
        return _explicit(get_algorithm(requested), checks)
    flexible = get_algorithm(checks.algorithm)
    if checks.verifies(flexible):
        return ChecksumChoice(
            algorithm=flexible,
            verified=True,
            warning=False,
            notice=f"checksums: {where} {checks.flexible_words()}: using it",
        )
    md5 = get_algorithm("md5")
    if checks.verifies(md5):
        return ChecksumChoice(
            algorithm=md5,
            verified=True,
            warning=False,
            notice=(f"checksums: {where} {checks.flexible_words()} but refuses a wrong Content-MD5: using md5"),
        )
    witness = "; each part's ETag is compared with its MD5" if checks.etag_is_md5 else ""
    return ChecksumChoice(
        algorithm=md5,
        verified=False,
        warning=True,
        notice=(
            f"checksums: {where} {checks.flexible_words()} and accepts a wrong Content-MD5: uploads "
            f"will not be verified by the store{witness}"
        ),
    )


def _explicit(algorithm: ChecksumAlgorithm, checks: StoreChecks) -> ChecksumChoice:
    if checks.verifies(algorithm):
        return ChecksumChoice(
            algorithm=algorithm,
            verified=True,
            warning=False,
            notice=f"checksums: {checks.where} verifies {algorithm.name}: using it",
        )
    why = checks.flexible_words() if algorithm.flexible else "accepts a wrong Content-MD5"
    better = " (--checksum auto would use md5, which it verifies)" if checks.verifies(get_algorithm("md5")) else ""
    return ChecksumChoice(
        algorithm=algorithm,
        verified=False,
        warning=True,
        notice=(
            f"checksums: {checks.where} {why}: --checksum {algorithm.name} uploads will not be "
            f"verified by the store{better}"
        ),
    )


def verification_label(
    algorithm: ChecksumAlgorithm, checks: StoreChecks | None, multipart: bool, echoed_all: bool
) -> str:
    """How the store verified one object, in the words every output uses."""
    if algorithm.name == "none":
        return "unverified (--checksum none)"
    if algorithm.flexible:
        store_verifies = checks is not None and checks.verifies(algorithm)
        if echoed_all and (store_verifies or checks is None or checks.error):
            whole = " full-object" if multipart and algorithm.full_object else ""
            return f"server: {algorithm.name}{whole}"
        if store_verifies:
            return f"unverified (the store did not confirm every part's {algorithm.name})"
        return f"unverified (store ignores {algorithm.name})"
    if checks is not None and checks.verifies(algorithm):
        return "server: md5 per part" if multipart else "server: md5"
    if checks is not None and checks.flexible is not Support.VERIFIED:
        return "unverified (store ignores checksums)"
    return "unverified (store ignores Content-MD5)"
