"""Make collected values storable: what PostgreSQL and UTF-8 cannot hold is replaced, and counted.

* ``\\x00`` (NUL): PostgreSQL rejects it in ``text`` (``invalid byte sequence``) and ``\\u0000`` in
  ``jsonb`` (``unsupported Unicode escape sequence``).
* lone surrogates (U+D800–U+DFFF not forming a pair, e.g. JSON ``"\\ud800"``): they cannot be
  encoded to UTF-8, so the event could not even be serialized.
* non-finite numbers (``NaN``, ``Infinity``, which Python's JSON reader accepts): they are not
  JSON and would silently become ``null`` on the wire.

Strings get U+FFFD REPLACEMENT CHARACTER in place of each bad character; non-finite numbers become
``None``. The caller reports the count, so nothing is changed silently.
"""

from __future__ import annotations

import math
import re
from typing import Any

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def scrub(value: Any) -> tuple[Any, int]:
    """Return ``(clean value, number of replacements)`` for a parsed JSON value.

    Strings (dict keys included) have NUL and lone surrogates replaced by U+FFFD; ``NaN`` and
    infinities become ``None``; lists and dicts are walked. ``value`` itself is returned (not a
    copy) when nothing had to change.
    """
    if isinstance(value, str):
        return _UNSTORABLE.subn(REPLACEMENT, value)
    if isinstance(value, float):
        return (value, 0) if math.isfinite(value) else (None, 1)
    if isinstance(value, list):
        pairs = [scrub(item) for item in value]
        count = sum(n for _, n in pairs)
        return ([item for item, _ in pairs] if count else value), count
    if isinstance(value, dict):
        clean, changed = scrub_fields(value)
        return clean, sum(changed.values())
    return value, 0


def scrub_fields(entry: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """:func:`scrub` a JSON object field by field.

    Returns:
        ``(clean object, {field: replacements})`` naming only the fields that changed (a field
        whose key itself changed is named by its cleaned key).
    """
    clean, changed = {}, {}
    for key, item in entry.items():
        new_key, n_key = scrub(key)
        new_item, n_item = scrub(item)
        clean[new_key] = new_item
        if n_key + n_item:
            changed[new_key] = n_key + n_item
    return (clean if changed else entry), changed
