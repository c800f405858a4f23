"""Pure mapping of Telethon objects to tgpipe's event payloads (no I/O, no client).

* :func:`message_payload`: a ``types.Message`` / ``types.MessageService`` of a channel →
  :class:`~schemas.events.MessageUpsertedPayload` (channel id = ``PeerChannel.channel_id``,
  the bare id; sender from ``from_id``, or the channel itself for channel posts; ``raw`` is
  ``to_dict()`` made JSON-safe).
* :func:`live_change`: a raw update → the message to upsert or the deletion to record.
  Photo sizes are chosen by :func:`tgpipe.telegram.photos.largest_photo_size` (shared with the
  media service).
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any

from telethon import utils
from telethon.tl import types

from schemas.events import (
    ChannelPayload,
    DeletedPayload,
    MediaRef,
    MessagePayload,
    MessageUpsertedPayload,
    SenderPayload,
)
from schemas.vocabulary import MediaKind, MessageKind, PeerType
from tgpipe.telegram.client import ChannelPeer, TelegramMessage
from tgpipe.telegram.photos import largest_photo_size, photo_size_bytes

def json_safe(value: Any) -> Any:
    """``to_dict()`` output made JSON-safe: bytes → base64 text, datetimes → ISO 8601; ``None``
    fields are left out (every optional TL field defaults to ``None`` when rebuilt)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def peer_label(peer: object) -> str | None:
    """``PeerUser(5)`` → ``"user5"``, ``PeerChannel`` → ``"channel5"``, ``PeerChat`` → ``"chat5"``
    (the export's ``from_id`` spelling); ``None`` for anything else."""
    if isinstance(peer, types.PeerUser):
        return f"user{peer.user_id}"
    if isinstance(peer, types.PeerChannel):
        return f"channel{peer.channel_id}"
    if isinstance(peer, types.PeerChat):
        return f"chat{peer.chat_id}"
    return None


def channel_payload(peer: ChannelPeer) -> ChannelPayload:
    """The ``channels`` row of a resolved channel."""
    return ChannelPayload(channel_id=peer.channel_id, type=peer.type, title=peer.title)


def _sender(message: TelegramMessage, channel: ChannelPayload) -> SenderPayload:
    peer = message.from_id
    entity = getattr(message, "sender", None)  # set by Telethon when the response carried it
    name = (utils.get_display_name(entity) or None) if entity is not None else None
    if isinstance(peer, types.PeerUser):
        return SenderPayload(peer_type=PeerType.USER, peer_id=peer.user_id, name=name)
    if isinstance(peer, types.PeerChat):
        return SenderPayload(peer_type=PeerType.CHAT, peer_id=peer.chat_id, name=name)
    if isinstance(peer, types.PeerChannel) and peer.channel_id != channel.channel_id:
        return SenderPayload(peer_type=PeerType.CHANNEL, peer_id=peer.channel_id, name=name)
    # A channel post (no from_id) or an anonymous admin: the channel itself.
    return SenderPayload(peer_type=PeerType.CHANNEL, peer_id=channel.channel_id, name=channel.title)


def _reactions(reactions: types.MessageReactions | None) -> list[dict[str, Any]] | None:
    """Reaction counts in the export's shape: ``{"type": "emoji", "emoji": "👍", "count": 3}``."""
    if reactions is None:
        return None
    result = []
    for item in reactions.results:
        reaction = item.reaction
        if isinstance(reaction, types.ReactionEmoji):
            result.append({"type": "emoji", "emoji": reaction.emoticon, "count": item.count})
        elif isinstance(reaction, types.ReactionCustomEmoji):
            result.append({"type": "custom_emoji", "document_id": reaction.document_id, "count": item.count})
        elif isinstance(reaction, types.ReactionPaid):
            result.append({"type": "paid", "count": item.count})
        else:
            result.append({"type": type(reaction).__name__, "count": item.count})
    return result


_DOCUMENT_KINDS = (
    (types.DocumentAttributeSticker, MediaKind.STICKER),
    (types.DocumentAttributeAnimated, MediaKind.ANIMATION),
    (types.DocumentAttributeVideo, MediaKind.VIDEO_FILE),
)


def _document_kind(document: types.Document) -> MediaKind:
    attributes = document.attributes or []
    for attribute_type, kind in _DOCUMENT_KINDS:
        if any(isinstance(a, attribute_type) for a in attributes):
            return kind
    audio = next((a for a in attributes if isinstance(a, types.DocumentAttributeAudio)), None)
    if audio is not None:
        return MediaKind.VOICE_MESSAGE if audio.voice else MediaKind.AUDIO_FILE
    return MediaKind.DOCUMENT


def media_refs(message: TelegramMessage) -> list[MediaRef]:
    """Media references of a message (``source="telegram"``): its photo, or its document.

    A photo message whose photo is gone (``PhotoEmpty``, expired self-destructing media) still
    gets a photo reference, with ``photo_id=None``, so the media service records why there is
    no file. Web pages, polls, locations and other media have no file and no reference.
    """
    media = getattr(message, "media", None)
    if isinstance(media, types.MessageMediaPhoto):
        photo = media.photo
        size = largest_photo_size(photo)
        return [MediaRef(
            kind=MediaKind.PHOTO, source="telegram", mime_type="image/jpeg",
            photo_id=photo.id if isinstance(photo, types.Photo) else None,
            width=size.w if size else None, height=size.h if size else None,
            file_size=photo_size_bytes(size) if size else None,
        )]
    if isinstance(media, types.MessageMediaDocument) and isinstance(media.document, types.Document):
        document = media.document
        video = next((a for a in document.attributes or [] if isinstance(a, types.DocumentAttributeVideo)), None)
        return [MediaRef(kind=_document_kind(document), source="telegram", mime_type=document.mime_type,
                         file_size=document.size, width=video.w if video else None,
                         height=video.h if video else None)]
    return []


def message_payload(message: TelegramMessage, channel: ChannelPayload,
                    observed_at: datetime | None = None) -> MessageUpsertedPayload:
    """Map one channel message to its ``message.upserted`` payload.

    ``observed_at`` (contract O1): when Telegram showed this version of the message (and this
    chat title); default: now, on the collector's clock, since a message is mapped as soon as it
    is fetched or received. Telegram itself says when a message was sent and last edited, not when
    its reactions or views were counted, so versions with the same ``edit_date`` are ordered by
    this time (limits: the collectors' clocks must agree to within the time between two fetches).

    Raises:
        ValueError: the message is not in ``channel`` (its ``peer_id`` names another chat).
    """
    if not isinstance(message.peer_id, types.PeerChannel) or message.peer_id.channel_id != channel.channel_id:
        raise ValueError(f"message {message.id} is in {message.peer_id!r}, not channel {channel.channel_id}")
    reply = message.reply_to if isinstance(message.reply_to, types.MessageReplyHeader) else None
    forward = message.fwd_from
    refs = media_refs(message)
    service = isinstance(message, types.MessageService)
    return MessageUpsertedPayload(
        channel=channel,
        message=MessagePayload(
            channel_id=channel.channel_id,
            message_id=message.id,
            kind=MessageKind.SERVICE if service else MessageKind.MESSAGE,
            date=message.date,
            edit_date=getattr(message, "edit_date", None),
            sender=_sender(message, channel),
            text=getattr(message, "message", None) or "",
            entities=[json_safe(e.to_dict()) for e in getattr(message, "entities", None) or []],
            reply_to_message_id=reply.reply_to_msg_id if reply else None,
            reply_to_peer=peer_label(reply.reply_to_peer_id) if reply else None,
            forwarded_from=(forward.from_name or peer_label(forward.from_id)) if forward else None,
            post_author=getattr(message, "post_author", None),
            action=type(message.action).__name__ if service else None,
            reactions=_reactions(message.reactions),
            grouped_id=getattr(message, "grouped_id", None),
            media_kind=refs[0].kind if refs else None,
            raw=json_safe(message.to_dict()),
        ),
        media=refs,
        observed_at=observed_at or datetime.now(UTC),
    )


def live_change(update: object, followed: Collection[int], observed_at: datetime
                ) -> TelegramMessage | DeletedPayload | None:
    """What a raw update means for the archive.

    Returns:
        the new or edited message (``UpdateNewChannelMessage``/``UpdateEditChannelMessage``) of a
        followed channel; a :class:`DeletedPayload` for ``UpdateDeleteChannelMessages`` of a
        followed channel (with its id) or ``UpdateDeleteMessages`` (private chats and basic
        groups: no chat id, recorded as unresolved); ``None`` for everything else.
    """
    if isinstance(update, types.UpdateNewChannelMessage | types.UpdateEditChannelMessage):
        message = update.message
        if (isinstance(message, types.Message | types.MessageService)
                and isinstance(message.peer_id, types.PeerChannel) and message.peer_id.channel_id in followed):
            return message
        return None
    if isinstance(update, types.UpdateDeleteChannelMessages):
        if update.channel_id in followed and update.messages:
            return DeletedPayload(channel_id=update.channel_id, message_ids=list(update.messages),
                                  deleted_at=observed_at, detected_by="live")
        return None
    if isinstance(update, types.UpdateDeleteMessages) and update.messages:
        return DeletedPayload(channel_id=None, message_ids=list(update.messages), deleted_at=observed_at,
                              detected_by="live")
    return None
