"""The chaos drill: replay a scenario's fault timeline against the runtime and a plain-SDK baseline.

Both phases run against the same local chaos server with the same paced request load. The
runtime uses the real OpenAI, Anthropic and Gemini adapters; the baseline is the plain OpenAI SDK
with its default retries and no failover — what a service without a resilience layer would do.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai

import adaptive_mind as am
from adaptive_mind.simulation.drill_stream import (
    StreamRead,
    baseline_stream,
    runtime_stream,
    streamed,
)
from adaptive_mind.simulation.scenario import FaultWindow, Scenario
from adaptive_mind.simulation.server import ChaosServer, Hit, Rule

SAMPLE_EVERY_S = 0.25
WORDS = ("weather", "invoice", "summary", "translation", "recipe", "poem", "schedule", "report")


@dataclass
class RequestRecord:
    """One request of a phase, with times relative to the phase start."""

    t_start: float
    t_end: float
    ok: bool
    mitigated: bool = False
    provider: str | None = None
    error: str | None = None
    stream: StreamRead | None = None
    """How a streamed request ended (None: an ``acomplete`` request)."""

    @classmethod
    def of_stream(cls, read: StreamRead) -> RequestRecord:
        return cls(0, 0, read.ok, provider=read.provider, error=read.error, stream=read)

    @property
    def latency_ms(self) -> float:
        return (self.t_end - self.t_start) * 1000.0


@dataclass
class Sample:
    """Breaker states and available keys per provider at time ``t`` (runtime phase)."""

    t: float
    breakers: dict[str, str]
    keys_available: dict[str, int]


@dataclass
class PhaseResult:
    """What one phase did."""

    name: str
    duration_s: float
    records: list[RequestRecord] = field(default_factory=list)
    hits: list[tuple[float, Hit]] = field(default_factory=list)
    """Upstream calls the server saw, with times relative to the phase start."""
    samples: list[Sample] = field(default_factory=list)
    events: list[am.Event] = field(default_factory=list)
    actors_at_end: dict[str, str] = field(default_factory=dict)
    key_states_at_end: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    server_streams: dict[str, int] = field(default_factory=dict)
    """The chaos server's streams by how they ended (``completed``, ``cut``, ``stalled``,
    ``client_closed``, ``open``)."""

    @property
    def availability(self) -> float:
        return sum(r.ok for r in self.records) / len(self.records) if self.records else 0.0

    def latency_pct(self, q: float) -> float:
        lat = sorted(r.latency_ms for r in self.records if r.ok)
        return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0.0

    @property
    def upstream_calls(self) -> int:
        return len(self.hits)

    @property
    def wasted_calls(self) -> int:
        """Upstream calls that did not produce an answer (faults, refusals, hangs)."""
        return sum(1 for _, h in self.hits if h.outcome != "ok")


@dataclass
class DrillResult:
    """Both phases of a drill."""

    scenario: Scenario
    seed: int
    runtime: PhaseResult
    baseline: PhaseResult
    ledger_path: str | None = None


ProgressFn = Callable[[str, float, PhaseResult, Sample | None], None]


def _schedule(scenario: Scenario, seed: int) -> list[tuple[float, int]]:
    """Seeded request arrival times over the phase (evenly paced, with jitter)."""
    rng = random.Random(seed)
    step = scenario.duration_s / scenario.requests
    return sorted(
        (max(0.0, i * step + rng.uniform(-step / 2, step / 2)), i) for i in range(scenario.requests)
    )


def _prompt(seed: int, i: int) -> list[dict[str, str]]:
    rng = random.Random(seed * 1_000_003 + i)
    return [{"role": "user", "content": f"drill request {i}: a {rng.choice(WORDS)} please"}]


class _Timeline:
    """Turns a scenario's windows into server rules (and crashes) as time passes."""

    def __init__(
        self, server: ChaosServer, windows: list[FaultWindow], crash: Callable[[str], object] | None
    ) -> None:
        self._server = server
        self._crash = crash
        self._actions: list[tuple[float, int, FaultWindow, bool]] = []
        for i, w in enumerate(windows):
            self._actions.append((w.at, i, w, True))
            if w.until is not None and w.crash is None:
                self._actions.append((w.until, i, w, False))
        self._actions.sort(key=lambda a: (a[0], not a[3]))
        self._rules: dict[int, Rule] = {}

    async def play(self, t0: float) -> None:
        for at, i, w, start in self._actions:
            delay = t0 + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if w.crash is not None:
                if start and self._crash is not None:
                    self._crash(w.crash)
            elif start:
                self._rules[i] = self._server.add_rule(
                    w.provider,
                    w.fault or "ok",
                    key=w.key,
                    model=w.model,
                    retry_after_s=w.retry_after_s,
                    latency_ms=w.latency_ms,
                    probability=w.probability,
                    after_chunks=w.after_chunks,
                )
            elif i in self._rules:
                self._server.remove_rule(self._rules.pop(i))

    def clear(self) -> None:
        for rule in self._rules.values():
            self._server.remove_rule(rule)
        self._rules.clear()


async def _drive(
    scenario: Scenario,
    seed: int,
    call: Callable[[int], Any],
    phase: PhaseResult,
    t0: float,
    sample: Callable[[float], Sample | None],
    progress: ProgressFn | None,
    schedule: list[tuple[float, int]] | None = None,
) -> None:
    """Send the requests of ``schedule`` (default: the scenario's whole schedule) at their
    times, ``scenario.concurrency`` at most in flight, sampling every ``SAMPLE_EVERY_S``."""
    sem = asyncio.Semaphore(scenario.concurrency)
    if schedule is None:
        schedule = _schedule(scenario, seed)

    async def one(at: float, i: int) -> None:
        delay = t0 + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        async with sem:
            start = time.monotonic() - t0
            record = await call(i)
            record.t_start, record.t_end = start, time.monotonic() - t0
            phase.records.append(record)

    async def sampler() -> None:
        while True:
            t = time.monotonic() - t0
            s = sample(t)
            if s is not None:
                phase.samples.append(s)
            if progress is not None:
                progress(phase.name, t, phase, s)
            await asyncio.sleep(SAMPLE_EVERY_S)

    watcher = asyncio.create_task(sampler())
    try:
        await asyncio.gather(*(one(at, i) for at, i in schedule))
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


def runtime_config(scenario: Scenario, server: ChaosServer, ledger_path: str) -> dict[str, Any]:
    """The ActorSystem config for a scenario, pointed at the chaos server."""
    providers = {
        name: {**cfg, "base_url": server.url(cfg["kind"])}
        for name, cfg in scenario.providers.items()
    }
    config: dict[str, Any] = {
        "providers": providers,
        "ledger": {"path": ledger_path},
        "request": {"deadline_s": scenario.deadline_s, "stream_policy": scenario.stream_policy},
        "supervision": {"max_restarts": 10, "within_s": 10},
    }
    if scenario.priority:
        config["priority"] = scenario.priority
    if scenario.mitigation:
        config["mitigation"] = scenario.mitigation
    if scenario.streaming:
        config["streaming"] = scenario.streaming
    return config


def runtime_call(
    system: am.ActorSystem, seed: int, stream_share: float = 0.0, full_text: str = ""
) -> Callable[[int], Any]:
    """Send request ``i`` of the schedule through ``system`` and record how it ended (a share
    ``stream_share`` of them as streams, judged against the server's ``full_text``)."""

    async def call(i: int) -> RequestRecord:
        if streamed(seed, i, stream_share):
            return RequestRecord.of_stream(
                await runtime_stream(system, _prompt(seed, i), full_text)
            )
        try:
            reply = await system.acomplete(_prompt(seed, i))
        except am.AdaptiveMindError as exc:
            return RequestRecord(0, 0, False, error=type(exc).__name__)
        return RequestRecord(0, 0, True, reply.mitigated, reply.provider)

    return call


def runtime_sampler(system: am.ActorSystem, names: list[str]) -> Callable[[float], Sample | None]:
    """Read every provider's breaker state and available keys (None while one cannot answer)."""

    def sample(t: float) -> Sample | None:
        breakers, keys = {}, {}
        for n in names:
            try:
                breakers[n] = str(system.breaker_state(n))
                keys[n] = sum(
                    k["state"] in ("available", "probation") for k in system.key_states(n)
                )
            except Exception:
                return None
        return Sample(t, breakers, keys)

    return sample


async def run_runtime_phase(
    scenario: Scenario,
    server: ChaosServer,
    seed: int,
    ledger_path: str,
    progress: ProgressFn | None = None,
) -> PhaseResult:
    """Play the timeline against an ActorSystem on the real adapters."""
    phase = PhaseResult("runtime", scenario.duration_s)
    system = am.ActorSystem.start(runtime_config(scenario, server, ledger_path))
    system.subscribe(phase.events.append)
    names = list(scenario.providers)
    call = runtime_call(system, seed, scenario.stream, server.text)
    sample = runtime_sampler(system, names)

    server.reset_counts()
    server.reseed(seed)
    timeline = _Timeline(server, scenario.timeline, system.chaos.crash)
    t0 = time.monotonic()
    player = asyncio.create_task(timeline.play(t0))
    try:
        await _drive(scenario, seed, call, phase, t0, sample, progress)
        await asyncio.sleep(max(0.0, t0 + scenario.duration_s - time.monotonic()))
    finally:
        player.cancel()
        await asyncio.gather(player, return_exceptions=True)
        timeline.clear()
        phase.actors_at_end = {n: str(s) for n, s in system.actors().items()}
        phase.key_states_at_end = {n: system.key_states(n) for n in names}
        system.flush()
        await asyncio.get_running_loop().run_in_executor(None, system.stop)
    phase.hits = [(h.t - t0, h) for h in server.hits()]
    phase.server_streams = _stream_ends(server)
    return phase


def _stream_ends(server: ChaosServer) -> dict[str, int]:
    ends: dict[str, int] = {}
    for r in server.streams.records():
        ends[r.outcome] = ends.get(r.outcome, 0) + 1
    return ends


async def run_baseline_phase(
    scenario: Scenario, server: ChaosServer, seed: int, progress: ProgressFn | None = None
) -> PhaseResult:
    """Play the same timeline against the plain SDK: default retries (``max_retries=2``, backoff
    and Retry-After as the SDK does them), one key, one model, no failover."""
    phase = PhaseResult("baseline", scenario.duration_s)
    cfg = scenario.providers[scenario.baseline_provider]
    if cfg["kind"] != "openai":
        raise ValueError("baseline_provider: the baseline is the plain OpenAI SDK")
    client = openai.AsyncOpenAI(
        api_key=cfg["api_keys"][0],
        base_url=server.url("openai"),
        max_retries=openai.DEFAULT_MAX_RETRIES,  # 2: the SDK's own default, spelled out
        timeout=(
            scenario.baseline_timeout_s
            if scenario.baseline_timeout_s is not None
            else openai.DEFAULT_TIMEOUT
        ),
    )
    model = cfg["models"][0]

    async def call(i: int) -> RequestRecord:
        if streamed(seed, i, scenario.stream):
            read = await baseline_stream(
                client,
                model,
                _prompt(seed, i),
                server.text,
                scenario.deadline_s,
                scenario.baseline_provider,
            )
            return RequestRecord.of_stream(read)
        try:
            resp = await asyncio.wait_for(
                client.chat.completions.create(model=model, messages=_prompt(seed, i)),  # type: ignore[arg-type]
                scenario.deadline_s,
            )
        except Exception as exc:
            return RequestRecord(0, 0, False, error=type(exc).__name__)
        choice = resp.choices[0]
        if choice.finish_reason == "content_filter" or not choice.message.content:
            return RequestRecord(0, 0, False, error="refused")
        return RequestRecord(0, 0, True, provider=scenario.baseline_provider)

    server.reset_counts()
    server.reseed(seed)  # the same random fault draws, in arrival order, as the runtime phase
    timeline = _Timeline(server, scenario.timeline, None)
    t0 = time.monotonic()
    player = asyncio.create_task(timeline.play(t0))
    try:
        await _drive(scenario, seed, call, phase, t0, lambda _t: None, progress)
        await asyncio.sleep(max(0.0, t0 + scenario.duration_s - time.monotonic()))
    finally:
        player.cancel()
        await asyncio.gather(player, return_exceptions=True)
        timeline.clear()
        await client.close()
    phase.hits = [(h.t - t0, h) for h in server.hits()]
    phase.server_streams = _stream_ends(server)
    return phase


async def run_drill(
    scenario: Scenario,
    *,
    seed: int = 1,
    ledger_path: str | Path = ":memory:",
    progress: ProgressFn | None = None,
    baseline: bool = True,
) -> DrillResult:
    """Run the runtime phase, then the baseline phase, on a fresh local chaos server."""
    with ChaosServer(latency_ms=scenario.latency_ms, seed=seed) as server:
        runtime = await run_runtime_phase(scenario, server, seed, str(ledger_path), progress)
        base = (
            await run_baseline_phase(scenario, server, seed, progress)
            if baseline
            else PhaseResult("baseline", scenario.duration_s)
        )
    return DrillResult(
        scenario, seed, runtime, base, None if str(ledger_path) == ":memory:" else str(ledger_path)
    )
