"""The physical floor of a TLS upload's client CPU: AES-GCM and memory copy rates here."""

from __future__ import annotations

import os
import platform
import re
import ssl
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


def machine() -> str:
    """One line describing the machine the figures come from."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        flags = ", ".join(
            flag for flag in ("aes", "pclmulqdq", "avx2", "vaes", "vpclmulqdq") if re.search(rf"\b{flag}\b", text)
        )
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB
    return (
        f"{model or platform.processor()} ({flags}), {os.cpu_count()} cores, {memory:.0f} GiB, "
        f"Linux {platform.release()}, Python {platform.python_version()}, {ssl.OPENSSL_VERSION}"
    )


def floors() -> dict[str, float | None]:
    """CPU-seconds per GiB: encrypting with AES-128/256-GCM, and copying memory once."""
    result: dict[str, float | None] = {}
    for cipher in ("aes-128-gcm", "aes-256-gcm"):
        rate = aes_gcm_rate(cipher)
        result[cipher] = GiB / rate if rate else None
    result["memcpy"] = GiB / memcpy_rate()
    return result
