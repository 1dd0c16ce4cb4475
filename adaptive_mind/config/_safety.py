"""Reading untrusted configuration safely: a bounded YAML loader and secret-free error text.

- :func:`load_yaml` is PyYAML's safe loader with a cap on what aliases expand to, so a
  "billion laughs" document (a few hundred bytes whose aliases expand to billions of nodes) is
  refused while it is parsed, before anything is built from it; an alias inside the node it
  names (a recursive document) is refused too.
- :func:`parse_error` words a YAML / TOML syntax error from its line and column only: PyYAML's
  message quotes a snippet of the offending line, which may hold a key.
- :func:`secrets_in` collects every string written where a secret goes; :func:`mask` and
  :func:`scrub` keep those (and anything shaped like an API key) out of error messages, even
  when a key is written as a mapping key or a provider name and so becomes part of a path.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.nodes import MappingNode, Node, SequenceNode

from adaptive_mind.config._dsn import dsn_passwords
from adaptive_mind.errors import ConfigError

MAX_YAML_NODES = 10_000
"""Nodes a YAML document may expand to, aliases counted at their full size."""
REDACTED = "[redacted]"
_SECRET_FIELDS = frozenset({"api_keys", "secret", "hash_key", "key"})
"""Where secrets are written: every string under these keys (mapping keys too) is one."""
_KEY_FIELDS = frozenset({"", "id", "secret", "rpm", "tpm"})
_PUBLIC_KEY_FIELDS = frozenset({"id", "rpm", "tpm"})
"""An API key entry's fields that are not secret (its id and budgets)."""
"""An ``{id, secret}`` entry's own field names, and its public id, are not secrets."""
_KEYLIKE = re.compile(r"\b(?:sk[-_]|AIza)[-_A-Za-z0-9]{8,}")
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_TOKEN = re.compile(r"[^\w\s]{1,3}|<[a-z ]{1,20}>")
_FRAGMENT = 8
"""A secret's fragment this long in a text counts as the secret."""


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that counts nodes as aliases expand them and stops at the cap."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}
        self._expanded = 0
        self._open: set[str] = set()

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        anchor: str | None = getattr(event, "anchor", None)
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            if anchor in self._open:
                raise ComposerError(None, None, "an alias refers to a node that contains it", mark)
            node = super().compose_node(parent, index)
            assert node is not None
            self._expanded += self._sizes.get(id(node), 1)
        else:
            if anchor is not None:
                self._open.add(anchor)
            node = super().compose_node(parent, index)
            assert node is not None
            if anchor is not None:
                self._open.discard(anchor)
            self._sizes[id(node)] = 1 + sum(self._sizes.get(id(c), 1) for c in _children(node))
            self._expanded += 1
        if self._expanded > MAX_YAML_NODES:
            raise ComposerError(
                None,
                None,
                f"the document expands to more than {MAX_YAML_NODES} nodes (aliases)",
                mark,
            )
        return node


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load_yaml(text: str) -> Any:
    """Parse one YAML document with the safe loader, refusing alias bombs.

    Raises:
        yaml.YAMLError: the text is not YAML, or its aliases expand past the cap.
    """
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def parse_error(path: Path, fmt: str, exc: BaseException) -> ConfigError:
    """A syntax error as ``<file>: not valid YAML at line L, column C: <problem>``.

    Never quotes the file: quoted text in the parser's problem is elided, the snippet is dropped.
    """
    where = ""
    problem = ""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = exc.problem or exc.context or ""
    elif isinstance(exc, tomllib.TOMLDecodeError):
        lineno, colno = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        if isinstance(lineno, int) and isinstance(colno, int):
            where = f" at line {lineno}, column {colno}"
        problem = str(getattr(exc, "msg", "") or "") if where else str(exc)
    elif isinstance(exc, RecursionError):
        problem = "nested too deeply"
    text = _QUOTED.sub(_token_or_elided, problem).strip()
    return ConfigError(f"{path}: not valid {fmt}{where}" + (f": {text}" if text else ""))


def _token_or_elided(m: re.Match[str]) -> str:
    """Keep a quoted parser token (``','``, ``'<scalar>'``); elide quoted text from the file."""
    return m.group() if _TOKEN.fullmatch(m.group()[1:-1]) else "'…'"


def secrets_in(data: object) -> frozenset[str]:
    """Every string written where a secret goes (``api_keys``, ``secret``, ``hash_key``, a
    scripted rule's ``key``, a ``dsn``'s or a Redis ``url``'s password), mapping keys included:
    ``api_keys: {sk-live-1: x}`` holds one."""
    found: set[str] = set()
    stack: list[tuple[object, bool]] = [(data, False)]
    seen: set[int] = set()
    while stack:
        value, secret = stack.pop()
        if isinstance(value, str):
            if secret and value and "${" not in value:  # a reference to the environment
                found.add(value)
            continue
        if isinstance(value, Mapping):
            for name in ("dsn", "url"):  # a ledger DSN, the state backend's Redis URL
                if isinstance(value.get(name), str):
                    found |= dsn_passwords(value[name])  # the password only: the rest may show
        if id(value) in seen:
            continue
        if isinstance(value, Mapping):
            seen.add(id(value))
            for k, v in value.items():
                if secret and isinstance(k, str) and k not in _KEY_FIELDS and "${" not in k:
                    found.add(k)
                stack.append((v, (secret and k not in _PUBLIC_KEY_FIELDS) or k in _SECRET_FIELDS))
        elif isinstance(value, list | tuple):
            seen.add(id(value))
            stack.extend((v, secret) for v in value)
        elif secret and hasattr(value, "get_secret_value"):  # a SecretStr passed in
            found.add(str(value.get_secret_value()))
    return frozenset(found)


def leaks(text: str, secrets: Iterable[str]) -> bool:
    """Whether ``text`` shows a secret: equal to one, holding a long one or an 8-character
    fragment of one, or shaped like an API key (``sk-…``, ``AIza…``)."""
    if _KEYLIKE.search(text):
        return True
    for s in secrets:
        if text == s or (len(s) >= 6 and s in text):
            return True
        if len(s) > _FRAGMENT and any(
            s[i : i + _FRAGMENT] in text for i in range(len(s) - _FRAGMENT + 1)
        ):
            return True
    return False


def mask(part: str, secrets: Iterable[str]) -> str:
    """One component of a dotted path, or ``[redacted]`` when it shows a secret."""
    return REDACTED if leaks(part, secrets) else part


def scrub(message: str, secrets: Iterable[str]) -> str:
    """A whole message with every quoted name that shows a secret, every configured secret of 6+
    characters and every key-shaped token replaced by ``[redacted]``."""
    secrets = tuple(secrets)
    message = _QUOTED.sub(
        lambda m: f"'{REDACTED}'" if leaks(m.group()[1:-1], secrets) else m.group(), message
    )
    for s in sorted(secrets, key=len, reverse=True):
        if len(s) >= 6:
            message = message.replace(s, REDACTED)
    return _KEYLIKE.sub(REDACTED, message)
