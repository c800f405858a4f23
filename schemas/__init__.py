"""Event contracts shared by every tgpipe service; see :mod:`schemas.events`."""

from schemas.events import (
    SCHEMA_VERSION,
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
)

__all__ = [
    "SCHEMA_VERSION", "ChannelPayload", "CommittedPayload", "DeletedPayload", "MediaRef", "MessageCommitted",
    "MessageDeleted", "MessagePayload",
    "MessageUpserted", "MessageUpsertedPayload", "SenderPayload", "decode_event", "encode_event",
]
