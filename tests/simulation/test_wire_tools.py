"""The chaos server's tool calls, image parts and usage fields, through the real SDKs.

Each SDK parses the server's answer into its own types: OpenAI ``message.tool_calls``, an
Anthropic ``ToolUseBlock``, Gemini ``function_calls``.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import openai
from anthropic.types import TextBlock, ToolUseBlock
from google import genai
from google.genai import types

from adaptive_mind.simulation.server import ChaosServer

KEY = "sk-wire-tools-0123456789"
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
}
CLOCK = {"type": "object", "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}}}
PIXEL = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@asynccontextmanager
async def openai_client(server: ChaosServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(api_key=KEY, base_url=server.url("openai"), max_retries=0)
    try:
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def anthropic_client(server: ChaosServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(api_key=KEY, base_url=server.url("anthropic"), max_retries=0)
    try:
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def gemini_client(server: ChaosServer) -> AsyncIterator[genai.Client]:
    options = types.HttpOptions(
        base_url=server.url("gemini"), retry_options=types.HttpRetryOptions(attempts=1)
    )
    client = genai.Client(api_key=KEY, http_options=options)
    try:
        yield client
    finally:
        await client.aio.aclose()


def run(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run one SDK call (a fresh client per call: each asyncio.run has its own loop)."""
    return asyncio.run(make())


OPENAI_TOOLS = [
    {"type": "function", "function": {"name": "weather", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "clock", "parameters": CLOCK}},
]
ANTHROPIC_TOOLS = [
    {"name": "weather", "input_schema": WEATHER},
    {"name": "clock", "input_schema": CLOCK},
]
GEMINI_TOOLS = [
    types.Tool(
        function_declarations=[
            types.FunctionDeclaration(name="weather", parameters_json_schema=WEATHER),
            types.FunctionDeclaration(name="clock", parameters_json_schema=CLOCK),
        ]
    )
]
USER = {"role": "user", "content": "What is the weather in Paris?"}


# -- OpenAI ---------------------------------------------------------------------------------


async def openai_chat(server: ChaosServer, messages: list[dict[str, Any]], **kw: Any) -> Any:
    async with openai_client(server) as client:
        return await client.chat.completions.create(model="gpt-x", messages=messages, **kw)


def test_openai_tool_call_is_parsed_into_message_tool_calls(server: ChaosServer) -> None:
    resp = run(lambda: openai_chat(server, [USER], tools=OPENAI_TOOLS))
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "weather"
    assert json.loads(call.function.arguments) == {"city": "x", "days": 1}


def test_openai_named_tool_choice_forces_that_tool(server: ChaosServer) -> None:
    choice = {"type": "function", "function": {"name": "clock"}}
    resp = run(lambda: openai_chat(server, [USER], tools=OPENAI_TOOLS, tool_choice=choice))
    (call,) = resp.choices[0].message.tool_calls
    assert call.function.name == "clock"
    assert json.loads(call.function.arguments) == {"zone": "UTC"}


def test_openai_tool_choice_none_answers_text(server: ChaosServer) -> None:
    resp = run(lambda: openai_chat(server, [USER], tools=OPENAI_TOOLS, tool_choice="none"))
    assert resp.choices[0].finish_reason == "stop"
    assert resp.choices[0].message.tool_calls is None
    assert resp.choices[0].message.content == server.text


def test_openai_multi_turn_tool_conversation_acknowledges_the_result(
    server: ChaosServer,
) -> None:
    call = {"id": "call_abc", "type": "function", "function": {"name": "weather"}}
    call["function"]["arguments"] = '{"city": "Paris", "days": 1}'
    messages = [
        {"role": "system", "content": "Be brief."},
        USER,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "Sunny, 21 degrees all day long"},
    ]
    resp = run(lambda: openai_chat(server, messages, tools=OPENAI_TOOLS))
    assert resp.choices[0].finish_reason == "stop"
    assert resp.choices[0].message.content == (
        "Tool result received: Sunny, 21 degrees all day long"
    )
    assert [h.outcome for h in server.hits()] == ["ok"]


def test_openai_image_parts_are_accepted_and_counted(server: ChaosServer) -> None:
    content = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
    ]
    resp = run(lambda: openai_chat(server, [{"role": "user", "content": content}]))
    assert resp.choices[0].message.content == server.text
    assert resp.usage.prompt_tokens == 3


def test_openai_usage_reports_cached_and_reasoning_tokens(server: ChaosServer) -> None:
    plain = run(lambda: openai_chat(server, [USER])).usage
    assert plain.prompt_tokens_details.cached_tokens == 0
    assert plain.completion_tokens_details.reasoning_tokens == 0
    thought = run(lambda: openai_chat(server, [USER], reasoning_effort="low")).usage
    assert thought.completion_tokens_details.reasoning_tokens > 0
    assert thought.completion_tokens == plain.completion_tokens + (
        thought.completion_tokens_details.reasoning_tokens
    )


# -- Anthropic ------------------------------------------------------------------------------


async def anthropic_chat(server: ChaosServer, messages: list[dict[str, Any]], **kw: Any) -> Any:
    async with anthropic_client(server) as client:
        kw.setdefault("max_tokens", 256)
        return await client.messages.create(model="claude-x", messages=messages, **kw)


def test_anthropic_tool_call_is_parsed_into_a_tool_use_block(server: ChaosServer) -> None:
    resp = run(lambda: anthropic_chat(server, [USER], tools=ANTHROPIC_TOOLS))
    assert resp.stop_reason == "tool_use"
    (block,) = resp.content
    assert isinstance(block, ToolUseBlock)
    assert block.id.startswith("toolu_") and block.name == "weather"
    assert block.input == {"city": "x", "days": 1}


def test_anthropic_forced_tool_and_none(server: ChaosServer) -> None:
    forced = {"type": "tool", "name": "clock"}
    resp = run(lambda: anthropic_chat(server, [USER], tools=ANTHROPIC_TOOLS, tool_choice=forced))
    assert isinstance(resp.content[0], ToolUseBlock) and resp.content[0].name == "clock"
    none = {"type": "none"}
    resp = run(lambda: anthropic_chat(server, [USER], tools=ANTHROPIC_TOOLS, tool_choice=none))
    assert resp.stop_reason == "end_turn"
    assert isinstance(resp.content[0], TextBlock) and resp.content[0].text == server.text


def test_anthropic_multi_turn_tool_conversation_acknowledges_the_result(
    server: ChaosServer,
) -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny, 21 degrees"}
    messages = [
        USER,
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, use]},
        {"role": "user", "content": [result]},
    ]
    resp = run(lambda: anthropic_chat(server, messages, tools=ANTHROPIC_TOOLS))
    assert resp.stop_reason == "end_turn"
    assert resp.content[0].text == "Tool result received: Sunny, 21 degrees"
    # a user prompt after the results, in the same turn: a new question, so a tool call
    messages[-1]["content"].append({"type": "text", "text": "And tomorrow?"})
    resp = run(lambda: anthropic_chat(server, messages, tools=ANTHROPIC_TOOLS))
    assert resp.stop_reason == "tool_use"
    assert [h.outcome for h in server.hits()] == ["ok", "ok"]


def test_anthropic_image_blocks_are_accepted_and_counted(server: ChaosServer) -> None:
    content = [
        {"type": "text", "text": "Describe"},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
        },
    ]
    resp = run(lambda: anthropic_chat(server, [{"role": "user", "content": content}]))
    assert resp.content[0].text == server.text
    assert resp.usage.input_tokens == 3


def test_anthropic_usage_reports_cache_reads(server: ChaosServer) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    resp = run(lambda: anthropic_chat(server, [USER], max_tokens=2048, thinking=thinking))
    assert resp.usage.cache_read_input_tokens == 0


# -- Gemini ---------------------------------------------------------------------------------


async def gemini_chat(
    server: ChaosServer, contents: Any, config: types.GenerateContentConfig | None = None
) -> Any:
    async with gemini_client(server) as client:
        return await client.aio.models.generate_content(
            model="gemini-x", contents=contents, config=config
        )


def gemini_config(mode: str | None = None, names: list[str] | None = None) -> Any:
    tool_config = None
    if mode is not None:
        calling = types.FunctionCallingConfig(mode=mode, allowed_function_names=names)
        tool_config = types.ToolConfig(function_calling_config=calling)
    return types.GenerateContentConfig(tools=GEMINI_TOOLS, tool_config=tool_config)


def test_gemini_tool_call_is_parsed_into_function_calls(server: ChaosServer) -> None:
    resp = run(lambda: gemini_chat(server, "What is the weather?", gemini_config()))
    (call,) = resp.function_calls
    assert call.name == "weather" and call.args == {"city": "x", "days": 1}
    assert call.id
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP


def test_gemini_allowed_function_names_force_and_mode_none_answers_text(
    server: ChaosServer,
) -> None:
    resp = run(lambda: gemini_chat(server, "Time?", gemini_config("ANY", ["clock"])))
    assert [c.name for c in resp.function_calls] == ["clock"]
    resp = run(lambda: gemini_chat(server, "Time?", gemini_config("NONE")))
    assert resp.function_calls is None and resp.text == server.text


def test_gemini_multi_turn_tool_conversation_acknowledges_the_result(
    server: ChaosServer,
) -> None:
    call = types.FunctionCall(id="call_1", name="weather", args={"city": "Paris"})
    answer = types.FunctionResponse(id="call_1", name="weather", response={"result": "Rain"})
    contents = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
        types.Content(
            role="model", parts=[types.Part(text="Checking."), types.Part(function_call=call)]
        ),
        types.Content(role="user", parts=[types.Part(function_response=answer)]),
    ]
    resp = run(lambda: gemini_chat(server, contents, gemini_config()))
    assert resp.function_calls is None
    assert resp.text == "Tool result received: Rain"
    contents[-1].parts.append(types.Part(text="And tomorrow?"))  # a new question: a call
    resp = run(lambda: gemini_chat(server, contents, gemini_config()))
    assert [c.name for c in resp.function_calls] == ["weather"]
    assert [h.outcome for h in server.hits()] == ["ok", "ok"]


def test_gemini_image_parts_are_accepted_and_counted(server: ChaosServer) -> None:
    parts = [
        types.Part(text="Describe"),
        types.Part(inline_data=types.Blob(mime_type="image/png", data=b"\x89PNG")),
        types.Part(
            file_data=types.FileData(file_uri="https://example.com/a.png", mime_type="image/png")
        ),
    ]
    resp = run(lambda: gemini_chat(server, [types.Content(role="user", parts=parts)]))
    assert resp.text == server.text
    assert resp.usage_metadata.prompt_token_count == 3


def test_gemini_usage_reports_cached_and_thought_tokens(server: ChaosServer) -> None:
    plain = run(lambda: gemini_chat(server, "Hi")).usage_metadata
    assert plain.cached_content_token_count == 0 and plain.thoughts_token_count is None
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=1024))
    thought = run(lambda: gemini_chat(server, "Hi", config)).usage_metadata
    assert thought.thoughts_token_count > 0
    assert thought.total_token_count == (
        thought.prompt_token_count + thought.candidates_token_count + thought.thoughts_token_count
    )


def test_an_echoing_rule_writes_the_key_beside_the_tool_call(server: ChaosServer) -> None:
    server.add_rule("anthropic", "ok", echo="full")
    resp = run(lambda: anthropic_chat(server, [USER], tools=ANTHROPIC_TOOLS))
    text, call = resp.content
    assert isinstance(text, TextBlock) and KEY in text.text
    assert isinstance(call, ToolUseBlock) and call.name == "weather"
