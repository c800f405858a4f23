"""Versioned event contracts of tgpipe (pydantic v2, JSON on the wire).

Every record on a tgpipe topic is one envelope::

    {"event_id": UUID, "schema_version": 1, "type": "<type>", "source": "<who>",
     "time": RFC 3339, "seq": int | null, "payload": {...}}

Types (schema version 1):

* ``message.upserted`` on the messages topic, keyed by channel id: one Telegram message with
  its parents (channel, sender) and media references. Written by the collector.
* ``message.committed`` on the committed topic, keyed by channel id: the message is in
  PostgreSQL. Written by the writer after its transaction commits; read by the media service.
* ``message.deleted`` on the messages topic, keyed by channel id (``unresolved`` when Telegram
  did not say which chat): Telegram deleted these message ids. Written by the Telegram
  collector; the writer marks the rows deleted (soft) or records the deletion as unresolved.
* ``range.completed`` on the messages topic, keyed by chat id, after the range's messages: the
  range was fetched whole. The writer records it in the coverage ledger.
* ``fetch.requested`` / ``fetch.failed`` on the fetch-requests topic, keyed by chat id: the API
  asks for a range the archive does not cover; the Telegram collector fetches it (then marks it
  complete) or says why it cannot.

:func:`decode_event` turns bytes into one of these or raises
:class:`~schemas.errors.UndecodableEventError` / :class:`~schemas.errors.EventSchemaError`;
an unknown type or version is never half-applied.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo,
    field_validator, model_validator,
)

from schemas.errors import EventSchemaError, UndecodableEventError
from schemas.vocabulary import ChatType, CoverageSource, MediaKind, MediaStatus, MessageKind, PeerType

SCHEMA_VERSION = 1
#: The statuses a media reference can carry from the collector (nothing to read).
MediaStatusHint = Literal[MediaStatus.NOT_INCLUDED, MediaStatus.OUTSIDE_EXPORT_ROOT]
# The database's column ranges (ids and sizes bigint, width/height integer): a value beyond them
# fails the schema (dead letter, or a reported export entry), never a database transaction.
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
#: Telegram's longest message text, in characters; captions are shorter (1,024, or 2,048 with
#: Premium). The default of ``TGPIPE_MAX_TEXT_CHARS``, passed to :func:`decode_event`.
TELEGRAM_MAX_TEXT_CHARS = 4096


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelPayload(_Model):
    """A chat of any type (Telegram ``PeerChannel.channel_id`` / export ``id``, ``name``, ``type``)."""

    channel_id: Int64
    type: ChatType
    title: str | None = None


class SenderPayload(_Model):
    """A peer that sent a message or performed a service action.

    ``peer_type``/``peer_id`` come from export ``from_id``/``actor_id`` (``"user123"``,
    ``"channel123"``, or a bare integer in 2020-era exports, which is a user) or Telethon's
    ``from_id`` peer; ``name`` from export ``from``/``actor`` (``null`` for deleted accounts).
    """

    peer_type: PeerType
    peer_id: Int64
    name: str | None = None


class MediaRef(_Model):
    """A media item attached to a message.

    For exports, ``path`` is the export's relative path (``photo`` or ``file`` field) and
    ``export_root`` the absolute export directory; the media service resolves it again
    safely before reading. ``unavailable`` says why there is nothing to read.

    For ``source="telegram"``, ``photo_id`` is Telegram's ``Photo.id`` (``None`` when the message
    carries no usable photo) and ``width``/``height``/``file_size`` describe its largest real
    photo size; the media service re-fetches the message for a fresh file reference.
    """

    kind: MediaKind
    source: Literal["export", "telegram"] = "export"
    export_root: str | None = None
    path: str | None = None
    file_size: Int64 | None = Field(default=None, description="bytes, export photo_file_size/file_size")
    width: Int32 | None = None
    height: Int32 | None = None
    mime_type: str | None = None
    unavailable: MediaStatusHint | None = None
    photo_id: int | None = Field(default=None, description="Telegram Photo.id (source telegram)")


class MessagePayload(_Model):
    """One Telegram message or service message, flattened for the ``messages`` table.

    ``date``/``edit_date`` are UTC; ``text`` is the concatenation of the text pieces;
    ``raw`` is the source entry unchanged (export JSON or Telethon ``to_dict()``).
    """

    channel_id: Int64
    message_id: Int64
    kind: MessageKind
    date: AwareDatetime
    edit_date: AwareDatetime | None = None
    sender: SenderPayload | None = None
    text: str = ""
    entities: list[dict[str, Any]] = Field(default_factory=list)
    reply_to_message_id: Int64 | None = None
    reply_to_peer: str | None = None
    forwarded_from: str | None = None
    post_author: str | None = None
    action: str | None = None
    reactions: list[dict[str, Any]] | None = None
    grouped_id: Int64 | None = None
    media_kind: MediaKind | None = None
    raw: dict[str, Any]

    @field_validator("text")
    @classmethod
    def _text_within_limit(cls, text: str, info: ValidationInfo) -> str:
        problem = text_length_problem(text, (info.context or {}).get("max_text_chars"))
        if problem:
            raise ValueError(problem)
        return text


def text_length_problem(text: str, max_chars: int | None) -> str | None:
    """Why ``text`` is refused: longer than ``max_chars`` characters (code points); ``None`` when it
    is not, or when there is no limit (``max_chars`` is ``None``)."""
    if max_chars is None or len(text) <= max_chars:
        return None
    return f"text is {len(text):,} characters long, over the limit of {max_chars:,}"


def _distinct_kinds(media: list[MediaRef]) -> list[MediaRef]:
    """A message has at most one media item per kind (the media table's key is ``(channel_id,
    message_id, kind)``): a list naming a kind twice is refused, never half-stored."""
    kinds = [ref.kind for ref in media]
    if twice := sorted({kind for kind in kinds if kinds.count(kind) > 1}):
        raise ValueError(f"media kind {', '.join(repr(str(kind)) for kind in twice)} listed more than once "
                         "(a message has one media item per kind)")
    return media


MediaList = Annotated[list[MediaRef], AfterValidator(_distinct_kinds)]


class MessageUpsertedPayload(_Model):
    """A message with its parents, so one record is enough to write it parents-first."""

    channel: ChannelPayload
    message: MessagePayload
    media: MediaList = Field(default_factory=list)
    observed_at: AwareDatetime | None = Field(default=None, description=(
        "when the source showed this version (Telegram: when the collector fetched or received it; "
        "export: its newest date or edit date); orders versions with equal edit_date (contract O1)"))


class CommittedPayload(_Model):
    """The message ``(channel_id, message_id)`` is committed in PostgreSQL, with its media refs."""

    channel_id: Int64
    message_id: Int64
    causation_id: uuid.UUID = Field(description="event_id of the message.upserted event")
    media: MediaList = Field(default_factory=list)
    version_sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$", description=(
        "the committed version (messages.version_sha256); the media service skips an event whose "
        "version is no longer the message's current one (contract O1)"))


class DeletedPayload(_Model):
    """Telegram deleted ``message_ids`` (a live ``MessageDeleted`` update or a reconcile pass).

    ``channel_id`` is ``None`` when Telegram did not say which chat: private chats and basic
    groups number their messages per account, so such ids are recorded as unresolved and never
    matched to a chat by guess. ``deleted_at`` is when the deletion was observed (Telegram does
    not say when it happened).
    """

    channel_id: int | None
    message_ids: list[int] = Field(min_length=1)
    deleted_at: AwareDatetime
    detected_by: Literal["live", "reconcile"]


class RangeCompletedPayload(_Model):
    """Every message of chat ``channel`` with an id in ``first_message_id..last_message_id`` and a date
    in ``first_date..last_date`` (both inclusive, UTC) has been published before this marker, on the
    same partition: the range was fetched whole from ``source`` (ids missing inside it are deleted or
    never existed). The writer records it in the coverage ledger in the transaction that commits it.

    Export: the chat's first and last message (``id``, ``date``); Telegram: a backfill, re-fetch or
    live stretch of the collector.
    """

    channel: ChannelPayload
    source: CoverageSource
    first_message_id: Int64
    last_message_id: Int64
    first_date: AwareDatetime
    last_date: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> RangeCompletedPayload:
        if self.first_message_id > self.last_message_id or self.first_date > self.last_date:
            raise ValueError("first_message_id/first_date must not come after last_message_id/last_date")
        return self


class FetchRequestedPayload(_Model):
    """Fetch chat ``channel_id``'s messages dated ``start_date..end_date`` (inclusive, UTC) from Telegram
    through the pipeline, then mark the range complete (a ``range.completed`` marker). Asked by the
    API for a range the archive does not cover; ``request_id`` ties the answer to the request."""

    request_id: uuid.UUID
    channel_id: Int64
    start_date: AwareDatetime
    end_date: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> FetchRequestedPayload:
        if self.start_date > self.end_date:
            raise ValueError("start_date must not come after end_date")
        return self


class FetchFailedPayload(_Model):
    """The fetch ``request_id`` of chat ``channel_id`` failed for ``reason`` (no collector serves the
    chat, Telegram refused, the collector stopped): nothing of it was marked complete."""

    request_id: uuid.UUID
    channel_id: Int64
    reason: str = Field(max_length=1000)


class _Envelope(_Model):
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    schema_version: Literal[1] = SCHEMA_VERSION
    source: str
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    seq: int | None = Field(default=None, description="collector's per-run sequence number")


# Every envelope below has the same shape (`duplicates` pairs them): its type, its payload, its key.
class MessageUpserted(_Envelope):
    """Envelope of ``message.upserted``."""

    type: Literal["message.upserted"] = "message.upserted"
    payload: MessageUpsertedPayload

    @property
    def key(self) -> bytes:
        """Kafka key: the channel id, so one channel stays on one partition, in order."""
        return str(self.payload.channel.channel_id).encode()


class MessageCommitted(_Envelope):
    """Envelope of ``message.committed``."""

    type: Literal["message.committed"] = "message.committed"
    payload: CommittedPayload

    @property
    def key(self) -> bytes:
        """Kafka key: the channel id."""
        return str(self.payload.channel_id).encode()


class MessageDeleted(_Envelope):
    """Envelope of ``message.deleted``."""

    type: Literal["message.deleted"] = "message.deleted"
    payload: DeletedPayload

    @property
    def key(self) -> bytes:
        """Kafka key: the channel id (same partition as the channel's upserts), or ``unresolved``."""
        channel_id = self.payload.channel_id
        return b"unresolved" if channel_id is None else str(channel_id).encode()


class RangeCompleted(_Envelope):
    """Envelope of ``range.completed`` (on the messages topic, after the range's messages)."""

    type: Literal["range.completed"] = "range.completed"
    payload: RangeCompletedPayload

    @property
    def key(self) -> bytes:
        """Kafka key: the chat id (the same partition as the range's messages)."""
        return str(self.payload.channel.channel_id).encode()


class FetchRequested(_Envelope):
    """Envelope of ``fetch.requested`` (on the fetch-requests topic)."""

    type: Literal["fetch.requested"] = "fetch.requested"
    payload: FetchRequestedPayload

    @property
    def key(self) -> bytes:
        """Kafka key: the chat id."""
        return str(self.payload.channel_id).encode()


class FetchFailed(_Envelope):
    """Envelope of ``fetch.failed`` (on the fetch-requests topic, after its request: same key)."""

    type: Literal["fetch.failed"] = "fetch.failed"
    payload: FetchFailedPayload

    @property
    def key(self) -> bytes:
        """Kafka key: the chat id."""
        return str(self.payload.channel_id).encode()


AnyEvent = MessageUpserted | MessageCommitted | MessageDeleted | RangeCompleted | FetchRequested | FetchFailed
Event = Annotated[AnyEvent, Field(discriminator="type")]
_EVENT = TypeAdapter(Event)


def decode_event(data: bytes, *, max_text_chars: int | None = None) -> AnyEvent:
    """Decode one record value.

    Args:
        max_text_chars: the longest message ``text`` accepted, in characters (the consumers pass
            ``TGPIPE_MAX_TEXT_CHARS``); ``None``: no limit.

    Raises:
        UndecodableEventError: ``data`` is not UTF-8 JSON.
        EventSchemaError: unknown ``type``, unsupported ``schema_version``, or a schema violation;
            the message names the first problem and where it is (a text over ``max_text_chars``,
            a media kind listed twice included).
    """
    try:
        return _EVENT.validate_json(data, context={"max_text_chars": max_text_chars})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        kind, loc = first["type"], ".".join(str(p) for p in first["loc"])
        if kind == "json_invalid":
            raise UndecodableEventError(f"not JSON: {first['msg']}") from None
        if kind == "union_tag_invalid":
            raise EventSchemaError(f"unknown event type {first['input'].get('type')!r}") from None
        if kind == "union_tag_not_found":
            raise EventSchemaError("record has no event type") from None
        if loc.endswith("schema_version"):
            raise EventSchemaError(
                f"unsupported schema_version {first['input']!r} (this build reads {SCHEMA_VERSION})"
            ) from None
        raise EventSchemaError(f"invalid {loc}: {first['msg']} ({exc.error_count()} error(s))") from None


def encode_event(event: AnyEvent) -> bytes:
    """Serialize an event to its JSON record value (UTF-8 bytes; the same as ``model_dump_json()``,
    without the round trip through ``str``)."""
    return event.__pydantic_serializer__.to_json(event)
