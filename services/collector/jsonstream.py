"""Read one JSON document from a binary file value by value, in bounded memory, as ``json.load`` would.

The caller walks the document's outer structure (:meth:`JsonStream.members`,
:meth:`JsonStream.elements`) and takes the values it wants whole (:meth:`JsonStream.value`), so
memory holds a window of the text (about :data:`CHUNK_BYTES` of it) and the value being decoded,
never the whole file. Every value is decoded by the ``json`` module's own scanner
(``JSONDecoder.raw_decode``, in C), so it is exactly what ``json.load`` gives: ``NaN``/``Infinity``,
integers of any size, ``1e400`` (``inf``), lone-surrogate escapes (``"\\ud800"``) and a repeated
key (the last one wins) are read the same way. ijson's yajl2_c backend, which would be faster, does not:
it refuses ``NaN``/``Infinity``, integers beyond 64 bits and ``1e400``, and turns ``"\\ud800"`` into
``?`` or an error, so one such entry (the bad-input corpus holds each) would refuse a whole export
that ``json.load`` reads.

The text is UTF-8 (a byte-order mark is skipped, as ``json.load`` of bytes does); anything else is
an error. Positions are byte offsets of the file.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

#: Bytes read at a time (the window grows only while one value is longer than what it holds).
CHUNK_BYTES = 1024 * 1024
_WHITESPACE = re.compile(r"[ \t\n\r]*").match  # the json module's own WHITESPACE


class JsonStreamError(ValueError):
    """The document cannot be read at byte ``offset``: ``reason`` says why; ``malformed`` is true when
    the text is not JSON (truncated, corrupt, not UTF-8), false for a value over the size or depth cap."""

    def __init__(self, offset: int, reason: str, *, malformed: bool = True) -> None:
        super().__init__(f"at byte {offset:,}: {reason}")
        self.offset, self.reason, self.malformed = offset, reason, malformed


class JsonStream:
    """A cursor over the JSON text of ``fh`` (opened in binary mode), from its first byte.

    Args:
        max_value_chars: the longest value :meth:`value` decodes whole (characters of JSON text);
            a longer one raises :class:`JsonStreamError` (``malformed=False``) instead of being read
            into memory.

    Every method raises :class:`JsonStreamError` where the text is not JSON, not UTF-8, or nested
    too deeply for the ``json`` scanner.
    """

    def __init__(self, fh: BinaryIO, *, max_value_chars: int, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._fh, self._max, self._chunk = fh, max_value_chars, chunk_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._buf, self._pos = "", 0
        self._bytes_read, self._eof = 0, False
        self._broken: JsonStreamError | None = None  # bytes that are not UTF-8 follow the window
        self._odd_number = False  # a number read as NaN or an infinity since value_flagged began
        self._scan = json.JSONDecoder(parse_float=self._float, parse_constant=self._constant).raw_decode

    # --- positions and errors ------------------------------------------------------------------

    def offset(self) -> int:
        """The byte offset of the cursor in the file."""
        return self._offset_of(self._pos)

    def _offset_of(self, index: int) -> int:
        pending = len(self._decoder.getstate()[0])  # bytes of a character split by the last read
        return self._bytes_read - pending - len(self._buf[index:].encode("utf-8", "surrogatepass"))

    def error(self, reason: str, *, malformed: bool = True) -> JsonStreamError:
        """A :class:`JsonStreamError` at the cursor."""
        return JsonStreamError(self.offset(), reason, malformed=malformed)

    # --- reading -------------------------------------------------------------------------------

    def _fill(self) -> bool:
        """Append the next chunk of text to the window (dropping what the cursor has passed);
        ``False`` at the end of the file. A value longer than the window makes the read as long
        as the window, so a long value costs a few rescans, not one per chunk."""
        if self._broken:
            raise self._broken
        if self._eof:
            return False
        size = max(self._chunk, len(self._buf) - self._pos)
        pending = len(self._decoder.getstate()[0])
        data = self._fh.read(size)
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:  # keep the text before the bad byte; fail when it is needed
            self._bytes_read += exc.start - pending
            self._broken = JsonStreamError(self._bytes_read, f"not UTF-8 text ({exc.reason})")
            text = exc.object[:exc.start].decode("utf-8")
            self._decoder.reset()
            data = b"."  # not the end of the file
        else:
            self._bytes_read += len(data)
        self._eof = not data
        self._buf, self._pos = self._buf[self._pos:] + text, 0
        return True

    def peek(self) -> str:
        """The next character that is not whitespace (not consumed); ``""`` at the end of the file."""
        while True:
            self._pos = _WHITESPACE(self._buf, self._pos).end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def _take(self, char: str, expecting: str) -> None:
        if self.peek() != char:
            raise self.error(f"Expecting {expecting}")
        self._pos += 1

    def value(self) -> Any:
        """Decode the next value whole and move past it (``json.load``'s result for that text).

        Raises:
            JsonStreamError: not JSON (``Expecting value`` at the end of the file), longer than
                ``max_value_chars``, or nested too deeply.
        """
        return self._decode()[0]

    def value_flagged(self) -> tuple[Any, bool]:
        """:meth:`value`, and whether its text holds a ``\\u`` escape or a number read as ``NaN`` or
        an infinity (``NaN``, ``Infinity``, ``1e400``): the only ways JSON text read as strict UTF-8
        can give a NUL, a lone surrogate or a non-finite float. ``False`` proves there are none
        (a ``\\u`` escape of an ordinary character makes it ``True`` too). Checked in C, in the
        window, and by the decoder's number hooks (the parse step of ``bench/collector_costs.py``
        measured the same with them as without).

        Raises:
            JsonStreamError: as :meth:`value`.
        """
        self._odd_number = False
        value, start, end = self._decode()
        return value, self._odd_number or self._buf.find("\\u", start, end) >= 0

    def _float(self, text: str) -> float:
        """The decoder's float hook: ``float(text)``, as the ``json`` module's own, noting a non-finite one."""
        value = float(text)
        if not math.isfinite(value):
            self._odd_number = True
        return value

    def _constant(self, name: str) -> float:
        """The decoder's hook for ``NaN``, ``Infinity``, ``-Infinity``: the same floats, noted."""
        self._odd_number = True
        return float(name)

    def _decode(self) -> tuple[Any, int, int]:
        """The next value, and where its text starts and ends in the window; the cursor moves past it."""
        if not self.peek():
            raise self.error("Expecting value")
        while True:
            try:
                value, end = self._scan(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._grow():
                    continue
                raise JsonStreamError(self._offset_of(exc.pos), exc.msg) from None
            except RecursionError:
                raise self.error("a value nested too deeply to read", malformed=False) from None
            if end == len(self._buf) and self._grow():  # a number may go on in the next chunk
                continue
            if end - self._pos > self._max:
                raise self.error(f"a value longer than {self._max:,} characters", malformed=False)
            start, self._pos = self._pos, end
            return value, start, end

    def _grow(self) -> bool:
        if len(self._buf) - self._pos > self._max:
            raise self.error(f"a value longer than {self._max:,} characters", malformed=False)
        return self._fill()

    def members(self) -> Iterator[str]:
        """Stream the object at the cursor: yield each key with the cursor on its value, which the
        caller must consume (:meth:`value`, :meth:`skip`, or a nested walk) before the next one."""
        more = self._open("{", "}")
        while more:
            if self.peek() != '"':
                raise self.error("Expecting property name enclosed in double quotes")
            key = self.value()
            self._take(":", "':' delimiter")
            yield key
            more = self._more("}")

    def elements(self) -> Iterator[int]:
        """Stream the array at the cursor: yield each element's index with the cursor on it, which
        the caller must consume before the next one."""
        more, index = self._open("[", "]"), 0
        while more:
            yield index
            index += 1
            more = self._more("]")

    def _open(self, opener: str, closer: str) -> bool:
        """Consume ``opener``, and ``closer`` at once when the container is empty (then ``False``)."""
        self._take(opener, repr(opener))
        if self.peek() == closer:
            self._pos += 1
            return False
        return True

    def _more(self, closer: str) -> bool:
        """After a member: consume ``,`` (``True``: another follows) or ``closer`` (``False``)."""
        char = self.peek()
        if char != closer and char != ",":
            raise self.error("Expecting ',' delimiter")
        self._pos += 1
        return char == ","

    def skip(self) -> None:
        """Consume the next value without keeping it; an object's or array's members are decoded one
        at a time, so only the largest member need fit ``max_value_chars``."""
        char = self.peek()
        if char == "{":
            for _ in self.members():
                self.value()
        elif char == "[":
            for _ in self.elements():
                self.value()
        else:
            self.value()

    def end(self) -> None:
        """Check that only whitespace follows the document.

        Raises:
            JsonStreamError: ``Extra data``.
        """
        if self.peek():
            raise self.error("Extra data")
