"""RequestStream: one request's text chunks, then its Completion, handed from the model thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from aivo.engine.generation import Completion


class RequestStream:
    """An async iterator of text chunks that ends when the request is done.

    `await result()` gives the final Completion (consuming any chunks not read yet) or raises
    the request's error. `cancel()` frees the request's batch row at the next step boundary; the
    stream then ends with finish_reason "cancelled". The model thread feeds it through
    `loop.call_soon_threadsafe`, so everything here runs on the event loop that submitted it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: asyncio.Queue[str | Completion | BaseException] = asyncio.Queue()
        self._cancelled = threading.Event()
        self._completion: Completion | None = None
        self._error: BaseException | None = None
        self._ended = False  # the final item has arrived, read or not

    def __aiter__(self) -> RequestStream:
        return self

    async def __anext__(self) -> str:
        if self._completion is not None or self._error is not None:
            raise StopAsyncIteration
        item = await self._items.get()
        if isinstance(item, str):
            return item
        if isinstance(item, Completion):
            self._completion = item
            raise StopAsyncIteration
        self._error = item
        raise item

    async def result(self) -> Completion:
        async for _ in self:
            pass
        if self._error is not None:
            raise self._error
        assert self._completion is not None  # the iteration above ends only at the final item
        return self._completion

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def done(self) -> bool:
        """The request is over: its Completion or error has arrived (read or not)."""
        return self._ended

    # --- called from the model thread ------------------------------------------------------

    def put(self, item: str | Completion | BaseException) -> None:
        # a closed loop raises RuntimeError: nobody is left to read this request
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._receive, item)

    def _receive(self, item: str | Completion | BaseException) -> None:
        self._ended = self._ended or not isinstance(item, str)
        self._items.put_nowait(item)
