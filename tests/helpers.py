"""Test helpers: scripted configs, and waiting for other threads by events, never by sleeping.

The reusable ones are public in :mod:`adaptive_mind.testing`; this module re-exports them.
"""

from __future__ import annotations

import threading
import time

from adaptive_mind.testing import EventLog, barrier, config, scripted, upstream

__all__ = ["USER", "EventLog", "barrier", "config", "join_new_threads", "scripted", "upstream"]

USER = [{"role": "user", "content": "hello"}]


def join_new_threads(before: set[threading.Thread], timeout: float = 5.0) -> None:
    """Join every thread started since ``before`` was taken; fail if one is still alive."""
    end = time.monotonic() + timeout
    for thread in set(threading.enumerate()) - before:
        thread.join(max(0.0, end - time.monotonic()))
        if thread.is_alive():
            raise AssertionError(f"thread leaked: {thread.name}")
