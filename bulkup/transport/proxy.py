"""HTTP proxies for the workers, chosen exactly where boto3 would choose them.

boto3 (botocore) takes ``HTTPS_PROXY`` for https endpoints and ``HTTP_PROXY`` for http ones
from the environment, unless ``NO_PROXY`` names the host. Workers do the same with the
driver's values: through an https proxy they open a tunnel (``CONNECT host:port``) and run
TLS to the endpoint inside it, with SNI and certificate checks against the endpoint (and
kTLS still possible: the socket is TCP); through an http proxy an http endpoint gets
absolute-form requests. Proxy credentials come from the URL and are never shown.
"""

from __future__ import annotations

import base64
import errno
import os
import socket
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from bulkup.transport.http1 import ProtocolError, ResponseReader, request_head

PROXY_VARIABLES = ("https_proxy", "http_proxy", "no_proxy")
MAX_ANSWER = 16 * 1024


@dataclass(frozen=True, kw_only=True)
class Proxy:
    """A proxy's address and, if its URL has them, the credentials for it."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)  # "Basic ..."

    @classmethod
    def from_url(cls, url: str) -> Proxy:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        auth = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(pair.encode()).decode()
        return cls(host=parts.hostname or "", port=parts.port or 8080, authorization=auth)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def proxy_environment() -> dict[str, str]:
    """The proxy variables of this process (the driver's), to hand to the workers."""
    return {k.lower(): v for k, v in os.environ.items() if k.lower() in PROXY_VARIABLES and v}


def proxy_for(scheme: str, host: str, port: int, environment: dict[str, str]) -> Proxy | None:
    """The proxy boto3 would use for ``scheme://host:port`` with these variables, if any."""
    url = environment.get(f"{scheme}_proxy")
    if not url:
        return None
    bypass = {"no": environment["no_proxy"]} if environment.get("no_proxy") else {}
    if bypass and (_bypassed(host, bypass) or _bypassed(f"{host}:{port}", bypass)):
        return None
    return Proxy.from_url(url)


def _bypassed(host: str, proxies: dict[str, str]) -> bool:
    """Whether ``proxies["no"]`` (a NO_PROXY value) names ``host``, by urllib's own rules."""
    import urllib.request  # http.client and email with it: only where a proxy is bypassed

    # Undocumented in urllib.request, so typeshed leaves it out.
    return bool(urllib.request.proxy_bypass_environment(host, proxies))  # type: ignore[attr-defined]


def open_tunnel(sock: socket.socket, proxy: Proxy, host: str, port: int) -> None:
    """Ask the proxy on ``sock`` for a tunnel to ``host:port`` (HTTP CONNECT); OSError naming
    the proxy's answer if it will not open one."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    headers = [("Host", target)] + ([("Proxy-Authorization", proxy.authorization)] if proxy.authorization else [])
    sock.sendall(request_head("CONNECT", target, headers))
    reader = ResponseReader(bodyless=True, max_body=MAX_ANSWER)
    try:
        while (answer := reader.feed(data := sock.recv(4096))) is None:
            if not data:
                raise OSError(errno.ECONNRESET, f"the proxy {proxy.where} closed the tunnel to {target}")
    except ProtocolError as exc:
        raise OSError(
            errno.EPROTO, f"the proxy {proxy.where} answered CONNECT {target} with something not HTTP ({exc})"
        ) from None
    if answer.status != 200 or reader.trailing:
        raise OSError(
            errno.ECONNREFUSED, f"the proxy {proxy.where} answered {answer.status} {answer.reason} to CONNECT {target}"
        )
