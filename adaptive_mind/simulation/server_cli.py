"""The chaos server's command line: ``python -m adaptive_mind.simulation.server``."""

from __future__ import annotations

import argparse
import threading

from adaptive_mind.simulation import wire
from adaptive_mind.simulation.server import ChaosServer
from adaptive_mind.simulation.stream_faults import STREAM_FAULTS


def run(argv: list[str] | None = None) -> None:
    """Run the chaos server in the foreground until interrupted."""
    ap = argparse.ArgumentParser(
        prog="python -m adaptive_mind.simulation.server",
        description="The local chaos server: OpenAI, Anthropic and Gemini wire formats on "
        "loopback, with faults.",
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8787)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="PROVIDER:FAULT[:TIMES]",
        help="serve FAULT to PROVIDER (e.g. openai:rate_limit:3); repeatable",
    )
    ap.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="K=V,...",
        help="a full rule, e.g. provider=openai,fault=server_error,key=k1,probability=0.3,"
        "retry_after_s=2 (echo=MODE repeats the request's key in the body; after_chunks=N "
        "places a stream fault); repeatable",
    )
    ap.add_argument("--seed", type=int, default=1, help="seed for probabilistic rules")
    ap.add_argument(
        "--text",
        help="the answer's text (default: ChaosServer.text); a stream sends it one word a chunk",
    )
    args = ap.parse_args(argv)
    server = ChaosServer(args.host, args.port, args.latency_ms, args.seed)
    if args.text is not None:
        server.text = args.text
    for spec in args.rule:
        try:
            kv = dict(part.split("=", 1) for part in spec.split(","))
            server.add_rule(
                kv.pop("provider", None),
                kv.pop("fault"),
                key=kv.pop("key", None),
                model=kv.pop("model", None),
                times=int(kv["times"]) if "times" in kv else None,
                retry_after_s=float(kv["retry_after_s"]) if "retry_after_s" in kv else None,
                latency_ms=float(kv["latency_ms"]) if "latency_ms" in kv else None,
                probability=float(kv["probability"]) if "probability" in kv else None,
                echo=kv.pop("echo", None),
                after_chunks=int(kv["after_chunks"]) if "after_chunks" in kv else None,
            )
        except (KeyError, ValueError) as exc:
            ap.error(f"--rule {spec}: {exc}")
    for spec in args.fault:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            ap.error(f"--fault {spec}: expected PROVIDER:FAULT[:TIMES]")
        server.add_rule(parts[0], parts[1], times=int(parts[2]) if len(parts) == 3 else None)
    server.start()
    print(f"chaos server on http://{server.host}:{server.port}")
    for p in wire.PROVIDERS:
        print(f"  {p:<10} base_url={server.url(p)}")
    print("faults: " + ", ".join(wire.FAULTS))
    print("stream faults: " + ", ".join(STREAM_FAULTS))
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
