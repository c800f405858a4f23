"""The errors the event contracts raise, and the root of tgpipe's error tree.

They live here, at the bottom of the layers, so that :mod:`schemas` imports pydantic and nothing
of tgpipe's drivers; :mod:`tgpipe.errors` re-exports them and draws the whole tree::

    TgpipeError
    └── EventError                a record on a topic cannot be applied (goes to the dead-letter topic)
        ├── UndecodableEventError bytes that are not JSON (or not UTF-8)
        └── EventSchemaError      JSON that is not a known event type/version or fails its schema
"""

from __future__ import annotations


class TgpipeError(Exception):
    """Base of every error tgpipe raises on purpose."""


class EventError(TgpipeError):
    """A record on a topic that no retry can apply; it belongs on the dead-letter topic."""


class UndecodableEventError(EventError):
    """The record's value is not UTF-8 JSON."""


class EventSchemaError(EventError):
    """The record is JSON but not a known event type and schema version, or it fails validation."""
