"""Opening a Gemini stream so that it can be closed early.

google-genai's async stream iterator never closes its HTTP response when the consumer stops
early: closing the iterator or cancelling the task leaves the connection open (measured on the
aiohttp and the httpx2 transport; the response is held by an un-closed inner generator). So
streams go through an httpx2 client of ours, :class:`TrackingHttp`, that hands each streamed
response it opens to the stream that asked for it (a context variable set only around the
opening request, on the caller's own task); the stream closes those responses itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

import httpx2
from google import genai
from google.genai import types

from adaptive_mind.providers.streams import Opened

_OPENED: ContextVar[list[httpx2.Response] | None] = ContextVar(
    "adaptive_mind_gemini_opened", default=None
)


class TrackingHttp(httpx2.AsyncClient):
    """An httpx2 client that reports the streamed responses it opens (see the module doc)."""

    async def send(
        self,
        request: httpx2.Request,
        *,
        stream: bool = False,
        auth: Any = httpx2.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx2.USE_CLIENT_DEFAULT,
    ) -> httpx2.Response:
        response = await super().send(
            request, stream=stream, auth=auth, follow_redirects=follow_redirects
        )
        opened = _OPENED.get()
        if stream and opened is not None:
            opened.append(response)
        return response


async def open_stream(
    client: genai.Client,
    model: str,
    contents: list[types.Content],
    config: types.GenerateContentConfig,
) -> Opened:
    """Send the streamed request and read its first chunk (errors before the stream surface
    here); returns the chunks and a closer for the HTTP response."""
    opened: list[httpx2.Response] = []

    async def close() -> None:
        for response in opened:
            await response.aclose()

    token = _OPENED.set(opened)
    try:
        chunks = await client.aio.models.generate_content_stream(
            model=model, contents=contents, config=config
        )
        it = aiter(chunks)
        try:
            first = await anext(it)
        except StopAsyncIteration:
            return _empty(), close
    except BaseException:
        await close()
        raise
    finally:
        _OPENED.reset(token)
    return _chain(first, it), close


async def _chain(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    yield first
    async for item in rest:
        yield item


async def _empty() -> AsyncIterator[Any]:
    return
    yield
