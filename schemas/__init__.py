"""Event contracts shared by every tgpipe service (:mod:`schemas.events`) and the words they use
(:mod:`schemas.vocabulary`)."""

from schemas.events import (
    SCHEMA_VERSION,
    TELEGRAM_MAX_TEXT_CHARS,
    ChannelPayload,
    CommittedPayload,
    DeletedPayload,
    FetchFailed,
    FetchFailedPayload,
    FetchRequested,
    FetchRequestedPayload,
    MediaRef,
    MessageCommitted,
    MessageDeleted,
    MessagePayload,
    MessageUpserted,
    MessageUpsertedPayload,
    RangeCompleted,
    RangeCompletedPayload,
    SenderPayload,
    decode_event,
    encode_event,
    text_length_problem,
)
from schemas.vocabulary import ChatType, CoverageSource, MediaKind, MediaStatus, MessageKind, PeerType

__all__ = [
    "SCHEMA_VERSION", "TELEGRAM_MAX_TEXT_CHARS", "ChannelPayload", "ChatType", "CommittedPayload",
    "CoverageSource", "DeletedPayload", "FetchFailed", "FetchFailedPayload", "FetchRequested",
    "FetchRequestedPayload", "MediaKind", "MediaRef", "MediaStatus", "MessageCommitted", "MessageDeleted",
    "MessageKind", "MessagePayload", "MessageUpserted", "MessageUpsertedPayload", "PeerType",
    "RangeCompleted", "RangeCompletedPayload",
    "SenderPayload", "decode_event", "encode_event", "text_length_problem",
]
