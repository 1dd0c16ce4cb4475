"""LingerInbox: mail from the loop's thread wakes a thread actor once per batch; asks, stops and
mail from other threads wake it at once; nothing is reordered or lost."""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

import pykka
import pytest
from pykka import messages
from pykka._envelope import Envelope

from adaptive_mind.actors.base import BaseActor, Wiring
from adaptive_mind.actors.linger_inbox import LingerInbox


def _counting(loop: asyncio.AbstractEventLoop) -> list[float]:
    """Record every ``call_later`` delay the inbox asks of ``loop``."""
    delays: list[float] = []
    real = loop.call_later

    def call_later(delay: float, fn: Any, *args: Any) -> asyncio.TimerHandle:
        delays.append(delay)
        return real(delay, fn, *args)

    loop.call_later = call_later  # type: ignore[method-assign]
    return delays


async def _turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_loop_mail_lingers_as_one_batch_with_one_wake_up():
    async def body() -> None:
        loop = asyncio.get_running_loop()
        delays = _counting(loop)
        inbox = LingerInbox(loop, linger_s=0)
        for i in range(10):
            inbox.put(Envelope(i))
        with pytest.raises(queue.Empty):
            inbox.get(timeout=0)  # told from the loop: not takeable until the wake-up
        assert delays == [0]  # ten messages, one wake-up
        await _turns()
        assert [inbox.get(timeout=0).message for _ in range(10)] == list(range(10))
        with pytest.raises(queue.Empty):
            inbox.get(timeout=0)
        assert len(delays) == 1  # an idle inbox sets nothing

    asyncio.run(body())


def test_an_ask_or_a_stop_wakes_at_once_and_takes_the_lingering_mail_first():
    async def body() -> None:
        loop = asyncio.get_running_loop()
        for urgent in (
            Envelope("ask", reply_to=pykka.ThreadingFuture()),
            Envelope(messages._ActorStop()),
        ):
            inbox = LingerInbox(loop, linger_s=3600)
            inbox.put(Envelope("a"))
            inbox.put(urgent)
            assert inbox.get(timeout=0).message == "a"
            assert inbox.get(timeout=0) is urgent

    asyncio.run(body())


def test_mail_from_another_thread_wakes_at_once():
    async def body() -> None:
        inbox = LingerInbox(asyncio.get_running_loop(), linger_s=3600)
        t = threading.Thread(target=inbox.put, args=(Envelope("x"),))
        t.start()
        t.join()
        assert inbox.get(timeout=0).message == "x"

    asyncio.run(body())


def test_a_draining_consumer_takes_lingering_mail_without_waiting():
    async def body() -> None:
        inbox = LingerInbox(asyncio.get_running_loop(), linger_s=3600)
        inbox.put(Envelope("a"))
        assert not inbox.empty()  # pykka's teardown: while not empty(): get()
        assert inbox.get(timeout=0).message == "a"
        assert inbox.empty()
        inbox.put(Envelope("b"))
        assert inbox.get_nowait().message == "b"  # the crash report's collection

    asyncio.run(body())


class _Recorder(BaseActor):
    def __init__(self, wiring: Wiring) -> None:
        self.seen: list[int] = []
        super().__init__("rec", wiring)

    def _handlers(self) -> dict[type, Any]:
        return {int: self.seen.append}


def test_a_thread_actor_on_a_loop_gets_every_message_in_order_and_stops_cleanly():
    async def body() -> list[int]:
        ref = _Recorder.start(Wiring("rec", loop=asyncio.get_running_loop()))
        for i in range(100):
            ref.tell(i)
        await _turns()
        seen = ref.proxy().seen.get(timeout=5)  # an ask: wakes the thread at once
        ref.stop(block=False)
        return list(seen)

    assert asyncio.run(body()) == list(range(100))
