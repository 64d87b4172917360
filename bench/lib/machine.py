"""One line describing the machine the figures come from."""

from __future__ import annotations

import os
import platform
import re
import ssl

GiB = 1 << 30


def describe() -> str:
    """CPU model and the flags that matter for TLS, cores, memory, kernel, Python, OpenSSL."""
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
