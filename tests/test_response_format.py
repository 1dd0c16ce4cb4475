"""``response_format`` at admission: every invalid shape is refused naming the field, before any
upstream call; a valid one reaches the adapter as a read-only copy."""

import asyncio

import pytest

import adaptive_mind as am
from tests.helpers import USER, config, scripted, upstream

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}

INVALID = [
    ("text", "response_format"),
    (["json_object"], "response_format"),
    ({}, "response_format.type"),
    ({"type": "json"}, "response_format.type"),
    ({"type": 1}, "response_format.type"),
    ({"type": "text", "json_schema": {}}, "response_format.'json_schema'"),
    ({"type": "json_object", "schema": SCHEMA}, "response_format.'schema'"),
    ({"type": "json_schema"}, "response_format.json_schema"),
    ({"type": "json_schema", "json_schema": "x"}, "response_format.json_schema"),
    (
        {"type": "json_schema", "json_schema": {"schema": SCHEMA}},
        "response_format.json_schema.name",
    ),
    (
        {"type": "json_schema", "json_schema": {"name": "has space", "schema": SCHEMA}},
        "response_format.json_schema.name",
    ),
    (
        {"type": "json_schema", "json_schema": {"name": "x" * 65, "schema": SCHEMA}},
        "response_format.json_schema.name",
    ),
    ({"type": "json_schema", "json_schema": {"name": "n"}}, "response_format.json_schema.schema"),
    (
        {"type": "json_schema", "json_schema": {"name": "n", "schema": "{}"}},
        "response_format.json_schema.schema",
    ),
    (
        {"type": "json_schema", "json_schema": {"name": "n", "schema": [SCHEMA]}},
        "response_format.json_schema.schema",
    ),
    (
        {"type": "json_schema", "json_schema": {"name": "n", "schema": {1: "x"}}},
        "response_format.json_schema.schema",
    ),
    (
        {"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA, "strict": "yes"}},
        "response_format.json_schema.strict",
    ),
    (
        {"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA, "strict": 1}},
        "response_format.json_schema.strict",
    ),
    (
        {"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA, "extra": 1}},
        "response_format.json_schema.'extra'",
    ),
    (
        {"type": "json_schema", "json_schema": {"name": "n", "schema": {"x": object()}}},
        "response_format.json_schema.schema",
    ),
    (
        {"type": "json_schema", "json_schema": {"name": "n", "schema": {"x": float("nan")}}},
        "response_format.json_schema.schema",
    ),
    (  # a schema the JSON Schema meta-schema rejects
        {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "objekt"}}},
        "response_format.json_schema.schema.type",
    ),
    (
        {"type": "json_schema", "json_schema": {"name": "n", "schema": {"required": "a"}}},
        "response_format.json_schema.schema.required",
    ),
]


@pytest.fixture
def system(start):
    return start(config({"a": scripted(), "b": scripted(["k2"])}))


def calls(system):
    return sum(a.calls for a in system._tree.adapters.values())


@pytest.mark.parametrize(
    ("value", "field"), INVALID, ids=[f"{i}-{f}" for i, (_, f) in enumerate(INVALID)]
)
def test_every_invalid_response_format_is_refused_naming_it_before_any_call(system, value, field):
    with pytest.raises(am.BadRequestError) as info:
        system.complete(USER, response_format=value)
    assert str(info.value).startswith(f"{field}:"), str(info.value)
    assert info.value.request_id is None
    with pytest.raises(am.BadRequestError):
        asyncio.run(system.acomplete(USER, response_format=value))
    assert calls(system) == 0


def test_a_valid_response_format_reaches_the_adapter_as_a_private_copy(system):
    seen = []
    adapter = upstream(system, "a")
    original = adapter.complete

    async def spy(call):
        seen.append(call.params)
        return await original(call)

    adapter.complete = spy
    fmt = {"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA, "strict": True}}
    reply = system.complete(USER, response_format=fmt)  # the scripted answer is JSON now
    assert isinstance(reply.parsed, dict)
    fmt["json_schema"]["name"] = "changed later"
    params = seen[0]
    assert params.response_format["json_schema"]["name"] == "n"
    assert params.json_mode == "json_schema" and params.json_schema == SCHEMA
    with pytest.raises(TypeError):
        params.response_format["type"] = "text"  # type: ignore[index]
    seen.clear()
    reply = system.complete(USER, response_format={"type": "text"})
    assert reply.parsed is None and seen[0].json_mode is None


def test_the_scripted_provider_answers_a_json_request_with_schema_valid_json(start):
    from tests.helpers import config, scripted

    system = start(config({"s": scripted()}))
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "tag": {"type": "string"}},
        "required": ["n", "tag"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    reply = system.complete([{"role": "user", "content": "hi"}], response_format=fmt)
    assert reply.parsed == {"n": 1, "tag": "x"}
    assert system.complete([{"role": "user", "content": "hi"}]).parsed is None


STRICT = {
    "type": "json_schema",
    "json_schema": {
        "name": "x",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "required": ["n"],
            "additionalProperties": False,
        },
    },
}


def test_json_that_breaks_a_strict_schema_fails_over_and_names_no_value(start):
    from tests.helpers import config, scripted

    system = start(
        config({"a": scripted(text='{"n": "secret-ish"}'), "b": scripted(["k2"], text='{"n": 4}')})
    )
    reply = system.complete(USER, response_format=STRICT)
    assert reply.provider == "b" and reply.parsed == {"n": 4}
    first = reply.attempts[0]
    assert first.provider == "a" and first.status_code == 200
    assert first.error == (
        "invalid JSON: the answer does not match the strict schema (at n: type failed)"
    )
    assert "secret-ish" not in first.error
    # Without strict, the same answer is accepted as it is.
    loose = {**STRICT, "json_schema": {**STRICT["json_schema"], "strict": False}}
    assert system.complete(USER, response_format=loose).parsed == {"n": "secret-ish"}


def test_every_provider_answering_invalid_json_is_an_invalid_output_error(start, tmp_path):
    from tests.helpers import config, scripted

    cfg = config({"a": scripted(text="prose"), "b": scripted(["k2"], text='{"m": 1}')})
    cfg["ledger"] = {"path": str(tmp_path / "l.db")}
    system = start(cfg)
    with pytest.raises(am.InvalidOutputError) as info:
        system.complete(USER, response_format=STRICT)
    assert isinstance(info.value, am.AllProvidersFailedError)
    assert [a.error.split(":")[0] for a in info.value.attempts] == ["invalid JSON"] * 2
    system.stop()
    with am.Ledger.open(tmp_path / "l.db") as ledger:
        assert ledger.get(info.value.request_id).error_category == "INVALID_OUTPUT"
