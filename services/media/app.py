"""Media transport: consumes ``message.committed`` in batches (consumer group ``media_group``).

Only committed messages reach this service, so every media row's foreign key to ``messages``
holds by construction. Per batch: fetch and store the files (worker thread), upsert the rows
in one statement, then commit offsets (:func:`tgpipe.consume.consume_batch`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
from faststream.kafka import KafkaBroker

from schemas import MessageCommitted
from services.collector.telegram.client import TelegramClient
from services.media.fetch import fetch_rows, unread_rows
from services.media.pending import pending_events
from services.media.persist import existing_messages, upsert_media
from services.media.store import ContentStore
from services.media.telegram import TelegramPhotos
from tgpipe.consume import subscribe_batches
from tgpipe.metrics import DB_TRANSACTION, observe_media
from tgpipe.settings import Settings

ProcessedHook = Callable[[list[MessageCommitted]], None]


def register_media(
    broker: KafkaBroker,
    settings: Settings,
    pool: Callable[[], asyncpg.Pool],
    on_processed: ProcessedHook | None = None,
    telegram: TelegramClient | None = None,
) -> None:
    """Subscribe the media service on ``broker``.

    Args:
        pool: returns the open asyncpg pool (opened at start-up, after registration).
        on_processed: called with each batch's committed events once their media rows are written.
        telegram: the Telegram client for ``source="telegram"`` photos; ``None`` (no session
            configured) records them as ``no_telegram_client``.
    """
    store = ContentStore(settings.media_dir)
    telegram_photos = TelegramPhotos(telegram, store, settings, pool)

    async def process(events: list[MessageCommitted]) -> None:
        async with pool().acquire() as conn:
            todo = await pending_events(conn, events)  # once per media item, never after stored
            known = await existing_messages(conn, [_key(e) for e in todo])
        # A committed event whose message is not in the database (forged, or for another database)
        # reads and stores nothing: its row fails the foreign key, and the record is dead-lettered.
        forged = [e for e in todo if _key(e) not in known]
        todo = [e for e in todo if _key(e) in known]
        rows = await asyncio.to_thread(fetch_rows, todo, store, settings)
        rows += await telegram_photos.rows(todo) + unread_rows(forged)
        async with pool().acquire() as conn:
            with DB_TRANSACTION.labels("media").time():
                await upsert_media(conn, rows)
        observe_media(rows)
        if on_processed:
            on_processed(events)

    subscribe_batches(broker, settings, topic=settings.topic_committed, group=settings.media_group,
                      expected=MessageCommitted, process=process, name="store_media")


def _key(event: MessageCommitted) -> tuple[int, int]:
    return event.payload.channel_id, event.payload.message_id
