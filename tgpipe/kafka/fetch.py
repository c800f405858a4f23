"""Fetching a range the archive does not cover, through the pipeline (issue 12).

The API asks for chat ``chat_id``'s messages dated ``start..end``; a :class:`RangeFetcher` gets them
archived: it publishes a ``fetch.requested`` event (fetch-requests topic, keyed by chat), which the
running Telegram collector serves by publishing the range's messages and then a ``range.completed``
marker into the chat's partition of the messages topic; the single writer records the coverage in
the transaction that commits the marker. The fetcher returns once the coverage ledger covers the
range, and raises :class:`FetchError` when the collector answers ``fetch.failed`` or nothing covers
the range in time. Nothing is served before that, so a range is served whole or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tgpipe.errors import TgpipeError


class FetchError(TgpipeError):
    """A range could not be fetched: ``reason`` says why (the collector's ``fetch.failed`` reason, no
    collector answered within the timeout, or the broker is not configured)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RangeFetcher(Protocol):
    """Gets a chat's date range archived completely through the pipeline."""

    async def fetch(self, chat_id: int, start: datetime, end: datetime) -> None:
        """Return once ``start..end`` (inclusive, aware) of chat ``chat_id`` is covered in the ledger.

        Raises:
            FetchError: the collector failed, or no coverage arrived within the fetch timeout.
        """
        ...
