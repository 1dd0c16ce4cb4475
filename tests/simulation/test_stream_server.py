"""The chaos server's streams on the wire: each provider's SSE framing, the ending, the stream
faults, and which requests a stream rule matches (raw HTTP, no SDK)."""

import json

import httpx2
import pytest

from adaptive_mind.simulation.wire_stream import pieces

OPENAI = ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
ANTHROPIC = (
    "/v1/messages",
    {"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
)
GEMINI = ("/v1/models/g:streamGenerateContent?alt=sse", {"contents": [{"parts": [{"text": "hi"}]}]})


def post(server, path, body, stream=True):
    """The response's status and its SSE events as ``(event name, data)`` pairs."""
    if stream and "stream" not in path:
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    resp = httpx2.post(f"http://{server.host}:{server.port}{path}", json=body, timeout=5)
    events: list[tuple[str | None, str]] = []
    if resp.headers.get("content-type") != "text/event-stream":
        return resp, events
    for block in resp.text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines.get("event"), lines["data"]))
    return resp, events


def test_pieces_concatenate_back_to_the_text():
    for text in ["Hello from the chaos server.", "  two  spaces ", "", "one"]:
        assert "".join(pieces(text)) == text


def test_openai_streams_chunks_then_usage_then_done(server):
    resp, events = post(server, *OPENAI)
    assert resp.status_code == 200 and resp.headers["content-type"] == "text/event-stream"
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == server.text
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5


def test_openai_without_include_usage_sends_no_usage_chunk(server):
    path, body = OPENAI
    _, events = post(server, path, {**body, "stream": True}, stream=False)
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert all(c["choices"] for c in chunks) and all("usage" not in c for c in chunks)


def test_anthropic_streams_its_named_events(server):
    _, events = post(server, *ANTHROPIC)
    names = [n for n, _ in events]
    assert names[:2] == ["message_start", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    data = [json.loads(d) for _, d in events]
    deltas = [d["delta"] for d in data if d["type"] == "content_block_delta"]
    assert {d["type"] for d in deltas} == {"text_delta"}
    assert "".join(d["text"] for d in deltas) == server.text
    assert data[-2]["delta"]["stop_reason"] == "end_turn"


def test_anthropic_streams_a_tool_call_as_input_json_deltas(server):
    path, body = ANTHROPIC
    tool = {
        "name": "t",
        "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}},
    }
    _, events = post(server, path, {**body, "tools": [tool]})
    data = [json.loads(d) for _, d in events]
    start = next(d for d in data if d["type"] == "content_block_start")
    assert start["content_block"]["type"] == "tool_use" and start["content_block"]["input"] == {}
    pieces_ = [d["delta"]["partial_json"] for d in data if d["type"] == "content_block_delta"]
    assert len(pieces_) > 1 and isinstance(json.loads("".join(pieces_)), dict)
    assert data[-2]["delta"]["stop_reason"] == "tool_use"


def test_gemini_streams_generate_content_responses(server):
    _, events = post(server, *GEMINI)
    data = [json.loads(d) for _, d in events]
    texts = [p.get("text", "") for d in data for p in d["candidates"][0]["content"]["parts"]]
    assert "".join(texts) == server.text
    assert [d["candidates"][0].get("finishReason") for d in data][-1] == "STOP"
    assert "usageMetadata" in data[-1] and all(
        "finishReason" not in d["candidates"][0] for d in data[:-1]
    )


@pytest.mark.parametrize("route", [OPENAI, ANTHROPIC, GEMINI])
def test_no_terminator_leaves_out_the_ending(server, route):
    server.add_rule(None, "stream_no_terminator")
    resp, _ = post(server, *route)
    assert resp.status_code == 200
    raw = resp.text
    for ending in ("[DONE]", "message_stop", "message_delta", 'finish_reason": "stop', "STOP"):
        assert ending not in raw
    assert server.streams.wait("completed", 1)  # the server ended it cleanly


@pytest.mark.parametrize("route", [OPENAI, ANTHROPIC, GEMINI])
def test_a_malformed_chunk_is_a_data_line_that_is_not_json(server, route):
    server.add_rule(None, "stream_malformed", after_chunks=1)
    _, events = post(server, *route)
    bad = []
    for _, d in events:
        try:
            json.loads(d)
        except ValueError:
            bad.append(d)
    assert len(bad) == (2 if route is OPENAI else 1)  # OpenAI's [DONE] is not JSON either


def test_an_error_fault_answers_a_streamed_request_with_its_status(server):
    server.add_rule("openai", "rate_limit", retry_after_s=2)
    resp, _ = post(server, *OPENAI)
    assert resp.status_code == 429 and resp.headers["retry-after"] == "2"
    assert server.streams.count() == 0


def test_a_stream_rule_does_not_match_a_plain_request(server):
    rule = server.add_rule("openai", "stream_cut", times=1)
    path, body = OPENAI
    resp = httpx2.post(f"http://{server.host}:{server.port}{path}", json=body, timeout=5)
    assert resp.status_code == 200 and resp.json()["object"] == "chat.completion"
    assert rule.used == 0  # still there for the next streamed request
    with pytest.raises(httpx2.RemoteProtocolError):  # the body never ends
        post(server, *OPENAI)
    assert rule.used == 1 and server.streams.records()[0].outcome == "cut"


def test_reject_prefill_refuses_only_a_request_ending_with_the_assistant(server):
    server.add_rule("anthropic", "reject_prefill")
    path, body = ANTHROPIC
    prefilled = {**body, "messages": [*body["messages"], {"role": "assistant", "content": "He"}]}
    resp, _ = post(server, path, prefilled)
    assert resp.status_code == 400 and "prefill" in resp.json()["error"]["message"]
    resp, _ = post(server, *ANTHROPIC)
    assert resp.status_code == 200
    assert [h.outcome for h in server.hits()] == ["reject_prefill", "ok"]


def test_an_unknown_fault_and_a_negative_after_chunks_are_refused(server):
    with pytest.raises(ValueError, match="stream_cut"):
        server.add_rule("openai", "nope")
    with pytest.raises(ValueError, match="after_chunks"):
        server.add_rule("openai", "stream_cut", after_chunks=-1)
