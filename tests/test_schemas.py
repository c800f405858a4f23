"""The event contract's caps (contract line E9): one media item per kind, a bounded text."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError

from schemas import (
    CommittedPayload,
    MediaRef,
    MessageCommitted,
    MessageUpsertedPayload,
    decode_event,
    encode_event,
)
from tests.support.factories import message_event
from tgpipe.errors import EventSchemaError
from tgpipe.settings import Settings

PHOTO = MediaRef(kind="photo", export_root="/export", path="photos/a.jpg")
OTHER_PHOTO = MediaRef(kind="photo", export_root="/export", path="photos/b.jpg")
FILE = MediaRef(kind="document", export_root="/export", path="files/a.pdf")


def _with_media(value: bytes, *path: str, media: list[MediaRef]) -> bytes:
    """``value`` with the media list at ``path`` replaced by hand (no model validates it first)."""
    data = json.loads(value)
    target = data
    for key in path:
        target = target[key]
    target["media"] = [ref.model_dump(mode="json") for ref in media]
    return json.dumps(data).encode()


def _committed(media: list[MediaRef]) -> bytes:
    event = MessageCommitted(source="t", payload=CommittedPayload(channel_id=1, message_id=2,
                                                                  causation_id=uuid.uuid4()))
    return _with_media(encode_event(event), "payload", media=media)


def test_contract_E9_a_media_kind_listed_twice_is_refused_by_the_contract():
    upserted = encode_event(message_event(1, 2))
    with pytest.raises(EventSchemaError, match=r"invalid message\.upserted\.payload\.media: .*media kind 'photo' "
                                               r"listed more than once"):
        decode_event(_with_media(upserted, "payload", media=[PHOTO, FILE, OTHER_PHOTO]))
    with pytest.raises(EventSchemaError, match=r"invalid message\.committed\.payload\.media: .*'photo'"):
        decode_event(_committed([PHOTO, OTHER_PHOTO]))
    good = message_event(1, 2).payload
    with pytest.raises(ValidationError, match="listed more than once"):  # nor can our own code build one
        MessageUpsertedPayload(channel=good.channel, message=good.message, media=[PHOTO, PHOTO])
    # One of each kind is the contract.
    one_each = decode_event(_with_media(upserted, "payload", media=[PHOTO, FILE]))
    assert [ref.kind for ref in one_each.payload.media] == ["photo", "document"]
    assert len(decode_event(_committed([PHOTO, FILE])).payload.media) == 2


def test_contract_E9_text_over_the_limit_is_refused_by_the_contract():
    limit = Settings().max_text_chars
    assert limit == 4096  # Telegram's limit for a message's text

    def value(text: str) -> bytes:
        return encode_event(message_event(1, 2, text=text))

    at_limit = "y" * (limit - 1) + "\U0001f600"  # characters are code points: 4,097 UTF-16 units here
    assert decode_event(value(at_limit), max_text_chars=limit).payload.message.text == at_limit
    with pytest.raises(EventSchemaError, match=r"invalid message\.upserted\.payload\.message\.text: .*text is "
                                               r"4,097 characters long, over the limit of 4,096"):
        decode_event(value("x" * (limit + 1)), max_text_chars=limit)
    with pytest.raises(EventSchemaError, match=r"text is 5,000,000 characters long, over the limit of 4,096"):
        decode_event(value("x" * 5_000_000), max_text_chars=limit)
    # The cap is the reader's setting: no limit given, none applied (dlq show, tools).
    assert len(decode_event(value("x" * 5_000)).payload.message.text) == 5_000
