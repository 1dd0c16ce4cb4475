"""``@record``: value types that hash and compare by value, carry no ``__dict__``, and that the
type checker treats as frozen."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from adaptive_mind.messages import AcquirePermit
from adaptive_mind.records import field, record


@record
class _Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = field(default=())


def test_a_record_compares_and_hashes_by_value_and_has_no_dict():
    a, b = _Point(1, 2), _Point(1, 2)
    assert a == b and hash(a) == hash(b) and a != _Point(2, 1)
    assert len({a, b, _Point(3)}) == 2
    assert not hasattr(a, "__dict__")  # slotted


def test_the_runtime_messages_are_records():
    m = AcquirePermit("r1", "reply")  # type: ignore[arg-type]
    assert m == AcquirePermit("r1", "reply")  # type: ignore[arg-type]
    assert not hasattr(m, "__dict__")


def test_the_type_checker_refuses_assigning_a_field(tmp_path):
    src = tmp_path / "assign.py"
    src.write_text(
        textwrap.dedent(
            """
            from adaptive_mind.records import record

            @record
            class P:
                x: int

            P(1).x = 2
            """
        )
    )
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(src)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and 'Property "x" defined in "P" is read-only' in out.stdout
