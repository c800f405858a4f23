"""The opaque cursor of message pages: base64url of the last key served, ``[date, message_id]``."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from services.api.problems import bad_parameter


def encode(key: tuple[datetime, int]) -> str:
    """The cursor after ``key`` = ``(date, message_id)``."""
    return base64.urlsafe_b64encode(json.dumps([key[0].isoformat(), key[1]]).encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, int]:
    """The key a cursor made by :func:`encode` holds.

    Raises:
        Problem: 422 naming ``cursor`` when it is not such a cursor.
    """
    try:
        date_text, message_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        date = datetime.fromisoformat(date_text).astimezone(UTC)
        if datetime.fromisoformat(date_text).tzinfo is None or type(message_id) is not int or not -(2**63) <= message_id < 2**63:
            raise ValueError
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise bad_parameter("cursor", "not a cursor this API gave") from None
    return date, message_id
