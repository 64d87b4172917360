"""``bulkup doctor``: which data path uploads will take on this machine (or on each node of
a Ray cluster), and why."""

from __future__ import annotations

import json
import os
import platform
import ssl
import sys
from dataclasses import asdict, dataclass

import botocore.exceptions as bex

from bulkup.control.access import access_steps
from bulkup.control.plane import ControlPlane, connect
from bulkup.control.s3client import ClientSettings, describe
from bulkup.control.verification import Support, choose_checksum
from bulkup.display.text import human_bytes
from bulkup.errors import FatalRemoteError, UsageError
from bulkup.kernel import ktls
from bulkup.options import UploadOptions
from bulkup.options.profile import apply_s3_settings, read_s3_settings
from bulkup.options.resolve import connections_for
from bulkup.plan.checksums import AUTO, DEFAULT_ALGORITHM, get_algorithm
from bulkup.plan.parts import DEFAULT_PART_SIZE
from bulkup.plan.s3url import S3Url
from bulkup.pools.raypool import on_every_node
from bulkup.transport.connection import HttpConnection, TlsSettings
from bulkup.transport.engines import ENGINES, PREFERENCE, EngineUnavailable, choose_engine, path_label
from bulkup.transport.request import BucketEndpoint


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
        Check("kernel", True, f"Linux {ktls.kernel_release()} on {platform.machine()}, {os.cpu_count()} CPUs"),
        Check("kernel TLS (TLS ULP)", ulp.usable, ulp.reason),
        Check("OpenSSL kTLS", openssl.usable, openssl.reason),
        Check(
            "kTLS counters",
            bool(stats),
            ", ".join(f"{k}={v}" for k, v in stats.items())
            if stats
            else f"{ktls.TLS_STAT} absent (no kTLS in this kernel)",
        ),
        Check(
            "NIC TLS offload",
            stats.get("TlsTxDevice", 0) > 0,
            f"TlsTxDevice={stats.get('TlsTxDevice', 0)} (connections offloaded to a NIC so far)"
            if stats
            else "unknown without kTLS",
        ),
        Check("pipe size limit", True, f"{_pipe_max_size()} bytes (/proc/sys/fs/pipe-max-size)"),
    ]
    for engine in PREFERENCE:
        for tls in (True, False):
            verdict = engine.available(tls)
            found.append(Check(f"engine {engine.name} ({'https' if tls else 'http'})", verdict.usable, verdict.reason))
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


def diagnosis(profile: str | None = None) -> dict:
    """This machine's checks and choices, and the run settings of ``profile``, as plain data."""
    return {
        "checks": [asdict(c) for c in checks()],
        "chosen": chosen(),
        "python": sys.version.split()[0],
        "openssl": ssl.OPENSSL_VERSION,
        "engines": sorted(ENGINES),
        "settings": settings(profile),
    }


def settings(profile: str | None) -> list[dict[str, str]]:
    """The settings a ``bulkup put`` without flags would run with, and where each comes from
    (the profile's AWS CLI s3 settings, or bulkup's default)."""
    found = read_s3_settings(profile)
    applied, origins = apply_s3_settings(UploadOptions(profile=profile), found, given=set())
    connections = applied.connections or connections_for(applied.target_throughput, applied.workers)
    shown = {
        "part_size": human_bytes(applied.part_size or DEFAULT_PART_SIZE)
        + ("" if applied.part_size else " (larger where a file needs over 10,000 parts)"),
        "multipart_threshold": human_bytes(applied.multipart_threshold or applied.part_size or DEFAULT_PART_SIZE),
        "connections": f"{connections} per worker"
        + ("" if applied.connections else f" (from --target-throughput {applied.target_throughput:g})"),
        "addressing_style": applied.addressing_style,
        "bwlimit": f"{human_bytes(applied.bwlimit)}/s" if applied.bwlimit else "none",
    }
    rows = [{"setting": name, "value": shown[name], "from": origins[name]} for name in shown]
    rows += [
        {"setting": name, "value": found.values[name], "from": origin}
        for name, origin in origins.items()
        if name not in shown
    ]
    return rows


def report(
    as_json: bool = False,
    out=sys.stdout,
    ray: str | None = None,
    store: tuple[ClientSettings, S3Url | None] | None = None,
    profile: str | None = None,
) -> int:
    """Print the diagnosis (of each node of the Ray cluster at ``ray``), and with ``store``
    (client settings, and where to write) what the credentials may do there and what that
    store verifies; returns the exit status (0: some engine can run everywhere, and every
    question asked of the store was answered yes)."""
    if store is not None:
        found = store_diagnosis(*store)
        if as_json:
            json.dump({"store": found}, out, indent=2)
            out.write("\n")
        else:
            print_store(found, out)
        return 0 if all(step["ok"] for step in found["access"]) else 1
    if ray:
        return render(on_every_node(ray, diagnosis), as_json, out, cluster=True)
    return render({"": diagnosis(profile)}, as_json, out, cluster=False)


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
    if diagnosed.get("settings"):
        print(f"\n{prefix}settings of a run without flags:", file=out)
        for row in diagnosed["settings"]:
            print(f"    {row['setting']}: {row['value']}  ({row['from']})", file=out)
    if prefix:
        print(file=out)


def store_diagnosis(settings: ClientSettings, where: S3Url | None) -> dict:
    """What the credentials may do at ``where`` (see ``control.access``), what the store at
    ``settings.endpoint_url`` verifies (asked with a throwaway multipart upload in the bucket,
    by default the first it lists, once the credentials may write there), and the data path
    uploads to it take, as plain data."""
    control = connect(settings)
    bucket = where.bucket if where else _first_bucket(control)
    access = access_steps(control, bucket, where.key if where else "", ask_identity=settings.endpoint_url is None)
    found: dict = {"bucket": bucket, "access": [asdict(step) for step in access]}
    scheme = "http" if (settings.endpoint_url or "").startswith("http://") else "https"
    found["data_path"] = chosen()[scheme]
    if not all(step.ok for step in access):
        return found
    route = control.ask_store(bucket, where.key if where else "", get_algorithm(DEFAULT_ALGORITHM), remembered=False)
    checks = route.checks
    assert checks is not None  # ask_store asked
    auto = choose_checksum(AUTO, checks)
    return {
        **found,
        "where": checks.where,
        "error": checks.error or None,
        checks.algorithm: {"support": checks.flexible.value, "detail": checks.flexible_words()},
        "md5": {
            "support": checks.md5.value,
            "detail": {
                Support.VERIFIED: "refuses a wrong Content-MD5",
                Support.UNCHECKED: "accepts a wrong Content-MD5",
            }.get(checks.md5, "unknown"),
        },
        "etag_is_md5": checks.etag_is_md5,
        "auto": {"checksum": auto.algorithm.name, "verified": auto.verified},
        "tls": negotiated_tls(route.endpoint, control.settings),
    }


def _first_bucket(control: ControlPlane) -> str:
    """The first bucket the store lists (one-line errors)."""
    try:
        buckets = control.client.list_buckets().get("Buckets", [])
    except (bex.ClientError, bex.BotoCoreError) as exc:
        raise FatalRemoteError(describe(exc)) from None
    if not buckets:
        raise UsageError("the store lists no bucket to ask in: give one (bulkup doctor ... s3://bucket)")
    name: str = buckets[0]["Name"]
    return name


def negotiated_tls(endpoint: BucketEndpoint, settings: ClientSettings) -> str | None:
    """The protocol and cipher a worker's connection to ``endpoint`` negotiates (None: plain
    HTTP), or why the handshake failed."""
    if not endpoint.tls:
        return None
    conn = HttpConnection.to(endpoint, TlsSettings(settings.verify_ssl, settings.ca_bundle), timeout=10)
    try:
        conn.open()
        return conn.negotiated()
    except (OSError, ssl.SSLError) as exc:
        return f"handshake failed: {exc}"
    finally:
        conn.close()


def print_store(found: dict, out=sys.stdout) -> None:
    """The store's report: each question with its answer (and what to do), then what it
    verifies and the data path uploads take."""
    print(f"bucket {found['bucket']}:", file=out)
    for step in found["access"]:
        fix = f": {step['fix']}" if not step["ok"] and step["fix"] else ""
        print(f"  {'ok' if step['ok'] else '--'}  {step['name']}: {step['detail']}{fix}", file=out)
    path = found["data_path"]
    print(f"  data path: {path['path']}  ({path['reason']})", file=out)
    if "auto" not in found:
        print("  checksums: not asked (the questions above must pass first)", file=out)
        return
    print(f"store {found['where']}:", file=out)
    if found["error"]:
        print(f"  could not ask it: {found['error']}", file=out)
    for name in (DEFAULT_ALGORITHM, "md5"):
        print(f"  {name}: {found[name]['support']} ({found[name]['detail']})", file=out)
    print(f"  ETag: {'the MD5 of the body' if found['etag_is_md5'] else 'not the MD5 of the body'}", file=out)
    print(f"  TLS: {found['tls'] or 'none (plain HTTP)'}", file=out)
    auto = found["auto"]
    print(
        f"  --checksum auto sends {auto['checksum']}: "
        f"{'verified by the store' if auto['verified'] else 'NOT verified by the store'}",
        file=out,
    )
