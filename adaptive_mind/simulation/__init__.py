"""Chaos drills and the local chaos server: clients of the runtime, like a user's code."""
