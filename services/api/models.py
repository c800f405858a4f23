"""The JSON shapes of the API (pydantic; the OpenAPI document is generated from them).

A chat's id is ``chat_id`` in this API's JSON (the database column is ``channel_id``; see
docs/architecture.md "Names"). Dates are ISO 8601 in UTC. Fields come from the archive's tables:
``messages``, ``senders``, ``message_versions``, ``message_deletions``, ``media``, ``coverage``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class Sender(BaseModel):
    """Who sent a message: peer ``type`` (``user``, ``channel``, ``chat``), Telegram ``id``, last known ``name``."""

    type: str
    id: int
    name: str | None


class Message(BaseModel):
    """One archived message (its current version): ``text`` is the flattened text (export ``text``
    pieces joined; Telegram ``message``), ``deleted_at`` set when it was seen deleted."""

    chat_id: int
    message_id: int
    kind: str
    date: datetime
    edit_date: datetime | None
    sender: Sender | None
    text: str
    reply_to_message_id: int | None
    forwarded_from: str | None
    media_kind: str | None
    deleted_at: datetime | None


class Version(BaseModel):
    """One text version of a message (``message_versions``), valid from ``valid_from``."""

    text: str
    entities: list[Any]
    edit_date: datetime | None
    valid_from: datetime


class Media(BaseModel):
    """A media item of a message; ``url`` (``/media/{sha256}``) when its file is stored."""

    kind: str
    status: str
    sha256: str | None
    url: str | None
    mime_type: str | None
    size_bytes: int | None
    width: int | None
    height: int | None


class MessageDetail(Message):
    """A message with what hangs on it: text ``versions`` (oldest first), the message it replies to
    (when archived), ``forwarded_from`` (forward origin), ``reactions`` (as archived), ``media``."""

    entities: list[Any]
    post_author: str | None
    action: str | None
    grouped_id: int | None
    reactions: Any
    reply_to: Message | None
    versions: list[Version]
    media: list[Media]


class DateRange(BaseModel):
    """An inclusive period ``start..end``."""

    start: datetime
    end: datetime


class IdRange(BaseModel):
    """Inclusive message ids ``first..last``."""

    first: int
    last: int


class CoveredRange(BaseModel):
    """One coverage ledger row: ids and dates archived completely from ``source`` at ``recorded_at``."""

    ids: IdRange
    dates: DateRange
    source: str
    recorded_at: datetime


class Coverage(BaseModel):
    """What of a chat is archived completely: ledger ``ranges``, their union (``ids``, ``dates``)
    and the holes between (``id_holes`` inclusive; ``date_holes`` exclusive of both ends)."""

    chat_id: int
    ranges: list[CoveredRange]
    ids: list[IdRange]
    dates: list[DateRange]
    id_holes: list[IdRange]
    date_holes: list[DateRange]


class CoverageSummary(BaseModel):
    """A chat's coverage in brief: ledger rows, covered periods (their union) and the holes between."""

    ranges: int
    dates: list[DateRange]
    date_holes: int


class Chat(BaseModel):
    """An archived chat: ``type`` (channel, group, private, bot…), ``title``, its messages' count and dates."""

    chat_id: int
    type: str
    title: str | None
    message_count: int
    first_message_date: datetime | None
    last_message_date: datetime | None
    coverage: CoverageSummary


class Chats(BaseModel):
    """Every archived chat, by id."""

    chats: list[Chat]


class MessagePage(BaseModel):
    """A page of messages in ``(date, message_id)`` order. ``next_cursor`` (pass it as ``cursor``) is
    null on the last page; ``covered`` says whether the coverage ledger covers the whole requested
    period ``start_date..end_date`` (else the archive may lack messages of it)."""

    chat_id: int
    start_date: datetime | None
    end_date: datetime | None
    covered: bool
    messages: list[Message]
    next_cursor: str | None


class HistoryEnd(BaseModel):
    """The last event of a history stream (``event: end``): the messages sent and the covered period."""

    chat_id: int
    count: int
    covered: DateRange


class Health(BaseModel):
    """``ok`` when the database answers."""

    status: str


class Segment(BaseModel):
    """A piece of a search hit's snippet, cut from the original text (not normalised): ``match``
    when it matched the query. Plain text: a viewer escapes it (and marks the matched pieces)."""

    text: str
    match: bool


class HitVersion(BaseModel):
    """The text version a hit was found in (``versions=all``; a ``message_versions`` row):
    ``current`` when it is the message's current text."""

    text_sha256: str
    valid_from: datetime
    edit_date: datetime | None
    current: bool


class SearchHit(BaseModel):
    """A message that matches a search: where it is, who sent it, its ``rank`` (higher first; see
    docs/api.md "Search") and a ``snippet`` of its text around the first match. ``version``: the
    matched text version when every version was searched, else null."""

    chat_id: int
    chat_title: str | None
    message_id: int
    date: datetime
    sender: Sender | None
    deleted_at: datetime | None
    rank: float
    snippet: list[Segment]
    version: HitVersion | None


class RankWindow(BaseModel):
    """Which matches a ``sort=rank`` search ranked when there were more than its window holds: the
    ``matches`` newest (the window's size, ``TGPIPE_API_SEARCH_RANK_WINDOW``), i.e. those dated
    ``since`` or later (and any that arrived after the first page). Older matches are in no page of
    this ranking; ``sort=date`` reaches every match."""

    matches: int
    since: datetime


class SearchPage(BaseModel):
    """A page of hits in ``sort`` order: ``rank`` (best first, then newest) or ``date`` (newest
    first). ``rank_window``: null when every match was ranked. ``next_cursor`` (pass it as
    ``cursor`` with the same query) is null on the last page."""

    q: str
    sort: Literal["rank", "date"]
    rank_window: RankWindow | None
    hits: list[SearchHit]
    next_cursor: str | None
