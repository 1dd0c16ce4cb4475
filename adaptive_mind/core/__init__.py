"""Pure state machines with no threads: the breaker, the key pool, request bookkeeping."""
