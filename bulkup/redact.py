"""Keeping secrets out of logs: signatures, tokens, secret keys and presigned queries."""

from __future__ import annotations

import logging
import re

_PATTERNS = [
    (re.compile(r"(Signature=)[0-9a-fA-F]+"), r"\1<redacted>"),
    (re.compile(r"(X-Amz-Signature=)[^&\s'\"]+", re.I), r"\1<redacted>"),
    (re.compile(r"(X-Amz-Security-Token=)[^&\s'\"]+", re.I), r"\1<redacted>"),
    (re.compile(r"(X-Amz-Credential=)[^&\s'\"]+", re.I), r"\1<redacted>"),
    (re.compile(r"""(['"]?x-amz-security-token['"]?\s*[:=]\s*b?['"]?)[^'",\s}]+""", re.I), r"\1<redacted>"),
    (re.compile(r"""(['"]?(?:aws_)?secret(?:_access)?_key['"]?\s*[:=]\s*b?['"]?)[^'",\s}]+""", re.I), r"\1<redacted>"),
    # STS answers (AssumeRole, AssumeRoleWithWebIdentity: XML) and the SSO portal's (JSON)
    (re.compile(r"(<(SecretAccessKey|SessionToken|Token)>)[^<]*(</\2>)"), r"\1<redacted>\3"),
    (
        re.compile(
            r"""(['"\\]*(?:secretAccessKey|sessionToken|accessToken|SecretAccessKey|SessionToken|"""
            r"""WebIdentityToken)['"\\]*\s*[:=]\s*b?['"\\]*)[^'"\\,&\s}]+"""
        ),
        r"\1<redacted>",
    ),
    (re.compile(r"(WebIdentityToken=)[^&\s'\"]+"), r"\1<redacted>"),
    (re.compile(r"""(x-amz-sso_bearer_token['"]?\s*:\s*b?['"])[^'"]+""", re.I), r"\1<redacted>"),
    (re.compile(r"(Signature:\s*)[0-9a-fA-F]{64}"), r"\1<redacted>"),  # botocore's signing log
]


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with signatures, tokens and the given secret strings replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


class RedactingFilter(logging.Filter):
    """Rewrites every log record through ``redact`` before any handler formats it."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def install(secrets: tuple[str, ...] = ()) -> None:
    """Put the filter on every handler of the root logger."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(secrets))
