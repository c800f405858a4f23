"""Event contracts shared by every tgpipe service; see :mod:`schemas.events`."""

from schemas.events import (
    SCHEMA_VERSION,
    TELEGRAM_MAX_TEXT_CHARS,
    ChannelPayload,
    CommittedPayload,
    DeletedPayload,
    MediaRef,
    MessageCommitted,
    MessageDeleted,
    MessagePayload,
    MessageUpserted,
    MessageUpsertedPayload,
    SenderPayload,
    decode_event,
    encode_event,
    text_length_problem,
)

__all__ = [
    "SCHEMA_VERSION", "TELEGRAM_MAX_TEXT_CHARS", "ChannelPayload", "CommittedPayload", "DeletedPayload",
    "MediaRef", "MessageCommitted", "MessageDeleted", "MessagePayload", "MessageUpserted",
    "MessageUpsertedPayload", "SenderPayload", "decode_event", "encode_event", "text_length_problem",
]
