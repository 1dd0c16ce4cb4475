"""The local chaos server: OpenAI, Anthropic and Gemini wire formats on loopback, with faults.

Point any SDK at it (``base_url``) and script faults per (provider, key, model)::

    with ChaosServer() as server:
        server.add_rule("openai", "rate_limit", key="sk-a", retry_after_s=2, times=3)
        client = openai.AsyncOpenAI(api_key="sk-a", base_url=server.url("openai"), max_retries=0)

Routes: OpenAI ``POST /v1/chat/completions``, Anthropic ``POST /v1/messages``, Gemini
``POST /v1/models/{model}:generateContent`` and ``/v1beta/models/{model}:generateContent``.
A streamed request (``"stream": true``, Gemini ``:streamGenerateContent?alt=sse``) gets its
answer as SSE in the provider's format (:mod:`.wire_stream`); error faults still answer it with
an error status before any stream starts, and the stream faults of :data:`STREAM_FAULTS` (cut,
stall, malformed chunk, no terminator, slow first token, ``reject_prefill``) act on the stream.
:attr:`ChaosServer.streams` records how each stream ended (a client closing early included).
Rules are matched in order (first match wins; a rule with ``times`` is spent after that many
matches); a request no rule matches succeeds after ``latency_ms``. The server counts every
request it gets and keeps its JSON body (:meth:`ChaosServer.bodies`, ``GET /_chaos/bodies``),
and answers as a model would under the body's token cap and stop sequences (finish reason
``length`` / ``stop_sequence`` in the provider's own words); a request that asks for JSON
(:func:`wire.json_request`) gets a JSON object built from its schema
(:func:`~adaptive_mind.providers.placeholder.placeholder`), unless the fault is
``bad_json_answer``. A request that offers tools and ends with a user prompt gets a tool call
in the provider's own format (:func:`wire.tool_call`); one that ends with a tool result gets a
text acknowledging it. Before any rule, each body is checked as the real API checks it
(:func:`wire.validate`): a structurally invalid one gets that provider's real 400 and is
recorded with outcome ``invalid``. Run it alone with
``python -m adaptive_mind.simulation.server --port 8787``.

The faults are listed in :data:`wire.FAULTS`; three act on the connection instead of answering:
``hang`` never answers, ``disconnect`` closes the connection (FIN) before any response header,
and ``reset`` aborts it with a TCP RST (``SO_LINGER`` 0) before any response header, as a load
balancer or proxy that kills the connection does.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import threading
import time
from types import TracebackType
from typing import Any

from aiohttp import web

from adaptive_mind.providers.placeholder import placeholder
from adaptive_mind.simulation import wire
from adaptive_mind.simulation.server_rules import Hit, Rule
from adaptive_mind.simulation.stream_faults import (
    STREAM_FAULTS,
    StreamLog,
    StreamRecord,
    continued,
    include_usage,
    play,
    prefill,
    prefill_rejected,
    streamed,
)
from adaptive_mind.simulation.wire_stream import sse_events

__all__ = ["HANG_S", "STREAM_FAULTS", "ChaosServer", "Hit", "Rule", "StreamLog", "main"]

HANG_S = 300.0
"""How long a ``hang`` fault holds a request (the client's timeout normally ends it first)."""


def _drop(request: web.Request, *, reset: bool) -> None:
    """Close the connection before any response byte: a FIN, or with ``reset`` a TCP RST.

    ``reset`` sets ``SO_LINGER`` to zero first, so closing the socket discards it and sends an
    RST instead of a FIN: the client sees "connection reset by peer", as from a load balancer
    or a proxy that kills the connection.
    """
    transport = request.transport
    if transport is None:
        return
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class ChaosServer:
    """An aiohttp server on its own thread and loop; safe to script from any thread."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0.0, seed: int = 1
    ) -> None:
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.text = "Hello from the chaos server."
        self._rules: list[Rule] = []
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._rng = random.Random(seed)
        self.streams = StreamLog()
        """The streamed answers served and how each ended (see :class:`StreamLog`)."""

    # -- scripting ------------------------------------------------------------------------

    def add_rule(
        self,
        provider: str | None,
        fault: str,
        *,
        key: str | None = None,
        model: str | None = None,
        times: int | None = None,
        retry_after_s: float | None = None,
        latency_ms: float | None = None,
        probability: float | None = None,
        echo: str | None = None,
        after_chunks: int | None = None,
    ) -> Rule:
        """Serve ``fault`` (a name in :data:`wire.FAULTS` or :data:`STREAM_FAULTS`, or ``ok``)
        to matching requests.

        ``echo`` (a mode in :data:`wire.ECHOES`) repeats the request's API key in the error
        message, the refusal's text or the answer, as a careless upstream might.
        ``after_chunks``: a stream fault acts after this many content events (default 2).
        """
        if provider is not None and provider not in wire.PROVIDERS:
            raise ValueError(f"provider: must be one of {', '.join(wire.PROVIDERS)}")
        if fault != "ok" and fault not in wire.FAULTS and fault not in STREAM_FAULTS:
            names = ", ".join([*wire.FAULTS, *STREAM_FAULTS])
            raise ValueError(f"fault: must be one of ok, {names}")
        if after_chunks is not None and after_chunks < 0:
            raise ValueError("after_chunks: must be 0 or more")
        if probability is not None and not 0 <= probability <= 1:
            raise ValueError("probability: must be between 0 and 1")
        if echo is not None and echo not in wire.ECHOES:
            raise ValueError(f"echo: must be one of {', '.join(wire.ECHOES)}")
        rule = Rule(
            provider,
            fault,
            key,
            model,
            times,
            retry_after_s,
            latency_ms,
            probability,
            echo,
            after_chunks,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove_rule(self, rule: Rule) -> None:
        """Stop serving a rule added with :meth:`add_rule` (no-op if already gone)."""
        with self._lock:
            self._rules = [r for r in self._rules if r is not rule]

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def bodies(self, provider: str | None = None) -> list[dict[str, Any]]:
        """The JSON bodies of the requests received (oldest first), optionally for one
        provider: exactly what each SDK sent, for asserting how parameters were translated."""
        with self._lock:
            return [
                h.body
                for h in self._hits
                if h.body is not None and (provider is None or h.provider == provider)
            ]

    def count(
        self, provider: str | None = None, *, key: str | None = None, model: str | None = None
    ) -> int:
        """Requests received, optionally only for a provider / key / model."""
        with self._lock:
            return sum(
                1
                for h in self._hits
                if (provider is None or h.provider == provider)
                and (key is None or h.key == key)
                and (model is None or h.model == model)
            )

    def reset_counts(self) -> None:
        """Forget the requests and streams received."""
        with self._lock:
            self._hits.clear()
        self.streams.clear()

    def reseed(self, seed: int) -> None:
        """Restart the random draws of ``probability`` rules from ``seed``."""
        with self._lock:
            self._rng = random.Random(seed)

    def url(self, provider: str) -> str:
        """The base URL to give ``provider``'s SDK (OpenAI's includes ``/v1``)."""
        base = f"http://{self.host}:{self.port}"
        return f"{base}/v1" if provider == "openai" else base

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> ChaosServer:
        """Start serving on a background thread; returns self with ``port`` set."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="ChaosServer", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._astart(), loop).result(10)
        return self

    async def _astart(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/v1/models/{tail}", self._gemini)
        app.router.add_post("/v1beta/models/{tail}", self._gemini)
        app.router.add_get("/_chaos/hits", self._admin_hits)
        app.router.add_get("/_chaos/bodies", self._admin_bodies)
        app.router.add_post("/_chaos/reset", self._admin_reset)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None)  # which port port=0 picked
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Stop serving and join the thread. Idempotent."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._runner is not None:
            runner = self._runner
            try:
                asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
            except Exception:
                pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()

    def __enter__(self) -> ChaosServer:
        return self.start() if self._loop is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- handlers -------------------------------------------------------------------------

    def _pick(self, provider: str, key: str, model: str, stream: bool) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(provider, key, model, stream):
                    if rule.probability is not None and self._rng.random() >= rule.probability:
                        continue
                    rule.used += 1
                    return rule
        return None

    async def _serve(
        self,
        request: web.Request,
        provider: str,
        key: str,
        model: str,
        body: dict[str, Any] | None = None,
    ) -> web.StreamResponse:
        body = body or {}
        stream = streamed(provider, body, request.path)
        invalid = wire.validate(provider, body)  # like the real APIs: before any fault
        rule = None if invalid is not None else self._pick(provider, key, model, stream)
        name = "invalid" if invalid is not None else rule.fault if rule is not None else "ok"
        if name == "reject_prefill" and not prefill(provider, body):
            name = "ok"
        with self._lock:
            self._hits.append(Hit(provider, key, model, name, time.monotonic(), body))
        latency = self.latency_ms if rule is None or rule.latency_ms is None else rule.latency_ms
        if latency > 0 and name != "slow_first_token":  # that one waits after the headers
            await asyncio.sleep(latency / 1000.0)
        if name == "hang":
            await asyncio.sleep(HANG_S)
        if name in ("disconnect", "reset"):
            _drop(request, reset=name == "reset")
            raise asyncio.CancelledError
        detail = wire.echo(key, rule.echo) if rule is not None and rule.echo else None
        if invalid is not None:
            resp = invalid
        elif name == "reject_prefill":
            resp = prefill_rejected(provider)
        elif name in ("ok", "truncated", "bad_json_answer") or name in STREAM_FAULTS:
            answer = name if name in ("truncated", "bad_json_answer") else "ok"
            resp = self._answer(provider, model, answer, body, detail)
        else:
            resp = wire.fault(
                provider, name, model, rule.retry_after_s if rule else None, detail=detail
            )
        if stream and resp.status == 200 and name != "bad_json":
            events = sse_events(provider, json.loads(resp.body), include_usage=include_usage(body))
            fault = name if name in STREAM_FAULTS else "ok"
            after, wait = (rule.after_chunks, rule.latency_ms) if rule else (None, None)
            record = StreamRecord(provider, key, model, fault)
            return await play(
                request, events, resp.headers, fault, after, wait, self.streams, record
            )
        return web.Response(
            status=resp.status, body=resp.body, headers=resp.headers, content_type=resp.content_type
        )

    def _answer(
        self, provider: str, model: str, name: str, body: dict[str, Any], detail: str | None
    ) -> wire.WireResponse:
        """A 200 answer to ``body`` under outcome ``name`` (``ok``, ``truncated`` or
        ``bad_json_answer``): a tool call when :func:`wire.tool_call` says so (outcome ``ok``),
        else text — JSON for a JSON request, an acknowledgement of a tool result, or
        :attr:`text` — cut by the request's token cap and stop sequences."""
        prompt = wire.prompt_text(provider, body)
        thinking = wire.reasoning(provider, body)
        use = wire.tool_call(provider, body) if name == "ok" else None
        if use is not None:
            return wire.tool_answer(provider, model, use, prompt, detail or "", thinking=thinking)
        wants_json, schema = wire.json_request(provider, body)
        result = wire.tool_result(provider, body)
        if wants_json and name != "bad_json_answer":  # bad_json_answer: prose regardless
            text = json.dumps(placeholder(schema))
        elif result is not None:
            text = f"Tool result received: {result[:40]}"
        else:
            text = continued(wire.turns(provider, body), self.text)
        if detail and not (wants_json and name != "bad_json_answer"):
            text = f"{text} {detail}"
        limit, stops = wire.limits(provider, body)
        if name == "truncated":  # cut short whatever the request's cap
            half = max(1, len(text.split()) // 2)
            limit = half if limit is None else min(limit, half)
        text, finish, matched = wire.generate(text, limit, stops)
        return wire.success(provider, model, text, prompt, finish, matched, thinking=thinking)

    async def _admin_hits(self, _request: web.Request) -> web.StreamResponse:
        """``GET /_chaos/hits``: requests received, as ``[t, provider, key, model, outcome]``."""
        rows = [[h.t, h.provider, h.key, h.model, h.outcome] for h in self.hits()]
        return web.json_response(rows)

    async def _admin_bodies(self, request: web.Request) -> web.StreamResponse:
        """``GET /_chaos/bodies[?provider=P]``: the JSON bodies received, oldest first."""
        return web.json_response(self.bodies(request.query.get("provider") or None))

    async def _admin_reset(self, _request: web.Request) -> web.StreamResponse:
        """``POST /_chaos/reset``: forget the requests received (rules stay)."""
        self.reset_counts()
        return web.json_response({"ok": True})

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _bearer(request: web.Request) -> str:
        auth = request.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else request.headers.get("x-api-key", "")

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        model = str(body.get("model", ""))
        return await self._serve(request, "openai", self._bearer(request), model, body)

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        model = str(body.get("model", ""))
        return await self._serve(request, "anthropic", self._bearer(request), model, body)

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        """``…/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``."""
        model = request.match_info["tail"].split(":", 1)[0]
        body = await self._body(request)
        key = request.headers.get("x-goog-api-key") or request.query.get("key", "")
        return await self._serve(request, "gemini", key, model, body)


def main(argv: list[str] | None = None) -> None:
    """Run the chaos server in the foreground until interrupted (see :mod:`.server_cli`)."""
    from adaptive_mind.simulation.server_cli import run

    run(argv)


if __name__ == "__main__":
    main()
