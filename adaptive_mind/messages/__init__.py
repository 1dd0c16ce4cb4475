"""Typed, immutable messages between actors (frozen dataclasses; no prompt copies).

Commands are imperative (``LeaseKey``), replies are nouns or past participles (``KeyLeased``).
"""

from adaptive_mind.core.walk_actions import ExhaustedReason
from adaptive_mind.messages.breaker import (
    AcquirePermit,
    GetBreakerState,
    PermitDenied,
    PermitGranted,
    RecordOutcome,
    ReleasePermit,
)
from adaptive_mind.messages.key_pool import (
    GetKeyStates,
    KeyLeased,
    KeyOutcomeRecorded,
    LeaseKey,
    NoKeyAvailable,
    ReleaseKey,
    ReportKeyOutcome,
)
from adaptive_mind.messages.ledger import FlushLedger, RequestFinished
from adaptive_mind.messages.provider import (
    SKIP_REASONS,
    AttemptFailed,
    CancelRequest,
    ConsequenceRecorded,
    ProviderExhausted,
    ProviderSucceeded,
    TryProvider,
)
from adaptive_mind.messages.request import (
    AsyncioReply,
    Complete,
    ReplyChannel,
    RequestSpec,
    ThreadReply,
)
from adaptive_mind.messages.state import ApplyTransition
from adaptive_mind.messages.supervision import ChildFailed, Crash, Ping

__all__ = [
    "SKIP_REASONS",
    "AcquirePermit",
    "ApplyTransition",
    "AsyncioReply",
    "AttemptFailed",
    "CancelRequest",
    "ChildFailed",
    "Complete",
    "ConsequenceRecorded",
    "Crash",
    "ExhaustedReason",
    "FlushLedger",
    "GetBreakerState",
    "GetKeyStates",
    "KeyLeased",
    "KeyOutcomeRecorded",
    "LeaseKey",
    "NoKeyAvailable",
    "PermitDenied",
    "PermitGranted",
    "Ping",
    "ProviderExhausted",
    "ProviderSucceeded",
    "RecordOutcome",
    "ReleaseKey",
    "ReleasePermit",
    "ReplyChannel",
    "ReportKeyOutcome",
    "RequestFinished",
    "RequestSpec",
    "ThreadReply",
    "TryProvider",
]
