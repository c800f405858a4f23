"""Builders of hand-written events for tests (each value chosen by the test that calls them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import (
    ChannelPayload,
    MediaRef,
    MessagePayload,
    MessageUpserted,
    MessageUpsertedPayload,
    SenderPayload,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def message_event(channel_id: int, message_id: int, *, text: str = "", edited_after_s: int | None = None,
                  sender: int | None = 7, media: list[MediaRef] | None = None, title: str = "chan") -> MessageUpserted:
    """A ``message.upserted`` event; ``edited_after_s`` sets ``edit_date`` to T0 + that many seconds."""
    edit = T0 + timedelta(seconds=edited_after_s) if edited_after_s is not None else None
    return MessageUpserted(
        source="test",
        payload=MessageUpsertedPayload(
            channel=ChannelPayload(channel_id=channel_id, type="public_channel", title=title),
            message=MessagePayload(
                channel_id=channel_id, message_id=message_id, kind="message", date=T0, edit_date=edit,
                sender=SenderPayload(peer_type="user", peer_id=sender, name=f"user {sender}") if sender else None,
                text=text, raw={"id": message_id, "text": text},
                media_kind=media[0].kind if media else None,
            ),
            media=media or [],
        ),
    )
