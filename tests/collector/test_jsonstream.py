"""services.collector.jsonstream: one JSON document read value by value, as json.load reads it.

Expected values come from ``json.loads`` of the same text; expected offsets from where the test
itself put the bad byte."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.collector.jsonstream import JsonStream, JsonStreamError
from services.collector.scrub import scrub

# What yajl (ijson's C backend) refuses or changes, json.load reads: the stream must read it the same.
ODD_VALUES = ('[NaN, Infinity, -Infinity, 18446744073709551616, -170141183460469231731687303715884105728, 1e400, '
              '-0.0, 2.5e-3, "x\\ud800y", "\\udc00", "a\\u0000b", "\\ud83d\\ude00", "😀 川陀", {"k": 1, "k": 2}, '
              'true, false, null, [], {}, [[1, [2, {"a": [3]}]]]]')


def _stream(data: bytes, chunk: int = 1 << 20, cap: int = 1 << 20) -> JsonStream:
    return JsonStream(io.BytesIO(data), max_value_chars=cap, chunk_bytes=chunk)


def _walk(stream: JsonStream) -> dict[str, Any]:
    """Read ``{"list": [...], other: value, ...}``: the list element by element, the rest whole."""
    out: dict[str, Any] = {}
    for key in stream.members():
        out[key] = [stream.value() for _ in stream.elements()] if key == "list" else stream.value()
    stream.end()
    return out


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64, 1 << 20])
def test_values_are_what_json_load_gives_whatever_the_chunk_boundaries(chunk: int) -> None:
    text = '{"list": ' + ODD_VALUES + ', "name": "川陀大学图书馆 🙂", "n": 12345678901234567890 }'
    got = _walk(_stream(text.encode(), chunk))
    # json.dumps writes NaN as NaN, so equal dumps mean equal values, NaN included.
    assert json.dumps(got) == json.dumps(json.loads(text))
    assert got["list"][5] == float("inf") and got["list"][8] == "x\ud800y" and got["list"][13] == {"k": 2}


def test_a_byte_order_mark_is_skipped_as_json_load_of_bytes_does() -> None:
    data = b"\xef\xbb\xbf" + json.dumps({"list": [1, 2]}).encode()
    assert _walk(_stream(data, chunk=2)) == json.loads(data) == {"list": [1, 2]}


def _entries(count: int) -> tuple[bytes, list[int], list[int]]:
    """A document ``{"list": [entry, ...]}`` of multi-byte text, and each entry's first and end byte offsets."""
    data, starts, ends = b'{"list": [', [], []
    for i in range(count):
        data += b", " if i else b""
        starts.append(len(data))
        data += json.dumps({"id": i, "text": f"川陀 {i} 🙂" * 3}, ensure_ascii=False).encode()
        ends.append(len(data))
    return data + b"]}", starts, ends


def _read_until_error(stream: JsonStream) -> tuple[list[Any], JsonStreamError]:
    got: list[Any] = []
    with pytest.raises(JsonStreamError) as info:
        for key in stream.members():
            for _ in stream.elements():
                got.append(stream.value())
        stream.end()
    return got, info.value


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_a_corrupt_byte_mid_way_is_reported_at_its_offset_after_the_entries_before_it(chunk: int) -> None:
    data, offsets, _ = _entries(40)
    bad = offsets[25] + data[offsets[25]:].index("陀".encode()) + 3  # a byte inside entry 25's text
    for corrupt, reason in ((b"\x01", "Invalid control character"), (b"\xff", "not UTF-8")):
        got, error = _read_until_error(_stream(data[:bad] + corrupt + data[bad + 1:], chunk))
        assert [e["id"] for e in got] == list(range(25))
        assert error.offset == bad and reason in error.reason and error.malformed


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_a_truncated_document_yields_every_whole_entry_then_fails_within_the_first_cut_one(chunk: int) -> None:
    data, starts, ends = _entries(40)
    for cut in (starts[31] + 1, starts[31] + 20, ends[31], ends[31] + 1, len(data) - 1):
        got, error = _read_until_error(_stream(data[:cut], chunk))
        assert len(got) == sum(end <= cut for end in ends)
        assert min([*starts, cut][len(got)], cut) <= error.offset <= cut, (error.offset, cut)


def test_structural_errors_use_json_loads_words() -> None:
    for text, reason in (('{"a": 1 "b": 2}', "Expecting ',' delimiter"), ('{"list": [1, 2]} }', "Extra data"),
                         ('{"a" 1}', "Expecting ':' delimiter"), ('{"a": 1,}', "Expecting property name"),
                         ('{"list": [1,]}', "Expecting value")):
        with pytest.raises(JsonStreamError, match=reason):
            _walk(_stream(text.encode()))
    with pytest.raises(JsonStreamError, match="Expecting value"):
        _stream(b"  \n").value()


def test_a_value_over_the_cap_is_refused_and_a_container_is_skipped_member_by_member() -> None:
    with pytest.raises(JsonStreamError, match="longer than 100 characters") as info:
        _walk(_stream(json.dumps({"list": [1, "x" * 500]}).encode(), chunk=16, cap=100))
    assert not info.value.malformed and info.value.offset == len('{"list": [1, ')
    stream = _stream(json.dumps({"skipped": ["y" * 60] * 50, "kept": 1}).encode(), chunk=16, cap=100)
    assert next(stream.members()) == "skipped"
    stream.skip()  # 50 members of 62 characters: each fits the cap, the whole does not


def test_nesting_deeper_than_the_json_scanner_goes_is_refused_not_a_crash() -> None:
    data = b'{"list": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    with pytest.raises(JsonStreamError, match="nested too deeply") as info:
        _walk(_stream(data))
    assert not info.value.malformed and info.value.offset == len('{"list": [')


def test_value_flagged_flags_escapes_and_non_finite_numbers_only() -> None:
    odd = json.loads(ODD_VALUES)
    stream = _stream(ODD_VALUES.encode(), chunk=5)
    got = [stream.value_flagged() for _ in stream.elements()]
    assert json.dumps([value for value, _ in got]) == json.dumps(odd)
    flagged = [i for i, (_, flag) in enumerate(got) if flag]
    assert flagged == [0, 1, 2, 5, 8, 9, 10, 11]  # NaN, ±Infinity, 1e400, and the four \\u escapes


# Values as an export may hold them, odd characters and numbers included, written with or without
# \\u escapes: whatever scrub would change, the flag must be up (a false flag only costs a scrub).
_CHARS = st.characters(codec=None, exclude_categories=()) | st.sampled_from("\x00\ud800\udfff\ud83d")
_LEAVES = (st.none() | st.booleans() | st.integers() | st.text(_CHARS, max_size=8)
           | st.floats(allow_nan=True, allow_infinity=True))
_VALUES = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(_CHARS, max_size=4), inner, max_size=4), max_leaves=20)


@given(_VALUES, st.booleans())
def test_value_flagged_is_up_for_every_value_scrub_would_change(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a raw lone surrogate: not UTF-8, no export can hold it
        return
    decoded, flagged = _stream(b"[" + data + b"]").value_flagged()
    assert flagged or scrub(decoded)[1] == 0
    assert flagged or not ascii_only or not any(ord(c) > 127 for c in text)  # escapes are flagged
