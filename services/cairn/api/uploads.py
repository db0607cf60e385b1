"""Streamed uploads: request bytes go straight into the blob store, counted as they arrive.

The blob store's writes block, so the work runs in a worker thread that pulls the body from
the event loop one chunk at a time (anyio.from_thread): memory stays at one chunk, nothing is
spooled to a temporary upload file first, and a blob over the limit is cut off as soon as it
crosses it. Multipart bodies are parsed with python-multipart's push parser, turned into a
pull-based sequence of parts so each file part can be handed to `BlobStore.put` as it streams.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from cairn.core.domain.identity import InvalidInput

T = TypeVar("T")
# Uploads hold a thread for as long as the client sends; keep them off the default pool that
# streams downloads and runs other blocking calls.
UPLOAD_THREADS = anyio.CapacityLimiter(32)


async def in_upload_thread(work: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(work, limiter=UPLOAD_THREADS)


def blocking_chunks(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The chunks of an async body stream, for code running in an anyio worker thread."""

    async def next_chunk() -> bytes | None:
        return await anext(stream, None)

    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    chunks: Iterator[bytes]


class PartReader:
    """multipart/form-data as a sequence of parts, each read as it streams."""

    def __init__(self, content_type: str, body: Iterator[bytes]) -> None:
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise InvalidInput("invalid_multipart", "multipart/form-data needs a boundary")
        self._body = body
        self._events: deque[tuple[str, bytes, bytes]] = deque()
        self._ended = False
        self._field, self._value = bytearray(), bytearray()
        self._parser = MultipartParser(boundary, {
            "on_part_begin": lambda: self._events.append(("begin", b"", b"")),
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": lambda: self._events.append(("headers", b"", b"")),
            "on_part_data": lambda d, s, e: self._events.append(("data", bytes(d[s:e]), b"")),
            "on_part_end": lambda: self._events.append(("end", b"", b"")),
            "on_end": self._end,
        })

    def _header_end(self) -> None:
        self._events.append(("header", bytes(self._field).lower(), bytes(self._value)))
        self._field.clear()
        self._value.clear()

    def _end(self) -> None:
        self._ended = True

    def _next(self) -> tuple[str, bytes, bytes]:
        while not self._events:
            chunk = next(self._body, None)
            if chunk is None:
                if self._ended:
                    return ("eof", b"", b"")
                raise InvalidInput("invalid_multipart", "the body ended inside a part")
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise InvalidInput("invalid_multipart", f"malformed multipart body: {exc}"
                                   ) from exc
        return self._events.popleft()

    def _data(self) -> Iterator[bytes]:
        while (event := self._next())[0] == "data":
            yield event[1]

    def parts(self) -> Iterator[Part]:
        while (event := self._next())[0] != "eof":
            if event[0] != "begin":
                continue
            headers: dict[bytes, bytes] = {}
            while (event := self._next())[0] == "header":
                headers[event[1]] = event[2]
            _, options = parse_options_header(headers.get(b"content-disposition", b""))
            filename = options.get(b"filename")
            ctype = headers.get(b"content-type")
            part = Part(
                name=options.get(b"name", b"").decode("utf-8", "replace"),
                filename=None if filename is None else _text(filename),
                content_type=None if ctype is None else ctype.decode("latin-1").strip(),
                chunks=self._data(),
            )
            yield part
            for _ in part.chunks:  # skip whatever the caller left unread
                pass


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("invalid_path", "a file name is not UTF-8") from None


def read_small(chunks: Iterator[bytes], limit: int, what: str) -> bytes:
    """A whole (small) part in memory, refusing it past `limit` bytes."""
    data = bytearray()
    for chunk in chunks:
        data.extend(chunk)
        if len(data) > limit:
            raise InvalidInput("event_too_large", f"{what} exceeds {limit} bytes "
                               "(CAIRN_MAX_EVENT_BYTES)")
    return bytes(data)
