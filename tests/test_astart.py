"""ActorSystem.astart: the request-path actors and the SDK calls on the caller's running loop.

Thread crossings are counted by recording the thread every loop-actor message and every
upstream call runs on.
"""

import asyncio
import logging
import threading

import pytest

import adaptive_mind as am
from adaptive_mind.actors.loop_actor import LoopActor
from tests.helpers import USER, config, scripted


@pytest.fixture
def threads(monkeypatch):
    """The thread of every message a loop actor handles and of every scripted upstream call."""
    seen: list[tuple[str, int]] = []
    handle = LoopActor._handle

    def recording(self, envelope):
        seen.append((type(envelope.message).__name__, threading.get_ident()))
        return handle(self, envelope)

    monkeypatch.setattr(LoopActor, "_handle", recording)
    from adaptive_mind.providers.scripted import ScriptedAdapter

    complete = ScriptedAdapter.complete

    async def call(self, c):
        seen.append(("upstream", threading.get_ident()))
        return await complete(self, c)

    monkeypatch.setattr(ScriptedAdapter, "complete", call)
    return seen


CFG = config({"a": scripted(), "b": scripted(["k2"])})


def test_an_async_request_crosses_no_thread_with_astart(threads):
    async def main():
        async with am.ActorSystem.astart(CFG) as system:
            threads.clear()
            reply = await system.acomplete(USER)
            return reply, threading.get_ident()

    reply, caller = asyncio.run(main())
    assert reply.provider == "a"
    hops = [name for name, _ in threads]
    assert "Complete" in hops and "upstream" in hops and "TryProvider" in hops
    assert {t for _, t in threads} == {caller}  # every hop on the caller's own thread


def test_with_start_every_hop_is_on_the_io_loop_so_a_request_crosses_twice(start, threads):
    system = start(CFG)

    async def main():
        threads.clear()
        await system.acomplete(USER)
        return threading.get_ident()

    caller = asyncio.run(main())
    used = {t for _, t in threads}
    assert len(used) == 1 and caller not in used  # one loop thread: in once, out once


def test_await_astart_then_astop_and_the_blocking_calls_refuse_on_the_loop():
    async def main():
        system = await am.ActorSystem.astart(CFG)
        try:
            with pytest.raises(RuntimeError, match="acomplete"):
                system.complete(USER)
            with pytest.raises(RuntimeError, match="astop"):
                system.stop()
            assert system.breaker_state("a") == "closed"  # inspection answers inline
            assert [k["key_id"] for k in system.key_states("a")] == ["a#1"]
            replies = await asyncio.gather(*(system.acomplete(USER) for _ in range(50)))
            assert {r.provider for r in replies} == {"a"}
        finally:
            await system.astop()
        with pytest.raises(am.SystemStoppedError):
            await system.acomplete(USER)

    asyncio.run(main())


def test_a_crashed_provider_actor_is_restarted_on_the_callers_loop():
    async def main():
        async with am.ActorSystem.astart(CFG) as system:
            system.chaos.crash("provider:a")
            replies = await asyncio.gather(*(system.acomplete(USER) for _ in range(20)))
            assert len(replies) == 20
            for _ in range(100):  # the restart is scheduled on this loop: let it run
                if system.actors()["provider:a"] == "running":
                    break
                await asyncio.sleep(0)
            assert system.actors()["provider:a"] == "running"
            assert (await system.acomplete(USER, providers=["a"])).provider == "a"

    asyncio.run(main())


class _SlowCallbacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("Executing") and " took " in text:
            self.seen.append(text)


def test_no_handler_blocks_the_loop():
    """asyncio's debug mode reports every callback slower than ``slow_callback_duration``.

    Wall time on a shared machine can stall any callback once (the process is descheduled), so
    a run with slow callbacks is repeated: a handler that blocks is slow in every run.
    """
    slow = _SlowCallbacks()
    logging.getLogger("asyncio").addHandler(slow)

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = 0.05
        async with am.ActorSystem.astart(CFG) as system:
            await asyncio.gather(*(system.acomplete(USER) for _ in range(200)))

    runs = []
    try:
        for _ in range(3):
            slow.seen.clear()
            asyncio.run(main())
            runs.append(list(slow.seen))
            if not slow.seen:
                break
    finally:
        logging.getLogger("asyncio").removeHandler(slow)
    assert runs[-1] == [], runs
