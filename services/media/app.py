"""Media transport: consumes ``message.committed`` in batches (consumer group ``media_group``).

Only committed messages reach this service, so every media row's foreign key to ``messages``
holds by construction; an event naming a message that is not in the database is dead-lettered
before anything is read. Per batch: plan the work against each message's current version
(:func:`services.media.pending.plan_media`), fetch and store the files (worker thread), write the
rows in one transaction, then commit offsets (:func:`tgpipe.kafka.consume.consume_batch`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import asyncpg
from faststream.kafka import KafkaBroker

from schemas import MessageCommitted
from tgpipe.telegram.client import TelegramClient
from services.media.fetch import fetch_rows
from services.media.pending import plan_media
from services.media.persist import upsert_media
from services.media.store import ContentStore
from services.media.telegram import TelegramPhotos
from tgpipe.kafka.consume import subscribe_batches
from tgpipe.metrics import DB_TRANSACTION, observe_media
from tgpipe.settings import Settings

ProcessedHook = Callable[[list[MessageCommitted]], None]


# A service is a register_* function on a broker: the same signature as register_writer (`duplicates`
# pairs them) on purpose, so the runtime starts either the same way.
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
            plan = await plan_media(conn, events)  # current versions only; raises for an unknown message
        rows = await asyncio.to_thread(fetch_rows, plan.fetch, store, settings)
        rows += await telegram_photos.rows(plan.fetch)
        rows = [dataclasses.replace(r, version_sha256=plan.versions[r.channel_id, r.message_id]) for r in rows]
        async with pool().acquire() as conn:
            with DB_TRANSACTION.labels("media").time():
                await upsert_media(conn, rows, plan.relink, plan.supersede)
        observe_media(rows)
        if on_processed:
            on_processed(events)

    subscribe_batches(broker, settings, topic=settings.topic_committed, group=settings.media_group,
                      expected=MessageCommitted, process=process, name="store_media")
