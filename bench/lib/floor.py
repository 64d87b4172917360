"""The physical floor of a TLS upload's client CPU: AES-GCM and memory copy rates here."""

from __future__ import annotations

import os
import re
import subprocess
import time

GiB = 1 << 30


def aes_gcm_rate(cipher: str, seconds: int = 2) -> float | None:
    """Bytes per second one core encrypts with ``openssl speed -evp`` at 16 KiB blocks."""
    try:
        out = subprocess.run(
            ["openssl", "speed", "-evp", cipher, "-bytes", "16384", "-seconds", str(seconds)],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(rf"{re.escape(cipher)}\s+([\d.]+)k", out, re.IGNORECASE)
    return float(match.group(1)) * 1000 if match else None


def memcpy_rate(size: int = 256 << 20, rounds: int = 8) -> float:
    """Bytes per second one core copies between two buffers (page-cache-sized)."""
    source, target = bytearray(os.urandom(1 << 20) * (size >> 20)), bytearray(size)
    view = memoryview(target)
    started = time.perf_counter()
    for _ in range(rounds):
        view[:] = source
    return size * rounds / (time.perf_counter() - started)


def floors() -> dict[str, float | None]:
    """CPU-seconds per GiB: encrypting with AES-128/256-GCM, and copying memory once."""
    result: dict[str, float | None] = {}
    for cipher in ("aes-128-gcm", "aes-256-gcm"):
        rate = aes_gcm_rate(cipher)
        result[cipher] = GiB / rate if rate else None
    result["memcpy"] = GiB / memcpy_rate()
    return result
