"""Helpers every real adapter shares: Retry-After parsing and secret-free error text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from adaptive_mind.providers.redact import MARKER, Redactor

_KEYLIKE = re.compile(r"\b(?:sk|sk-ant|sk-proj|AIza|key)[-_A-Za-z0-9*.]{6,}")
_TAG = re.compile(r"<[^>]{0,200}>")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
MAX_ERROR_CHARS = 200


def retry_after_from_headers(headers: Mapping[str, Any] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except (TypeError, ValueError):
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        when = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retry_delay_from_google_details(details: Iterable[Any] | None) -> float | None:
    """Seconds from a google.rpc ``RetryInfo.retryDelay`` such as ``"47s"`` or ``"1.5s"``."""
    for d in details or ():
        if isinstance(d, Mapping) and str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            m = _DURATION.match(str(d.get("retryDelay", "")))
            if m:
                return float(m.group(1))
    return None


def daily_quota_exhausted(details: Iterable[Any] | None) -> bool:
    """Whether a google.rpc ``QuotaFailure`` names a per-day quota (it will not recover soon)."""
    for d in details or ():
        if isinstance(d, Mapping) and str(d.get("@type", "")).endswith("google.rpc.QuotaFailure"):
            for v in d.get("violations") or ():
                if isinstance(v, Mapping) and "PerDay" in str(v.get("quotaId", "")):
                    return True
    return False


def error_text(text: str, redactor: Redactor) -> str:
    """Upstream error or refusal text made safe to store and show: one line, short, secret-free.

    The configured secrets go first (any long fragment, across markup); then anything shaped
    like an API key (someone else's key, or one this system does not know), markup and runs of
    whitespace.
    """
    text = redactor(text)
    text = _KEYLIKE.sub(MARKER, text)
    text = _TAG.sub(" ", text)  # a proxy's HTML error page
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
