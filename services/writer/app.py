"""Writer transport: consumes ``message.upserted`` and ``message.deleted`` in batches (group ``writer_group``).

Per batch: one database transaction (see :mod:`services.writer.persist`), then one
``message.committed`` event per distinct message whose stored version is the batch's (never for a
version that lost to a newer one, contract O1), published and acknowledged by the broker,
then the consumer offsets are committed (:func:`tgpipe.kafka.consume.consume_batch`). A redelivered
batch re-emits its committed events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
from faststream.kafka import KafkaBroker

from schemas import CommittedPayload, MessageCommitted, MessageDeleted, MessageUpserted
from services.writer.persist import version_sha256, write_batch
from tgpipe.kafka.broker import publish_event
from tgpipe.kafka.consume import subscribe_batches
from tgpipe.errors import AfterCommitError
from tgpipe.metrics import DB_TRANSACTION
from tgpipe.settings import Settings

SOURCE = "tgpipe-writer"
CommittedHook = Callable[[list[MessageCommitted]], None]
SupersededHook = Callable[[list[tuple[int, int]]], None]


def committed_events(written: list[MessageUpserted]) -> list[MessageCommitted]:
    """Build the ``message.committed`` event for each written message (carrying its media refs and
    the committed version's :func:`~services.writer.persist.version_sha256`)."""
    return [
        MessageCommitted(
            source=SOURCE,
            payload=CommittedPayload(
                channel_id=e.payload.message.channel_id,
                message_id=e.payload.message.message_id,
                causation_id=e.event_id,
                media=e.payload.media,
                version_sha256=version_sha256(e.payload),
            ),
        )
        for e in written
    ]


async def publish_all(broker: KafkaBroker, topic: str, events: list[MessageCommitted]) -> None:
    """Publish ``events`` (:func:`tgpipe.kafka.broker.publish_event`) without a round trip each, then
    await every ack."""
    futures = [await publish_event(broker, topic, e) for e in events]
    await asyncio.gather(*futures)


# A service is a register_* function on a broker: the same signature as register_media (`duplicates`
# pairs them) on purpose, so the runtime starts either the same way.
def register_writer(
    broker: KafkaBroker,
    settings: Settings,
    pool: Callable[[], asyncpg.Pool],
    on_committed: CommittedHook | None = None,
    on_superseded: SupersededHook | None = None,
) -> None:
    """Subscribe the writer on ``broker``.

    Args:
        pool: returns the open asyncpg pool (opened at start-up, after registration).
        on_committed: called with the committed events after the broker acknowledged them
            (used by ``tgpipe archive`` to observe progress in-process).
        on_superseded: called, after ``on_committed``, with the ``(chat id, message id)`` of the
            batch's messages whose version lost to a newer stored one (contract O1): they are
            done, and no committed event is published for them.
    """

    async def process(events: list[MessageUpserted | MessageDeleted]) -> None:
        async with pool().acquire() as conn:
            with DB_TRANSACTION.labels("writer").time():
                written = await write_batch(conn, events)
        committed = committed_events(written)
        try:
            await publish_all(broker, settings.topic_committed, committed)
            if on_committed:
                on_committed(committed)
            if on_superseded:
                won = {(e.payload.channel_id, e.payload.message_id) for e in committed}
                on_superseded(sorted({(e.payload.message.channel_id, e.payload.message.message_id)
                                      for e in events if isinstance(e, MessageUpserted)} - won))
        except Exception as exc:  # the rows are committed: never split or dead-letter this batch
            raise AfterCommitError(f"after the commit: {type(exc).__name__}: {exc}") from exc

    subscribe_batches(broker, settings, topic=settings.topic_messages, group=settings.writer_group,
                      expected=(MessageUpserted, MessageDeleted), process=process, name="write_messages")
