"""Health state shared by replicas: the backend protocol, ``memory`` (default) and ``redis``.

The key pools and breakers stay the owners of their state; a backend carries their transitions
to the other replicas and back (see :mod:`adaptive_mind.core.shared_state`).
"""

from adaptive_mind.state.backend import MemoryBackend, StateBackend, Subscriber, build_backend

__all__ = ["MemoryBackend", "StateBackend", "Subscriber", "build_backend"]
