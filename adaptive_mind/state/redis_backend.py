"""RedisBackend: health transitions shared through Redis, on redis-py's asyncio client.

Everything here runs on the system's I/O loop except :meth:`RedisBackend.publish` and
:meth:`RedisBackend.request_probe`, which any actor may call: they only append to a bounded
queue (or schedule a task) and return. One background task owns the connection:

1. connect and SUBSCRIBE to the namespace's channel (so nothing published after it is missed);
2. reconcile: re-publish what this replica knows to be out of service (or healthy again) that
   the server may have missed while it was unreachable, then read every stored transition and
   hand it to the subscribers (a replica starting late catches up the same way);
3. serve: write queued transitions (one script call each) and deliver peers' messages, until
   an error; then emit ``state.disconnected``, wait (backoff doubling from ``reconnect_min_s``
   to ``reconnect_max_s``) and start again. Meanwhile every replica serves from its own state.

Key budgets (``rpm`` / ``tpm``) are granted in blocks by :meth:`RedisBackend.request_budget`
(one script call per block, in the background; see :mod:`adaptive_mind.core.key_budget`).

Times are wall-clock on the wire and converted to the local clock at this edge. A message that
this replica published comes back on the channel and is ignored (its ``origin``).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from adaptive_mind.clock import Clock
from adaptive_mind.config import StateConfig
from adaptive_mind.core.key_budget import WINDOW_S, BudgetAsk, BudgetGrant
from adaptive_mind.core.shared_state import SharedTransition
from adaptive_mind.state._redis_wire import (
    CLEAR,
    EXTEND,
    GRANT,
    RELEASE,
    Names,
    decode,
    encode,
    is_out,
)
from adaptive_mind.state.backend import Subscriber
from adaptive_mind.telemetry import topics
from adaptive_mind.telemetry.events import Event, EventSink, Severity

logger = logging.getLogger("adaptive_mind.state")

_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


def wall_time() -> float:
    """Epoch seconds: what replicas agree on (fleet budgets count per wall-clock minute)."""
    return time.time()


class RedisBackend:
    """Shares transitions with every replica on the same Redis URL and namespace."""

    shared = True

    def __init__(
        self,
        config: StateConfig,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        events: EventSink,
        *,
        wall: Callable[[], float] | None = None,
    ) -> None:
        assert config.url is not None  # the config requires it for backend redis
        self._cfg = config
        self._url = config.url
        self._loop = loop
        self._clock = clock
        self._wall = wall if wall is not None else (lambda: wall_time())
        """Epoch seconds, the fleet's shared time base (looked up per call: tests pin it)."""
        self._events = events
        self.replica_id = uuid.uuid4().hex
        self._names = Names(config.namespace)
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._queue: collections.deque[SharedTransition] = collections.deque()
        self._known: dict[str, SharedTransition] = {}
        """This replica's latest word per stored name (out-of-service records, and the
        healthy-again ones that end them): what a reconnect re-publishes."""
        self._wake: asyncio.Event | None = None
        self._task: concurrent.futures.Future[None] | None = None
        self._client: aioredis.Redis | None = None
        self._grant: Any = None  # the GRANT script, registered with the client
        self._closed = False
        self.connected = False
        self.dropped = 0
        """Transitions not written because the queue was full or Redis unreachable (the live
        ones are re-published on reconnect)."""
        self.published = 0
        self.received = 0

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"RedisBackend({self._cfg.target!r}, namespace={self._cfg.namespace!r}, {state})"

    # -- called by actors, from any thread: never blocks -----------------------------------

    def publish(self, transition: SharedTransition) -> None:
        with self._lock:
            self._remember(transition)
            if not self.connected or len(self._queue) >= self._cfg.queue_size:
                self.dropped += 1
                return
            self._queue.append(transition)
        self._call_on_loop(self._kick)

    def request_probe(self, provider: str, reply: Callable[[bool], None]) -> None:
        if not self.connected:
            reply(True)  # the fleet cannot be asked: the local decision stands
            return

        async def ask() -> None:
            reply(await self.try_probe(provider, self._cfg.probe_ttl_s))

        self._call_on_loop(lambda: self._loop.create_task(ask()))

    def release_probe(self, provider: str, hold_s: float = 0.0) -> None:
        if not self.connected:
            return  # the lock expires with its TTL

        async def release() -> None:
            client = self._client
            if client is None:
                return
            with contextlib.suppress(*_ERRORS):
                await asyncio.wait_for(
                    client.eval(
                        RELEASE,
                        1,
                        self._names.probe(provider),
                        self.replica_id,
                        str(max(0, round(hold_s * 1000))),
                    ),
                    self._cfg.op_timeout_s,
                )

        self._call_on_loop(lambda: self._loop.create_task(release()))

    def request_budget(
        self, provider: str, ask: BudgetAsk, reply: Callable[[BudgetGrant | None], None]
    ) -> None:
        if not self.connected:
            reply(None)  # the fleet cannot be asked: the key's own limit, locally
            return

        async def ask_fleet() -> None:
            reply(await self.grant(provider, ask))

        self._call_on_loop(lambda: self._loop.create_task(ask_fleet()))

    async def grant(self, provider: str, ask: BudgetAsk) -> BudgetGrant | None:
        """Take up to ``ask`` of the key's budget in the current wall-clock minute (None: Redis
        did not answer within ``op_timeout_s``)."""
        client = self._client
        if client is None or not self.connected:
            return None
        if self._grant is None:
            self._grant = client.register_script(GRANT)
        wall = self._wall()
        minute = int(wall // WINDOW_S)
        args = [ask.requests, ask.tokens, ask.rpm or 0, ask.tpm or 0, int(2 * WINDOW_S * 1000)]
        name = self._names.budget(provider, ask.key_id, minute)
        try:
            got = await asyncio.wait_for(
                self._grant(keys=[name], args=args), self._cfg.op_timeout_s
            )
        except _ERRORS:
            return None
        ends_at = self._clock.now() + (minute + 1) * WINDOW_S - wall
        return BudgetGrant(int(got[0]), int(got[1]), ends_at)

    def _remember(self, t: SharedTransition) -> None:
        stored = self._names.stored(t)
        if stored is not None:
            self._known[stored] = t
        for name in self._names.cleared(t):
            self._known[name] = t  # a tombstone: re-publishing it clears what it ended

    def _call_on_loop(self, fn: Callable[[], object]) -> None:
        try:
            here = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            here = False
        if here:
            fn()
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
                self._loop.call_soon_threadsafe(fn)

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- the system's side ------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> None:
        self._subscribers.append(callback)

    def start(self) -> None:
        self._task = asyncio.run_coroutine_threadsafe(self._run(), self._loop)

    async def aclose(self) -> None:
        self._closed = True
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wrap_future(task)
        if self._client is not None:
            with contextlib.suppress(*_ERRORS):
                await self._client.aclose()

    async def snapshot(self) -> list[SharedTransition]:
        client = self._require_client()
        out: list[SharedTransition] = []
        offset = self._clock.now() - self._wall()
        for pattern in self._names.state_patterns:
            names = [n async for n in client.scan_iter(match=pattern, count=500)]
            if not names:
                continue
            for raw in await client.mget(names):
                if raw is None:
                    continue  # expired between SCAN and MGET
                try:
                    record, _origin = decode(raw)
                except ValueError:
                    continue  # a newer or foreign writer: never misread
                out.append(record.shifted(offset))
        return out

    async def try_probe(self, provider: str, ttl_s: float) -> bool:
        client = self._client
        if client is None or not self.connected:
            return True
        try:
            got = await asyncio.wait_for(
                client.set(
                    self._names.probe(provider), self.replica_id, nx=True, px=int(ttl_s * 1000)
                ),
                self._cfg.probe_timeout_s,
            )
        except _ERRORS:
            return True  # slow or gone: the local decision stands
        return bool(got)

    def _require_client(self) -> aioredis.Redis:
        if self._client is None:
            raise RuntimeError("the backend is not started")
        return self._client

    # -- the connection task ----------------------------------------------------------------

    async def _run(self) -> None:
        self._wake = asyncio.Event()
        self._client = aioredis.Redis.from_url(
            self._url.get_secret_value(),
            socket_timeout=self._cfg.op_timeout_s,
            socket_connect_timeout=self._cfg.connect_timeout_s,
            retry=Retry(NoBackoff(), 0),  # this task retries, with its own backoff
        )
        delay = self._cfg.reconnect_min_s
        announced_down = False
        while not self._closed:
            try:
                await self._serve(self._client)
            except _ERRORS as exc:
                was_up = self.connected
                with self._lock:
                    self.connected = False
                    self.dropped += len(self._queue)
                    self._queue.clear()
                if was_up or not announced_down:
                    announced_down = True
                    self._emit(topics.STATE_DISCONNECTED, Severity.WARNING, error=_kind(exc))
                    delay = self._cfg.reconnect_min_s
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._cfg.reconnect_max_s)

    async def _serve(self, client: aioredis.Redis) -> None:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await asyncio.wait_for(pubsub.subscribe(self._names.channel), self._cfg.op_timeout_s)
            extend = client.register_script(EXTEND)
            clear = client.register_script(CLEAR)
            with self._lock:  # from here on transitions queue (the writer starts below)
                self.connected = True
                backlog = list(dict.fromkeys(self._known.values()))
                self._known = {k: t for k, t in self._known.items() if is_out(t)}
            for t in backlog:  # what peers may have missed while we could not reach them
                await self._write(extend, clear, t, republish=True)
            learned = await self.snapshot()
            self._deliver_all(learned)
            with self._lock:
                dropped, self.dropped = self.dropped, 0
            self._emit(
                topics.STATE_CONNECTED,
                Severity.INFO,
                republished=len(backlog),
                applied=len(learned),
                dropped=dropped,
            )
            await self._pump(pubsub, extend, clear)
        finally:
            with contextlib.suppress(*_ERRORS):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _pump(self, pubsub: Any, extend: Any, clear: Any) -> None:
        """Write and read until one of them fails (then both stop)."""
        reader = asyncio.ensure_future(self._read(pubsub))
        writer = asyncio.ensure_future(self._write_queued(extend, clear))
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises what ended it
        finally:
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)

    async def _read(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is None or message.get("type") != "message":
                continue
            try:
                record, origin = decode(message["data"])
            except ValueError:
                continue
            if origin == self.replica_id:
                continue
            self.received += 1
            self._deliver_all([record.shifted(self._clock.now() - self._wall())])

    async def _write_queued(self, extend: Any, clear: Any) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                with self._lock:
                    if not self._queue:
                        break
                    t = self._queue.popleft()
                await self._write(extend, clear, t)

    async def _write(
        self, extend: Any, clear: Any, t: SharedTransition, *, republish: bool = False
    ) -> None:
        now_wall = self._wall()
        wire = t.shifted(now_wall - self._clock.now())
        body = encode(wire, self.replica_id)
        stored = self._names.stored(wire)
        timeout = self._cfg.op_timeout_s
        if stored is not None:
            assert wire.until is not None
            ttl_ms = int((wire.until - now_wall) * 1000)
            if ttl_ms <= 0:
                return  # over already: nothing to keep or announce
            args = [body, ttl_ms, self._names.channel]
            await asyncio.wait_for(extend(keys=[stored], args=args), timeout)
        else:
            names = self._names.cleared(wire)
            args = [body, wire.at, self._names.channel]
            await asyncio.wait_for(clear(keys=names, args=args), timeout)
        if not republish:
            self.published += 1

    def _deliver_all(self, records: list[SharedTransition]) -> None:
        for record in records:
            for callback in self._subscribers:
                try:
                    callback(record)
                except Exception:
                    logger.exception("state: a subscriber failed")

    def _emit(self, topic: str, severity: Severity, **payload: Any) -> None:
        payload = {"backend": "redis", "target": self._cfg.target, **payload}
        self._events.emit(
            Event(event_type=topic, source="state", severity=severity, payload=payload)
        )


def _kind(exc: BaseException) -> str:
    """What went wrong, without the message (it may name the server's address details)."""
    return type(exc).__name__
