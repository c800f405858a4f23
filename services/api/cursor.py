"""Opaque cursors: base64url of the last key served, as JSON.

* message pages: ``[date, message_id]`` (:func:`encode`, :func:`decode`);
* gallery pages: ``[date, message_id, media kind]`` (:func:`encode`, :func:`decode_photo`);
* search pages: ``[rank, date, chat_id, message_id, text_sha256 or null]`` (:func:`encode_hit`,
  :func:`decode_hit`), the key of the search order.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import UTC, datetime

from services.api.problems import bad_parameter

#: The key of a search hit: ``(rank, date, chat_id, message_id, version's text_sha256 or None)``.
HitKey = tuple[float, datetime, int, int, str | None]


def _pack(values: list[object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _unpack(cursor: str) -> list[object]:
    """The JSON list a cursor holds (raises ``ValueError`` and the like when it holds none)."""
    values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    if not isinstance(values, list):
        raise ValueError
    return values


def _date(text: object) -> datetime:
    moment = datetime.fromisoformat(text)  # type: ignore[arg-type]
    if moment.tzinfo is None:
        raise ValueError
    return moment.astimezone(UTC)


def _bigint(value: object) -> int:
    if type(value) is not int or not -(2**63) <= value < 2**63:
        raise ValueError
    return value


_NOT_OURS = (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError)


def encode(key: tuple[datetime, int] | tuple[datetime, int, str]) -> str:
    """The cursor after ``key`` = ``(date, message_id)`` or, in the gallery, ``(date, message_id, kind)``."""
    return _pack([key[0].isoformat(), *key[1:]])


def decode(cursor: str) -> tuple[datetime, int]:
    """The key a cursor made by :func:`encode` holds.

    Raises:
        Problem: 422 naming ``cursor`` when it is not such a cursor.
    """
    try:
        date_text, message_id = _unpack(cursor)
        return _date(date_text), _bigint(message_id)
    except _NOT_OURS:
        raise bad_parameter("cursor", "not a cursor this API gave") from None


def decode_photo(cursor: str) -> tuple[datetime, int, str]:
    """The key ``(date, message_id, kind)`` a gallery cursor made by :func:`encode` holds.

    Raises:
        Problem: 422 naming ``cursor`` when it is not such a cursor.
    """
    try:
        date_text, message_id, kind = _unpack(cursor)
        if not isinstance(kind, str):
            raise ValueError
        return _date(date_text), _bigint(message_id), kind
    except _NOT_OURS:
        raise bad_parameter("cursor", "not a cursor this API gave") from None


def encode_hit(key: HitKey) -> str:
    """The cursor after the search hit whose key is ``key``."""
    rank, date, chat_id, message_id, version = key
    return _pack([rank, date.isoformat(), chat_id, message_id, version])


def decode_hit(cursor: str) -> HitKey:
    """The key a cursor made by :func:`encode_hit` holds.

    Raises:
        Problem: 422 naming ``cursor`` when it is not such a cursor.
    """
    try:
        rank, date_text, chat_id, message_id, version = _unpack(cursor)
        if type(rank) not in (int, float) or not math.isfinite(rank) or not (version is None or isinstance(version, str)):
            raise ValueError
        return float(rank), _date(date_text), _bigint(chat_id), _bigint(message_id), version
    except _NOT_OURS:
        raise bad_parameter("cursor", "not a cursor this API gave") from None
