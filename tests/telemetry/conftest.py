"""PostgreSQL for the ledger tests: a fresh schema per test in the database CI provides.

``ADAPTIVE_MIND_TEST_PG_DSN`` (a ``postgresql://`` URI; ``.ci/run`` always sets it) names a
database the tests may create schemas in. Tests that need it are skipped only when it is unset.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_DSN_ENV = "ADAPTIVE_MIND_TEST_PG_DSN"


def in_schema(dsn: str, schema: str) -> str:
    """``dsn`` with its ``search_path`` set to ``schema`` (where the ledger tables go)."""
    return dsn + ("&" if "?" in dsn else "?") + f"options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A DSN whose ledger tables land in a new, empty schema (dropped afterwards)."""
    base = os.environ.get(PG_DSN_ENV)
    if not base:
        pytest.skip(f"{PG_DSN_ENV} is not set (no PostgreSQL for this run)")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield in_schema(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
