"""Thin pykka shells around the pure cores, one per module, plus the system's I/O loop."""
