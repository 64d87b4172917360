"""How many connections a run opens, where they go, and what they share."""

import socket
from unittest import mock

import pytest

from bulkup.options import UploadOptions
from bulkup.options.resolve import connections_for, resolve
from bulkup.transport.connection import HttpConnection, TlsSettings
from bulkup.transport.request import BucketEndpoint
from devtools.timescale import scaled


def test_the_default_target_sizes_connections_for_the_cores_there_are():
    assert connections_for(10, workers=2) == 10  # 20 connections for 10 Gbit/s
    assert connections_for(10, workers=16) == 2  # never fewer than 2 a worker


def test_a_100_gbit_target_on_16_cores_opens_some_200_connections():
    assert 16 * connections_for(100, workers=16) >= 200


def test_explicit_connections_win_over_the_target():
    assert resolve(UploadOptions(connections=3, target_throughput=100)).sending.connections == 3
    assert resolve(UploadOptions(workers=4, target_throughput=40)).sending.connections == 20


@pytest.fixture
def three_addresses():
    """Listeners on 127.0.0.1, .2 and .3 (all loopback), and a name resolving to all three."""
    listeners = []
    port = 0
    for last in (1, 2, 3):  # one port on every address, as S3's front ends have
        sock = socket.socket()
        sock.bind((f"127.0.0.{last}", port))
        sock.listen(16)
        port = sock.getsockname()[1]
        listeners.append(sock)
    real = socket.getaddrinfo

    def resolve_name(host, *args, **kwargs):
        if host == "s3.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"127.0.0.{i}", port)) for i in (1, 2, 3)]
        return real(host, *args, **kwargs)

    with mock.patch("socket.getaddrinfo", resolve_name):
        yield port, listeners
    for sock in listeners:
        sock.close()


def test_connections_spread_over_every_address_the_name_resolves_to(three_addresses):
    port, listeners = three_addresses
    endpoint = BucketEndpoint.from_url(f"http://s3.test:{port}/bucket")
    conns = [HttpConnection.to(endpoint, TlsSettings(), timeout=scaled(5), spread=i) for i in range(6)]
    for conn in conns:
        conn.open()
    accepted = {}
    for sock in listeners:
        sock.settimeout(scaled(2))
        address = sock.getsockname()[0]
        accepted[address] = [sock.accept()[0] for _ in range(2)]
    assert sorted(conn.peer for conn in conns) == ["127.0.0.1"] * 2 + ["127.0.0.2"] * 2 + ["127.0.0.3"] * 2
    assert set(accepted) == {"127.0.0.1", "127.0.0.2", "127.0.0.3"}
    for conn in conns:
        conn.close()
    for socks in accepted.values():
        for sock in socks:
            sock.close()


def test_an_address_that_refuses_is_passed_over_for_the_next(three_addresses):
    port, listeners = three_addresses
    listeners[1].close()  # 127.0.0.2 refuses
    conn = HttpConnection.to(BucketEndpoint.from_url(f"http://s3.test:{port}/b"), TlsSettings(), scaled(5), spread=1)
    conn.open()
    assert conn.peer == "127.0.0.3"
    conn.close()


def test_a_workers_connections_share_one_tls_context():
    endpoint = BucketEndpoint.from_url("https://127.0.0.1:8443/bucket")
    first, second = (HttpConnection.to(endpoint, TlsSettings(), spread=i) for i in range(2))
    assert first.tls_context is second.tls_context  # the trust store is loaded once
