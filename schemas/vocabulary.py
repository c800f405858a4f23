"""The words of tgpipe's data, defined once: media kinds and statuses, message kinds, chat and peer types,
coverage sources.

Each is a :class:`~enum.StrEnum`: a member *is* its string (``MediaStatus.STORED == "stored"``), so
it goes to JSON (pydantic writes the value) and to PostgreSQL (asyncpg sends it as ``text``)
unchanged. The database's CHECK constraints hold the same values: a migration writes out the
values it applies (history never changes), and ``tests/db/test_vocabulary.py`` asserts that the
constraints of a migrated database allow exactly these members, so the two cannot drift.

Telegram Desktop export fields: media kinds come from ``photo`` and ``media_type``, message kinds
from ``type``, chat types from the chat's ``type``, peer types from the ``from_id``/``actor_id``
prefix; the Telegram collector maps Telethon's types onto the same words.
"""

from __future__ import annotations

from enum import StrEnum


class MediaKind(StrEnum):
    """What a media item is (``media.kind``, ``messages.media_kind``; one item per kind and message).

    Export: the ``photo`` field is a ``photo``; the ``file`` field is its ``media_type``, which
    Telegram Desktop writes as ``sticker``, ``video_message``, ``voice_message``, ``animation``,
    ``video_file`` or ``audio_file``, and leaves out for any other file: a ``document``. Telegram
    collector: ``photo``.
    """

    PHOTO = "photo"
    VIDEO_FILE = "video_file"
    VIDEO_MESSAGE = "video_message"
    ANIMATION = "animation"
    VOICE_MESSAGE = "voice_message"
    AUDIO_FILE = "audio_file"
    STICKER = "sticker"
    DOCUMENT = "document"


class MediaStatus(StrEnum):
    """The outcome of a media item (``media.status``); only ``stored`` and ``superseded`` rows hold a
    ``sha256``."""

    STORED = "stored"  #: the bytes are in the content store
    MISSING = "missing"  #: no such file in the export, or the message or photo is gone from Telegram
    NOT_INCLUDED = "not_included"  #: the export has a ``(File …)`` placeholder instead of a path
    OUTSIDE_EXPORT_ROOT = "outside_export_root"  #: the path leaves the export directory; not read
    SKIPPED = "skipped"  #: a kind not in ``TGPIPE_MEDIA_DOWNLOAD_KINDS`` (or not downloadable from Telegram)
    FAILED = "failed"  #: reading or downloading failed after its retries; ``error`` says why
    NO_TELEGRAM_CLIENT = "no_telegram_client"  #: a Telegram photo and no session configured
    NOT_IMAGE = "not_image"  #: a ``photo`` whose bytes are no image format; not stored
    EXPORT_ROOT_NOT_ALLOWED = "export_root_not_allowed"  #: export root not under ``TGPIPE_MEDIA_EXPORT_ROOTS``
    NOT_REGULAR_FILE = "not_regular_file"  #: a FIFO, device, socket, directory, or a file of /proc or /sys
    TOO_LARGE = "too_large"  #: over the kind's cap (``TGPIPE_MEDIA_MAX_BYTES``); not stored
    SUPERSEDED = "superseded"  #: the message's current version no longer has this item


class MessageKind(StrEnum):
    """``messages.kind``: export ``type`` (``"service"`` for service messages, else a message)."""

    MESSAGE = "message"
    SERVICE = "service"


class PeerType(StrEnum):
    """Who sent a message (``senders.peer_type``): export ``from_id``/``actor_id`` prefix ``user``,
    ``channel`` or ``chat`` (a bare integer in 2020-era exports is a user)."""

    USER = "user"
    CHANNEL = "channel"
    CHAT = "chat"


class ChatType(StrEnum):
    """A chat's type (``channels.type``): the export chat's ``type``; one the export names but this
    list does not is ``unknown``."""

    CHANNEL = "channel"
    PUBLIC_CHANNEL = "public_channel"
    PRIVATE_CHANNEL = "private_channel"
    GROUP = "group"
    PRIVATE_GROUP = "private_group"
    PUBLIC_SUPERGROUP = "public_supergroup"
    PRIVATE_SUPERGROUP = "private_supergroup"
    SUPERGROUP = "supergroup"
    PERSONAL_CHAT = "personal_chat"
    BOT_CHAT = "bot_chat"
    SAVED_MESSAGES = "saved_messages"
    UNKNOWN = "unknown"


class CoverageSource(StrEnum):
    """Where a completely archived range came from (``coverage.source``): a Telegram Desktop export,
    a Telegram backfill or re-fetch by the collector, or the collector's live following."""

    EXPORT = "export"
    TELEGRAM_BACKFILL = "telegram_backfill"
    TELEGRAM_LIVE = "telegram_live"
