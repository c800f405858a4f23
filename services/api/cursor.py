"""Opaque cursors: base64url of the last key served, as JSON.

* message pages: ``[date, message_id]`` (:func:`encode`, :func:`decode`);
* gallery pages: ``[date, message_id, media kind]`` (:func:`encode`, :func:`decode_photo`);
* search pages (:class:`HitCursor`, :func:`encode_hit`, :func:`decode_hit`): ``["date", newest]``
  or ``["rank", rank, newest, edge or null]``, ``newest`` = ``[date, chat_id, message_id,
  text_sha256 or null]`` the last hit's key in newest-first order and ``edge`` the oldest match the
  rank window holds (see services.api.search).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from services.api.problems import bad_parameter

#: A search hit's key in newest-first order: ``(date, chat_id, message_id, version's text_sha256 or None)``.
NewestKey = tuple[datetime, int, int, str | None]
#: How search hits are ordered: ``rank`` (best first) or ``date`` (newest first).
Sort = Literal["rank", "date"]


@dataclass(frozen=True)
class HitCursor:
    """Where a search page ended: the last hit's ``newest`` key and, for ``sort`` ``rank``, its
    ``rank`` and the rank window's ``edge`` (the oldest match ranked; None when every match was)."""

    sort: Sort
    newest: NewestKey
    rank: float | None = None
    edge: NewestKey | None = None


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


def _newest(key: NewestKey) -> list[object]:
    return [key[0].isoformat(), *key[1:]]


def _newest_key(values: object) -> NewestKey:
    date_text, chat_id, message_id, version = values  # type: ignore[misc]
    if not (version is None or isinstance(version, str)):
        raise ValueError
    return _date(date_text), _bigint(chat_id), _bigint(message_id), version


def encode_hit(cursor: HitCursor) -> str:
    """The opaque cursor of ``cursor``."""
    if cursor.sort == "date":
        return _pack(["date", _newest(cursor.newest)])
    return _pack(["rank", cursor.rank, _newest(cursor.newest), cursor.edge and _newest(cursor.edge)])


def decode_hit(cursor: str, sort: Sort) -> HitCursor:
    """The :class:`HitCursor` a cursor made by :func:`encode_hit` for a search sorted by ``sort`` holds.

    Raises:
        Problem: 422 naming ``cursor`` when it is not such a cursor, or one of the other sort.
    """
    try:
        values = _unpack(cursor)
        if values and values[0] in ("rank", "date") and values[0] != sort:
            raise bad_parameter("cursor", f"a cursor of sort={values[0]}, not of sort={sort}")
        if values[0] == "date" and len(values) == 2:
            return HitCursor("date", _newest_key(values[1]))
        kind, rank, newest, edge = values
        if kind != "rank" or type(rank) not in (int, float) or not math.isfinite(rank):
            raise ValueError
        return HitCursor("rank", _newest_key(newest), float(rank), None if edge is None else _newest_key(edge))
    except (*_NOT_OURS, IndexError):
        raise bad_parameter("cursor", "not a cursor this API gave") from None
