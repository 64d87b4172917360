"""The send-engine interface: how a request body travels from a file to a socket."""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, ClassVar, Protocol

from bulkup.kernel.availability import Availability

if TYPE_CHECKING:
    from bulkup.transport.filebody import FileBody


class Connection(Protocol):
    """What an engine uses of a connection (``transport.connection.Connection`` is one):
    its socket and TLS state, and the exchange's deadline."""

    stream: socket.socket | None  # the TCP socket, or the SSLSocket wrapping it
    timeout: float
    ktls_tx: bool  # the kernel encrypts what is written to the socket

    @property
    def tls(self) -> bool: ...
    def kernel_send(self) -> AbstractContextManager[int]: ...
    def arm_timeout(self) -> None: ...
    def remaining(self) -> float: ...


class SendEngine(ABC):
    """Moves one request body onto a connection.

    An engine is chosen per connection kind. ``available(tls)`` probes, without side
    effects, whether it can run on this machine for TLS (``tls=True``) or plain TCP
    endpoints, and says why. Engines raise OSError on transport failures; the caller
    decides about retries.
    """

    name: ClassVar[str]
    label: ClassVar[str]  # what a user sees, e.g. "user-space TLS"
    needs_kernel_tls: ClassVar[bool] = False  # on TLS connections: only where kTLS TX engaged
    path_name: ClassVar[str] = ""  # name in data-path labels (default: name)
    ranked_because: ClassVar[str] = ""  # why it comes where it does in PREFERENCE

    @classmethod
    @abstractmethod
    def available(cls, tls: bool) -> Availability:
        """Probe this machine for the engine; never raises."""

    @abstractmethod
    def send(self, conn: Connection, head: bytes, body: FileBody, progress: Callable[[int], None]) -> None:
        """Write the request ``head`` then all of ``body`` to ``conn``; call ``progress(n)``
        as body bytes leave."""

    def can_send_on(self, conn: Connection) -> bool:
        """Whether this engine may write ``conn``'s raw socket (plain, or kTLS TX engaged)."""
        return not (self.needs_kernel_tls and conn.tls and not conn.ktls_tx)

    def close(self) -> None:
        """Release what the engine holds (rings, pipes)."""


def send_head_held(conn: Connection, head: bytes, body_follows: bool) -> None:
    """Write ``head`` to the raw socket (plain, or kTLS where the kernel encrypts); with a
    body following, the kernel holds it back (MSG_MORE) to leave with the body's first bytes
    instead of in a packet (and TLS record) of its own. Inside ``conn.kernel_send()``."""
    assert conn.stream is not None, "open() the connection first"
    socket.socket.sendall(conn.stream, head, socket.MSG_MORE if body_follows else 0)


def path_label(engine: SendEngine | type[SendEngine], tls: bool) -> str:
    """What a user sees as the data path, e.g. ``kTLS+sendfile`` (engine usable on it assumed)."""
    name = engine.path_name or engine.name
    if not tls:
        return f"plain+{name}"
    if engine.needs_kernel_tls:
        return f"kTLS+{name}"
    return engine.label
