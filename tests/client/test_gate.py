"""The async client's connection gate and pool sizing: bounded, fair, safe under cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from amt_client import AmtConfigurationError, ServerConfig
from amt_client.aio import _Gate


def test_the_gate_holds_requests_in_flight_to_its_capacity_in_order():
    async def scenario() -> tuple[int, list[int]]:
        gate, busy, most, order = _Gate(), [0], [0], []

        async def request(i: int) -> None:
            await gate.enter(3)
            busy[0] += 1
            most[0] = max(most[0], busy[0])
            order.append(i)
            await asyncio.sleep(0.01)
            busy[0] -= 1
            gate.leave(3)

        await asyncio.gather(*(request(i) for i in range(10)))
        return most[0], order

    most, order = asyncio.run(scenario())
    assert most == 3 and order == list(range(10))


def test_a_cancelled_waiter_gives_its_place_on_and_a_shrunk_gate_lets_the_surplus_finish():
    async def scenario() -> list[int]:
        gate = _Gate()
        for _ in range(2):
            await gate.enter(2)
        waiter = asyncio.ensure_future(gate.enter(2))
        later = asyncio.ensure_future(gate.enter(2))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0)
        gate.leave(1)  # capacity shrank to 1: two in flight, one leaves, no one may enter yet
        seen = [gate.busy, int(later.done())]
        gate.leave(2)  # back to 2: the waiting one enters
        await asyncio.sleep(0)
        return [*seen, gate.busy, int(later.done())]

    assert asyncio.run(scenario()) == [1, 0, 1, 1]


@pytest.mark.parametrize(
    ("watchers", "setting", "expected"), [(1, 0, 100), (20_000, 0, 400), (50_000, 0, 500), (9, 7, 7)]
)
def test_the_pool_is_sized_from_the_watchers_unless_the_connection_says(watchers, setting, expected):
    config = ServerConfig("http://amt:4004", "u", "p", max_connections=setting)
    assert config.connections_for(watchers) == expected


@pytest.mark.parametrize("bad", [-1, 10_001, 1.5, "many"])
def test_a_bad_max_connections_is_a_configuration_error(bad):
    with pytest.raises(AmtConfigurationError, match="max_connections"):
        ServerConfig("http://amt:4004", "u", "p", max_connections=bad)


def test_clients_of_one_login_on_one_loop_share_an_engine_unless_their_policy_differs():
    """A triggerer's thousands of hooks on one connection hold one engine (it keeps no state)."""
    from amt_client import AsyncAmtClient, HttpRetryPolicy

    used: list[object] = []

    def operation(engine: object) -> Iterator[object]:  # a call that needs no server
        used.append(engine)
        return
        yield

    async def calls() -> None:
        config = ServerConfig("http://127.0.0.1:9", "u", "p")
        clients = [AsyncAmtClient(config) for _ in range(3)]
        clients.append(AsyncAmtClient(config, retry_policy=HttpRetryPolicy(max_retries=9)))
        for client in clients:  # all in flight at once, as a triggerer's watches are
            await client._call(operation)  # type: ignore[arg-type]
        for client in clients:
            await client.close()

    asyncio.run(calls())
    first, second, third, other = used
    assert first is second is third and other is not first


def test_clients_of_one_login_with_other_timeouts_get_an_engine_with_their_own_settings():
    """The shared session is per login; an engine carries the whole configuration (timeouts, retries)."""
    from amt_client import AsyncAmtClient

    used: list[Any] = []

    def operation(engine: Any) -> Iterator[object]:
        used.append(engine)
        return
        yield

    async def calls() -> None:
        clients = [
            AsyncAmtClient(ServerConfig("http://127.0.0.1:9", "u", "p", timeout=timeout)) for timeout in (5.0, 50.0)
        ]
        for client in clients:
            await client._call(operation)  # type: ignore[arg-type]
        for client in clients:
            await client.close()

    asyncio.run(calls())
    assert [engine.config.timeout for engine in used] == [5.0, 50.0]
