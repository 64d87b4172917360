"""``bulkup doctor``: which data path uploads will take on this machine (or on each node of
a Ray cluster), and why."""
from __future__ import annotations

import json
import os
import platform
import ssl
import sys
from dataclasses import asdict, dataclass

from bulkup.kernel import ktls
from bulkup.pools.raypool import on_every_node
from bulkup.transport.engines import ENGINES, PREFERENCE, EngineUnavailable, choose_engine, path_label


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def checks() -> list[Check]:
    """Every fact the engine choice depends on."""
    ulp = ktls.tls_ulp_available()
    openssl = ktls.openssl_supports_ktls()
    stats = ktls.tls_stat()
    found = [
        Check("kernel", True, f"Linux {ktls.kernel_release()} on {platform.machine()}, "
                              f"{os.cpu_count()} CPUs"),
        Check("kernel TLS (TLS ULP)", ulp.usable, ulp.reason),
        Check("OpenSSL kTLS", openssl.usable, openssl.reason),
        Check("kTLS counters", bool(stats),
              ", ".join(f"{k}={v}" for k, v in stats.items()) if stats else
              f"{ktls.TLS_STAT} absent (no kTLS in this kernel)"),
        Check("NIC TLS offload", stats.get("TlsTxDevice", 0) > 0,
              f"TlsTxDevice={stats.get('TlsTxDevice', 0)} (connections offloaded to a NIC so far)"
              if stats else "unknown without kTLS"),
        Check("pipe size limit", True, f"{_pipe_max_size()} bytes (/proc/sys/fs/pipe-max-size)"),
    ]
    for engine in PREFERENCE:
        for tls in (True, False):
            verdict = engine.available(tls)
            found.append(Check(f"engine {engine.name} ({'https' if tls else 'http'})",
                               verdict.usable, verdict.reason))
    return found


def chosen() -> dict[str, dict[str, str]]:
    """The engine ``--engine auto`` picks for https and for http endpoints, with the reason."""
    result = {}
    for scheme, tls in (("https", True), ("http", False)):
        try:
            engine, reason = choose_engine("auto", tls)
            result[scheme] = {"engine": engine.name, "path": path_label(engine, tls), "reason": reason}
        except EngineUnavailable as exc:
            result[scheme] = {"engine": "none", "path": "none", "reason": str(exc)}
    return result


def _pipe_max_size() -> str:
    try:
        with open("/proc/sys/fs/pipe-max-size") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def diagnosis() -> dict:
    """This machine's checks and choices, as plain data."""
    return {"checks": [asdict(c) for c in checks()], "chosen": chosen(),
            "python": sys.version.split()[0], "openssl": ssl.OPENSSL_VERSION,
            "engines": sorted(ENGINES)}


def report(as_json: bool = False, out=sys.stdout, ray: str | None = None) -> int:
    """Print the diagnosis (of each node of the Ray cluster at ``ray``); returns the exit
    status (0: some engine can run everywhere)."""
    if ray:
        return render(on_every_node(ray, diagnosis), as_json, out, cluster=True)
    return render({"": diagnosis()}, as_json, out, cluster=False)


def render(found: dict[str, dict], as_json: bool, out, cluster: bool) -> int:
    """Print diagnoses by node label (a node that could not be diagnosed says why under
    "error"); the exit status: 0 if some engine can run on every node."""
    if as_json:
        json.dump({"nodes": found} if cluster else found[""], out, indent=2)
        out.write("\n")
    else:
        for node, diagnosed in found.items():
            if "error" in diagnosed:
                print(f"node {node}: cannot diagnose: {diagnosed['error']}\n", file=out)
            else:
                _print_diagnosis(diagnosed, out, f"node {node}: " if node else "")
    return 0 if found and all(_can_upload(d) for d in found.values()) else 1


def _can_upload(diagnosed: dict) -> bool:
    return "error" not in diagnosed and all(p["engine"] != "none" for p in diagnosed["chosen"].values())


def _print_diagnosis(diagnosed: dict, out, prefix: str) -> None:
    for scheme, pick in diagnosed["chosen"].items():
        print(f"{prefix}{scheme} uploads use: {pick['path']}  ({pick['reason']})", file=out)
    print(file=out)
    for check in diagnosed["checks"]:
        mark = "ok " if check["ok"] else "-- "
        print(f"{mark} {check['name']}: {check['detail']}", file=out)
    if prefix:
        print(file=out)
