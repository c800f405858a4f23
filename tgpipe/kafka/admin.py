"""The one place tgpipe builds plain aiokafka clients (FastStream's broker is built in :mod:`.broker`).

Both are async context managers that start the client and always close it:

* :func:`admin_client`: an ``AIOKafkaAdminClient`` (create, list and delete topics);
* :func:`offsets_consumer`: an ``AIOKafkaConsumer`` that never commits on its own, for reading a
  topic from a chosen offset or a consumer group's committed offsets without joining the group.

Raises:
    ConfigurationError: ``kafka_bootstrap_servers`` is unset.
    aiokafka.errors.KafkaConnectionError: the broker is unreachable at start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from tgpipe.errors import ConfigurationError
from tgpipe.settings import Settings


def bootstrap_servers(settings: Settings) -> str:
    """``settings.kafka_bootstrap_servers`` (``host:port[,host:port]``).

    Raises:
        ConfigurationError: it is unset.
    """
    if not settings.kafka_bootstrap_servers:
        raise ConfigurationError("TGPIPE_KAFKA_BOOTSTRAP_SERVERS is not set")
    return settings.kafka_bootstrap_servers


@asynccontextmanager
async def admin_client(settings: Settings, *, client_id: str = "tgpipe-admin") -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on exit."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(settings), client_id=client_id)
    try:
        await admin.start()
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def offsets_consumer(settings: Settings, *, client_id: str, group_id: str | None = None,
                           **options: Any) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer with auto-commit off (``group_id``: whose committed offsets it reads
    or writes; ``None``: outside any group), stopped on exit. ``options`` go to aiokafka."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(settings), group_id=group_id,
                                enable_auto_commit=False, client_id=client_id, **options)
    try:
        await consumer.start()  # a failed start is stopped too (aiokafka warns of an unclosed consumer)
        yield consumer
    finally:
        await consumer.stop()
