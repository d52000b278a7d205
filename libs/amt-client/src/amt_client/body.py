"""Reading an answer's body, the one way both drivers do it: decoded size bounded while reading.

The drivers hand over the bytes as they arrive, still compressed (``requests`` and ``aiohttp`` are
told not to decode): a 200 KB gzip answer can inflate to gigabytes, and a library that inflates a
whole chunk or a whole body at once has already spent that memory when the size is checked. Here
each chunk is inflated only as far as the limit allows, so a reader of one answer never holds more
than ``limit`` decoded bytes plus one chunk. The text is decoded with the answer's own charset
(UTF-8 when it names none: a ``text/plain`` answer read as Latin-1 would hide an echoed password
from every scrubber).

No I/O: :class:`BodyReader` is fed bytes and says when to stop.
"""

from __future__ import annotations

import codecs
import functools
import zlib
from dataclasses import dataclass
from typing import Protocol

#: Content encodings an AMT answer may come in (what the drivers ask for with ``Accept-Encoding``).
ACCEPT_ENCODING = "gzip, deflate"


class BodyDefect(Exception):
    """The answer arrived but cannot be decoded (a broken gzip stream, an encoding nobody asked for)."""


@dataclass(frozen=True)
class Body:
    text: str
    #: The decoded answer was longer than the limit (``text`` holds its start).
    too_large: bool


class BodyReader:
    """Decodes one answer: ``feed`` each chunk as it arrives (False: stop reading), then ``finish``."""

    def __init__(self, content_encoding: str | None, content_type: str | None, limit: int):
        self.limit = limit
        self.charset = _charset(content_type)
        self.data = bytearray()
        self.too_large = False
        encoding = (content_encoding or "identity").strip().lower()
        self._inflater: _Inflater | None
        if encoding in ("", "identity"):
            self._inflater = None
        elif encoding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._inflater = _DeflateEither()
        else:
            raise BodyDefect(f"the answer has Content-Encoding {_shown(encoding)!r}, which was not asked for")

    @property
    def plain(self) -> bool:
        """Not compressed: a body known to be within the limit can be taken whole (``whole``)."""
        return self._inflater is None

    def whole(self, data: bytes) -> Body:
        """A plain body read in one go, already known to be within the limit (no copy)."""
        return Body(data.decode(self.charset, errors="replace"), False)

    def feed(self, chunk: bytes) -> bool:
        """Take the next raw chunk; False when the decoded answer passed the limit (stop reading)."""
        room = self.limit + 1 - len(self.data)
        if self._inflater is None:
            self.data += chunk[:room]
        else:
            try:
                self.data += self._inflater.decompress(chunk, room)
            except zlib.error as err:
                raise BodyDefect(f"the compressed answer could not be decoded ({err})") from None
        if len(self.data) > self.limit:
            self.too_large = True
            del self.data[self.limit :]
            return False
        return True

    def finish(self) -> Body:
        if not self.too_large and self._inflater is not None:
            if self._inflater.unconsumed_tail:  # more inflated data than fitted: over the limit
                self.too_large = True
            elif not self._inflater.eof:
                raise BodyDefect("the compressed answer ended before its end")
        return Body(self.data.decode(self.charset, errors="replace"), self.too_large)


class _Inflater(Protocol):
    @property
    def unconsumed_tail(self) -> bytes: ...

    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, /, max_length: int = 0) -> bytes: ...


class _DeflateEither:
    """``deflate`` as servers send it: zlib-wrapped as the RFC says, or raw (as many do)."""

    def __init__(self) -> None:
        self._inner: zlib._Decompress | None = None

    def decompress(self, data: bytes, /, max_length: int = 0) -> bytes:
        if self._inner is None:
            raw = bool(data) and (data[0] & 0x0F) != 8  # no zlib header: a raw deflate stream
            self._inner = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        return self._inner.decompress(data, max_length)

    @property
    def unconsumed_tail(self) -> bytes:
        return self._inner.unconsumed_tail if self._inner is not None else b""

    @property
    def eof(self) -> bool:
        return self._inner is not None and self._inner.eof


@functools.lru_cache(maxsize=64)  # a server sends the same Content-Type every time
def _charset(content_type: str | None) -> str:
    """The ``charset`` parameter of a Content-Type when Python knows it; UTF-8 otherwise."""
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
            try:
                return codecs.lookup(charset).name
            except LookupError:
                return "utf-8"
    return "utf-8"


def _shown(text: str) -> str:
    return text[:40].encode("ascii", "backslashreplace").decode()
