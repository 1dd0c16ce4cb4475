"""The stream channel on its own: the bounded buffer, the end, and joining a continuation."""

import asyncio

import pytest

from adaptive_mind.chat import ChatMessage
from adaptive_mind.clock import FakeClock
from adaptive_mind.errors import SystemStoppedError
from adaptive_mind.stream_channel import (
    CONTINUE_INSTRUCTION,
    END,
    Overlap,
    StreamChannel,
    continuation,
)
from adaptive_mind.streaming import StreamChunk

USER = (ChatMessage(role="user", content="hi"),)


def chunk(text="", finish=None):
    return StreamChunk(text=text, finish_reason=finish)


def test_a_full_buffer_holds_the_sender_until_the_caller_reads():
    async def main():
        channel = StreamChannel("resume", buffer=2, clock=FakeClock())
        channel.begin_attempt()
        await channel.put(chunk("a"))
        await channel.put(chunk("b"))
        third = asyncio.create_task(channel.put(chunk("c")))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not third.done()  # no unbounded buffering behind a slow consumer
        assert (await channel.get()).text == "a"
        await asyncio.wait_for(third, 1)
        assert [(await channel.get()).text for _ in range(2)] == ["b", "c"]

    asyncio.run(main())


def test_closing_releases_a_waiting_sender_and_drops_what_comes_after():
    async def main():
        channel = StreamChannel("resume", buffer=1, clock=FakeClock())
        channel.begin_attempt()
        await channel.put(chunk("a"))
        waiting = asyncio.create_task(channel.put(chunk("b")))
        await asyncio.sleep(0)
        channel.close()
        await asyncio.wait_for(waiting, 1)
        assert channel.delivered.text == "a"

    asyncio.run(main())


def test_the_answer_ends_the_stream_for_every_later_read():
    async def main():
        channel = StreamChannel("resume", buffer=4, clock=FakeClock())
        channel.begin_attempt()
        await channel.put(chunk("a", finish="stop"))
        error = SystemStoppedError("stopped")
        channel.finish(error)
        channel.finish(SystemStoppedError("later"))
        assert (await channel.get()).text == "a"
        assert await channel.get() is END and await channel.get() is END
        assert channel.result is error  # the first answer stands

    asyncio.run(main())


@pytest.mark.parametrize(
    ("policy", "delivered", "modes"),
    [
        ("resume", ["Hel"], ["fresh", "resume"]),
        ("restart", ["Hel"], ["fresh", "restart"]),
        ("resume", [], ["fresh", "fresh"]),  # nothing given yet: a plain failover
    ],
)
def test_how_the_next_attempt_treats_what_was_given(policy, delivered, modes):
    async def main():
        channel = StreamChannel(policy, buffer=4, clock=FakeClock())
        seen = [channel.begin_attempt()]
        for text in delivered:
            await channel.put(chunk(text))
        seen.append(channel.begin_attempt())
        return seen, channel.interruptions

    seen, interruptions = asyncio.run(main())
    assert seen == modes and interruptions == (1 if delivered else 0)


def test_a_prefill_loses_its_trailing_space_and_the_continuation_its_leading_one():
    messages, stripped = continuation(USER, "Hello ", prefill=True)
    assert messages[-1].role == "assistant" and messages[-1].content == "Hello" and stripped
    join = Overlap("Hello ", prefill=True, stripped_space=stripped)
    assert [c.text for c in join.feed(chunk(" world"))] == ["world"]
    assert [c.text for c in join.feed(chunk(" again"))] == [" again"]  # only once


def test_an_instruction_follows_the_delivered_turn():
    messages, stripped = continuation(USER, "Hello wor", prefill=False)
    assert [m.role for m in messages] == ["user", "assistant", "user"]
    assert messages[-1].content == CONTINUE_INSTRUCTION and not stripped


def test_a_repeated_tail_is_cut_once_the_window_is_in():
    join = Overlap("Hello from the chaos", prefill=False, stripped_space=False)
    assert join.feed(chunk("from the ")) == []  # held back
    out = join.feed(chunk("chaos server.", finish="stop"))
    assert "".join(c.text for c in out) == " server." and out[-1].finish_reason == "stop"


def test_a_short_coincidence_is_not_an_overlap():
    join = Overlap("I said a", prefill=False, stripped_space=False)
    out = join.feed(chunk("a new thing", finish="stop"))
    assert "".join(c.text for c in out) == "a new thing"


def test_a_reader_takes_every_waiting_chunk_at_once_and_the_end_stays():
    async def main():
        channel = StreamChannel("resume", buffer=8, clock=FakeClock())
        channel.begin_attempt()
        for text in "abc":
            await channel.put(chunk(text))
        first = await channel.get_all()
        channel.finish(SystemStoppedError("done"))
        second = await channel.get_all()
        third = await channel.get_all()
        return first, second, third

    first, second, third = asyncio.run(main())
    assert [c.text for c in first] == ["a", "b", "c"]
    assert second == [END] and third == [END]
