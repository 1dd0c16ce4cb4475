"""The admission gate: a counter of slots, and the reply channels that give a slot back once."""

import concurrent.futures

import adaptive_mind as am
from adaptive_mind.admission_gate import AdmissionGate, GatedReply, GatedStreamReply
from adaptive_mind.messages.request import new_thread_reply


class Channel:
    """A reply channel that records what it was given."""

    def __init__(self) -> None:
        self.results: list[object] = []

    def deliver(self, result: object) -> None:
        self.results.append(result)

    def is_open(self) -> bool:
        return not self.results


def test_slots_up_to_the_limit_then_refused_until_one_is_released():
    gate = AdmissionGate(2)
    assert gate.try_acquire() and gate.try_acquire()
    assert not gate.try_acquire()
    assert gate.count == 2
    gate.release()
    assert gate.count == 1
    assert gate.try_acquire()
    assert gate.count == 2


def test_wait_idle_reports_whether_every_slot_is_back():
    gate = AdmissionGate(3)
    assert gate.wait_idle(0)
    gate.try_acquire()
    assert not gate.wait_idle(0)
    gate.release()
    assert gate.wait_idle(0)


def test_wait_idle_wakes_when_the_last_slot_is_released():
    gate = AdmissionGate(1)
    gate.try_acquire()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(gate.wait_idle, 5.0)
        gate.release()
        assert waiting.result(timeout=5.0) is True


def test_a_reply_frees_its_slot_once_and_delivers_only_the_first_answer():
    gate = AdmissionGate(1)
    assert gate.try_acquire()
    inner = Channel()
    reply = GatedReply(inner, gate)
    assert reply.is_open()
    first = am.SystemStoppedError("first")
    reply.deliver(first)
    assert gate.count == 0 and not reply.is_open()
    reply.deliver(am.SystemStoppedError("second"))  # e.g. a re-driven request answered twice
    reply.withdraw()
    assert inner.results == [first]
    assert gate.count == 0
    assert gate.try_acquire()  # the slot is free, and was freed exactly once
    assert not gate.try_acquire()


def test_the_slot_is_free_before_the_caller_wakes():
    gate = AdmissionGate(1)
    gate.try_acquire()
    inner, fut = new_thread_reply()
    seen: list[int] = []
    fut.add_done_callback(lambda _f: seen.append(gate.count))
    GatedReply(inner, gate).deliver(am.SystemStoppedError("stop"))
    assert seen == [0]


def test_a_withdrawn_reply_frees_its_slot_without_an_answer():
    gate = AdmissionGate(1)
    gate.try_acquire()
    inner = Channel()
    reply = GatedReply(inner, gate)
    reply.withdraw()
    assert gate.count == 0 and not reply.is_open()
    reply.deliver(am.SystemStoppedError("late"))
    assert inner.results == []


def test_a_stream_holds_its_slot_after_its_answer_until_released():
    gate = AdmissionGate(1)
    gate.try_acquire()
    inner = Channel()
    reply = GatedStreamReply(inner, gate)
    reply.deliver(am.SystemStoppedError("end"))
    assert gate.count == 1  # not read yet
    assert not reply.is_open()  # answered: a Supervisor drops it unseen
    reply.release()
    reply.release()
    assert gate.count == 0
    assert gate.try_acquire()
    assert gate.count == 1


def test_drain_forgets_held_slots_and_admits_nothing_more():
    gate = AdmissionGate(2)
    gate.try_acquire()
    stream = GatedStreamReply(Channel(), gate)
    assert gate.drain() == 1
    assert gate.count == 0 and gate.wait_idle(0)
    stream.release()  # a reader finishing after stop() changes nothing
    assert gate.count == 0
    assert not gate.try_acquire()
