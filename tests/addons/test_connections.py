"""ConnectionGuard's bookkeeping per client address, and the bounded HTTP/1 classes being
the ones mitmproxy uses. The behaviour on real sockets (431, 408, refusals, memory) is in
tests/e2e/test_limits.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from mitmproxy import connection
from mitmproxy.proxy.layers import http as http_layers
from mitmproxy.test import tflow

from warden.addons import connections
from warden.addons.connections import ConnectionGuard, ConnectionLimits
from warden.gateway.metrics import GatewayMetrics


def _client(addr: str = "192.0.2.1") -> connection.Client:
    client = tflow.tclient_conn()
    client.peername = (addr, 40000)
    client.error = None
    return client


@pytest.fixture
def guard() -> Iterator[ConnectionGuard]:
    g = ConnectionGuard(
        ConnectionLimits(header_seconds=0.05, connections_per_client=4, pending_heads_per_client=2),
        {},
        GatewayMetrics(),
    )
    yield g
    g.done()
    assert connections._Limits.guard is None


def test_the_bounded_classes_are_mitmproxys(guard: ConnectionGuard) -> None:
    assert http_layers.Http1Server is connections.BoundedHttp1Server  # type: ignore[attr-defined]
    assert http_layers.Http1Client is connections.BoundedHttp1Client  # type: ignore[attr-defined]


async def test_connections_over_the_counts_are_refused_and_counts_come_back(
    guard: ConnectionGuard,
) -> None:
    first, second, third = _client(), _client(), _client()
    for c in (first, second):
        guard.client_connected(c)
        assert c.error is None
    guard.client_connected(third)  # both still owe their first head
    assert third.error == "over proxy.limits.pending_heads_per_client"
    guard.client_disconnected(third)  # a refused one was never counted
    guard.head_done(first)
    guard.head_done(second)
    more = [_client() for _ in range(3)]
    for c in more[:2]:
        guard.client_connected(c)
        guard.head_done(c)
        assert c.error is None
    guard.client_connected(more[2])
    assert more[2].error == "over proxy.limits.connections_per_client"
    other = _client("192.0.2.2")  # another address has counts of its own
    guard.client_connected(other)
    assert other.error is None
    for c in (first, second, *more[:2], other):
        guard.client_disconnected(c)
    assert list(guard.pending()) == []
    text = guard.metrics.render().decode()
    assert 'warden_limits_total{limit="pending_heads_per_client"} 1.0' in text
    assert 'warden_limits_total{limit="connections_per_client"} 1.0' in text


async def test_a_head_that_does_not_end_in_time_is_counted_once_and_let_go(
    guard: ConnectionGuard,
) -> None:
    client = _client()
    guard.client_connected(client)
    guard.head_started(client)  # a second start of the same head starts no second timer
    assert list(guard.pending()) == [("192.0.2.1", 1, 1)]
    await asyncio.sleep(0.2)
    assert list(guard.pending()) == [("192.0.2.1", 1, 0)]
    assert 'warden_limits_total{limit="header_seconds"} 1.0' in guard.metrics.render().decode()
    guard.client_disconnected(client)
    assert list(guard.pending()) == []
