"""Pure mapping of real Telethon objects to event payloads (no client, no I/O)."""

from __future__ import annotations

import inspect
import json
from datetime import timedelta

import pytest
from telethon import TelegramClient as Telethon
from telethon.tl import types

from schemas import DeletedPayload
from tgpipe.telegram.photos import largest_photo_size
from tgpipe.telegram.client import ChannelPeer, TelegramClient, TelethonClient, parse_channel_ref
from services.collector.telegram.mapping import (
    channel_payload,
    live_change,
    message_payload,
)
from tests.support.telegram import T0, FakeTelegram, photo, post, service
from tests.support.telegram import copy as tl_copy

NEWS = ChannelPeer(100, 1, "news", "News", "public_channel")
CHAT = ChannelPeer(200, 2, None, "Chat", "private_supergroup")


def test_channel_post_maps_every_field_and_raw_is_json_safe():
    message = post(100, 7, "Hello world", grouped_id=555, reply_to=3, media=photo(9),
                   edit_date=T0 + timedelta(hours=1), reactions={"👍": 3, "🔥": 1},
                   entities=[types.MessageEntityBold(0, 5)])
    message.post_author = "Ann"
    message.fwd_from = types.MessageFwdHeader(date=T0, from_id=types.PeerChannel(42))
    payload = message_payload(message, channel_payload(NEWS))

    assert payload.channel.model_dump() == {"channel_id": 100, "type": "public_channel", "title": "News"}
    m = payload.message
    assert (m.channel_id, m.message_id, m.kind, m.text) == (100, 7, "message", "Hello world")
    assert m.sender.model_dump() == {"peer_type": "channel", "peer_id": 100, "name": "News"}  # a channel post
    assert m.date == T0 + timedelta(seconds=7) and m.edit_date == T0 + timedelta(hours=1)
    assert m.entities == [{"_": "MessageEntityBold", "offset": 0, "length": 5}]
    assert (m.reply_to_message_id, m.grouped_id, m.post_author, m.forwarded_from) == (3, 555, "Ann", "channel42")
    assert m.reactions == [{"type": "emoji", "emoji": "👍", "count": 3}, {"type": "emoji", "emoji": "🔥", "count": 1}]
    assert m.media_kind == "photo"
    assert [r.model_dump(exclude_none=True) for r in payload.media] == [
        {"kind": "photo", "source": "telegram", "photo_id": 9, "width": 1280, "height": 960,
         "file_size": 90_000, "mime_type": "image/jpeg"}]
    # raw: the whole to_dict(), JSON-safe (bytes as base64, datetimes ISO), enough to rebuild the message
    text = json.dumps(m.raw)
    assert m.raw["_"] == "Message" and m.raw["media"]["photo"]["file_reference"] == "cmVmLTA="
    assert m.raw["date"] == (T0 + timedelta(seconds=7)).isoformat()
    assert "None" not in text and "null" not in text


def test_supergroup_message_sender_and_service_message():
    user_message = message_payload(post(200, 2, "hi", from_user=77), channel_payload(CHAT)).message
    assert user_message.sender.model_dump() == {"peer_type": "user", "peer_id": 77, "name": None}

    created = message_payload(service(200, 1, types.MessageActionChannelCreate("Chat")), channel_payload(CHAT))
    assert (created.message.kind, created.message.action, created.message.text) == (
        "service", "MessageActionChannelCreate", "")
    assert created.media == []


def test_largest_photo_size_never_picks_a_video_size():
    animated = photo(1, sizes=[types.PhotoStrippedSize("i", b"xx"), types.PhotoSize("m", 320, 320, 8_000),
                               types.PhotoSize("x", 800, 800, 40_000), types.PhotoPathSize("j", b"path")],
                     video_sizes=[types.VideoSize("u", 1080, 1080, 900_000)])
    chosen = largest_photo_size(animated)
    assert (type(chosen), chosen.type, chosen.w) == (types.PhotoSize, "x", 800)
    # Telethon's own default (download_media without thumb) would have taken the video:
    assert isinstance(Telethon._get_thumb(animated.sizes + animated.video_sizes, None), types.VideoSize)
    assert largest_photo_size(types.PhotoEmpty(1)) is None
    assert largest_photo_size(photo(2, sizes=[types.PhotoStrippedSize("i", b"xx")])) is None


def test_photo_gone_still_gets_a_reference_without_photo_id():
    message = post(100, 3)
    message.media = types.MessageMediaPhoto(photo=types.PhotoEmpty(5))
    [ref] = message_payload(message, channel_payload(NEWS)).media
    assert (ref.kind, ref.source, ref.photo_id) == ("photo", "telegram", None)


def test_live_changes_of_followed_channels_and_unresolved_deletions():
    followed = {100}
    edit = types.UpdateEditChannelMessage(post(100, 5, "v2", edit_date=T0), pts=1, pts_count=1)
    assert live_change(tl_copy(edit), followed, T0).message == "v2"
    assert live_change(types.UpdateNewChannelMessage(post(999, 1), pts=1, pts_count=1), followed, T0) is None

    deleted = live_change(types.UpdateDeleteChannelMessages(100, [5, 6], pts=2, pts_count=2), followed, T0)
    assert deleted == DeletedPayload(channel_id=100, message_ids=[5, 6], deleted_at=T0, detected_by="live")
    assert live_change(types.UpdateDeleteChannelMessages(999, [1], pts=2, pts_count=1), followed, T0) is None
    # A private chat or basic group: Telegram does not say which chat; nothing is guessed.
    private = live_change(types.UpdateDeleteMessages([5, 42], pts=3, pts_count=2), followed, T0)
    assert (private.channel_id, private.message_ids) == (None, [5, 42])


def test_channel_references():
    assert parse_channel_ref("@News") == "News"
    assert parse_channel_ref("https://t.me/news/") == "news"
    assert parse_channel_ref("123") == 123
    assert parse_channel_ref("-1001234567890") == 1234567890
    with pytest.raises(ValueError, match="basic group"):
        parse_channel_ref("-4567")


def test_fake_and_telethon_client_implement_the_same_interface():
    methods = [name for name, _ in inspect.getmembers(TelegramClient, inspect.isfunction) if not name.startswith("_")]
    assert {"iter_messages", "get_messages", "download_photo", "resolve", "takeout", "add_update_handler"} <= set(methods)
    for implementation in (FakeTelegram, TelethonClient):
        for name in methods:
            expected = inspect.signature(getattr(TelegramClient, name))
            actual = inspect.signature(getattr(implementation, name))
            assert list(actual.parameters) == list(expected.parameters), (implementation, name)
