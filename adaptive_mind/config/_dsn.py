"""Connection strings (PostgreSQL DSNs, Redis URLs): telling one from a path, and keeping their
passwords out of text.

A DSN is a URI (``postgresql://user:password@host:5432/db?sslmode=require``, or ``postgres://``)
or libpq's ``key=value`` form (``host=db user=am password=…``). Its password may sit in the URI's
user info, in a ``password=`` query parameter, or in a ``password=`` pair; :func:`dsn_passwords`
finds all of them (raw and percent-decoded) so :func:`scrub_dsn` can remove them from any text,
and :func:`redact_dsn` gives a DSN fit for logs and errors.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

SCHEMES = ("postgresql://", "postgres://")
MASK = "***"
_PAIR = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)")
_USERINFO = re.compile(r"^([a-z]+://[^:@/?#]*:)([^@/?#]*)(@)", re.IGNORECASE)


def is_postgres_dsn(text: str) -> bool:
    """Whether ``text`` is a PostgreSQL URI (what ``Ledger.open`` and the CLI take for a DSN)."""
    return text.strip().lower().startswith(SCHEMES)


def dsn_passwords(dsn: str) -> frozenset[str]:
    """Every password written in ``dsn`` (empty when it has none), raw and percent-decoded."""
    found: set[str] = set()
    m = _USERINFO.match(dsn.strip())
    if m and m.group(2):
        found.add(m.group(2))
    if "://" in dsn:  # any URL (a Redis URL too): its user info may hold a password
        try:
            password = urlsplit(dsn.strip()).password
        except ValueError:
            password = None
        if password:
            found.add(password)
    for pm in _PAIR.finditer(dsn):
        value = pm.group(2)
        if value:
            found.add(value)
            if value.startswith("'") and value.endswith("'") and len(value) >= 2:
                found.add(value[1:-1].replace("\\'", "'").replace("\\\\", "\\"))
    found |= {unquote(p) for p in found}
    return frozenset(p for p in found if p)


def redact_dsn(dsn: str) -> str:
    """``dsn`` with every password replaced by ``***`` (host, port, user and database kept)."""
    text = _USERINFO.sub(lambda m: m.group(1) + (MASK if m.group(2) else "") + m.group(3), dsn)
    text = _PAIR.sub(lambda m: m.group(1) + MASK, text)
    return scrub_dsn(text, dsn)


def scrub_dsn(text: str, dsn: str) -> str:
    """``text`` (an error message, say) with ``dsn``'s passwords replaced by ``***``."""
    for password in sorted(dsn_passwords(dsn), key=len, reverse=True):
        text = text.replace(password, MASK)
    return text
