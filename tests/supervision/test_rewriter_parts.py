"""The rewriter on multi-part and tool conversations: text parts only, tool turns untouched."""

import asyncio
import re
import types

import pytest

import adaptive_mind as am
from adaptive_mind.chat import FunctionCall, ImagePart, ImageURL, TextPart, ToolCall
from adaptive_mind.supervision.rewriter import (
    RewriteContext,
    RewriteFailed,
    rewritable_text,
    run_rewrite,
    with_text,
)

CAT = ImagePart(image_url=ImageURL(url="https://example.com/cat.png", detail="high"))
DOT = ImagePart(image_url=ImageURL(url="data:image/png;base64,iVBORw0KGgo="))
CALL = ToolCall(id="call_1", function=FunctionCall(name="lookup", arguments='{"q":"x"}'))
CTX = RewriteContext(parent_request_id="r0", deadline_s=5.0)


def msg(role, content=None, **kw):
    return am.ChatMessage(role=role, content=content, **kw)


def tool_history(last_user):
    return [
        msg("system", "be kind"),
        msg("user", "earlier"),
        msg("assistant", None, tool_calls=(CALL,)),
        msg("tool", "result text", tool_call_id="call_1"),
        msg("assistant", "ok"),
        last_user,
    ]


def bound(answer=" rewritten "):
    sent = []

    async def complete(prompt, **kw):
        sent.append(prompt)
        return types.SimpleNamespace(text=answer)

    rewriter = am.LLMRewriter("rw", "m1")
    rewriter.bind(complete)
    return rewriter, sent


def fenced_message(prompt):
    system, user = prompt
    token = re.search(r"<<<MESSAGE ([0-9a-f]{16})>>>", system.content).group(1)
    body = re.search(rf"<<<MESSAGE {token}>>>\n(.*)\n<<<END MESSAGE {token}>>>", user.content, re.S)
    return body.group(1)


def test_text_parts_are_rewritten_and_images_stay_in_place():
    last = msg(
        "user", (TextPart(text="what is"), CAT, TextPart(text="doing here?"), DOT), name="ann"
    )
    history = tool_history(last)
    rewriter, sent = bound()
    out = asyncio.run(rewriter.rewrite(history, "policy"))
    assert fenced_message(sent[0]) == "what is\ndoing here?"  # the text only, no image data
    assert "base64" not in sent[0][1].content and "cat.png" not in sent[0][1].content
    assert out[:-1] == tuple(history[:-1])  # every other turn, tool turns included, as is
    assert out[-1].role == "user" and out[-1].name == "ann"
    assert out[-1].content == (TextPart(text="rewritten"), CAT, DOT)
    assert out[-1].images == (CAT, DOT)


def test_string_content_stays_a_string():
    history = tool_history(msg("user", "refused text"))
    rewriter, sent = bound()
    out = asyncio.run(rewriter.rewrite(history, "policy"))
    assert fenced_message(sent[0]) == "refused text"
    assert out == (*history[:-1], msg("user", "rewritten"))


def test_a_conversation_ending_in_tool_turns_rewrites_the_last_user_turn_only():
    history = [
        msg("user", "first"),
        msg("user", (CAT, TextPart(text="look it up"))),
        msg("assistant", "let me check", tool_calls=(CALL,)),
        msg("tool", (TextPart(text="found"),), tool_call_id="call_1"),
    ]
    rewriter, sent = bound()
    out = asyncio.run(run_rewrite(rewriter, history, "policy", CTX))
    assert fenced_message(sent[0]) == "look it up"
    assert len(out) == len(history)
    assert out[0] == history[0] and out[2:] == tuple(history[2:])
    assert out[1].content == (CAT, TextPart(text="rewritten"))


@pytest.mark.parametrize(
    "content", [None, (CAT,), (CAT, DOT)], ids=["none", "one-image", "two-images"]
)
def test_a_last_user_turn_without_text_cannot_be_rewritten(content):
    rewriter, sent = bound()
    with pytest.raises(RewriteFailed, match="no text to rewrite"):
        asyncio.run(run_rewrite(rewriter, tool_history(msg("user", content)), "policy", CTX))
    assert sent == []  # no request was made


def test_helpers():
    assert rewritable_text(msg("user", (TextPart(text="a"), CAT, TextPart(text="b")))) == "a\nb"
    assert rewritable_text(msg("user", (CAT, TextPart(text=" ")))) == " "  # blank is text
    assert with_text(msg("user", None), "x").content == "x"
    assert with_text(msg("user", (CAT,)), "x").content == (TextPart(text="x"), CAT)


class Mangler:
    """A custom rewriter that rewrites what it should not."""

    def __init__(self, change):
        self.change = change

    async def rewrite(self, messages, refusal):
        return self.change(list(messages))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda ms: [m for m in ms if m.role != "tool"], id="drops-a-tool-turn"),
        pytest.param(
            lambda ms: [*ms[:4], msg("tool", "again", tool_call_id="call_1"), *ms[4:]],
            id="adds-a-tool-turn",
        ),
        pytest.param(
            lambda ms: [*ms[:3], msg("tool", "made up", tool_call_id="call_1"), *ms[4:]],
            id="rewrites-a-tool-turn",
        ),
        pytest.param(
            lambda ms: [*ms[:2], msg("assistant", None, tool_calls=None), *ms[3:]],
            id="drops-the-tool-calls",
        ),
        pytest.param(
            lambda ms: [
                *ms[:4],
                msg("assistant", "ok", tool_calls=(CALL,)),
                *ms[5:],
            ],
            id="invents-tool-calls",
        ),
    ],
)
def test_run_rewrite_refuses_a_result_that_changes_tool_turns(change):
    history = tool_history(msg("user", "refused"))
    with pytest.raises(RewriteFailed, match="tool calls or tool turns"):
        asyncio.run(run_rewrite(Mangler(change), history, "policy", CTX))


def test_run_rewrite_accepts_a_custom_rewrite_of_user_parts():
    history = tool_history(msg("user", (TextPart(text="refused"), CAT)))

    def change(ms):
        return [*ms[:-1], msg("user", (CAT, TextPart(text="polite")))]

    out = asyncio.run(run_rewrite(Mangler(change), history, "policy", CTX))
    assert out[-1].text == "polite" and out[:-1] == tuple(history[:-1])
