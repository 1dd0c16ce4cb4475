"""Test helpers: scripted configs and waiting for another thread's state."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

USER = [{"role": "user", "content": "hello"}]


def scripted(api_keys: list[Any] | None = None, models: list[str] | None = None, **kw: Any) -> dict:
    """A scripted provider's config."""
    return {"kind": "scripted", "api_keys": api_keys or ["k1"], "models": models or ["m1"], **kw}


def config(providers: dict[str, dict], **kw: Any) -> dict:
    return {"providers": providers, "ledger": {"path": ":memory:"}, **kw}


def wait_until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for a condition another thread will make true (fails loudly on timeout)."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.001)
