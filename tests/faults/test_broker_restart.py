"""The broker restarted under running services: only Apache Kafka can model it.

The local broker (Tansu) keeps everything in memory and hangs its clients when restarted, so this
test runs a Kafka container of its own (testcontainers; never the session's broker) and is
skipped where no Docker engine answers, as on our machines: it has not run here.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.support.broker import KafkaEndpoint, container_module as _testcontainers, topic_settings
from tests.faults.checker import Checker
from tests.faults.harness import publish, text_payloads
from tests.support.broker import collector
from tests.support.waiting import eventually, persisted
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import ProgressTracker

pytestmark = [pytest.mark.faults, pytest.mark.docker]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_contract_S2_broker_restart_apache_kafka(database_url, db, tmp_path):
    # A fixed host port: the broker advertises it, and a restart must come back on the same one.
    kafka = _testcontainers("kafka").KafkaContainer("confluentinc/cp-kafka:7.6.0")
    with kafka.with_bind_ports(9093, _free_port()) as container:
        endpoint = KafkaEndpoint(container.get_bootstrap_server(), is_tansu=False)
        async with topic_settings(database_url, endpoint, tmp_path) as settings:
            checker, payloads = Checker(), text_payloads(200, channels=12)
            async with running_services(settings, ProgressTracker()), collector(settings) as broker:
                await publish(settings, checker, payloads[:100], source="before", broker=broker)
                await eventually(persisted(db, 100), 120, "the first half persisted")
                await asyncio.to_thread(container.get_wrapped_container().restart, timeout=30)
                # The producer and both consumers reconnect by themselves; nothing is restarted.
                await publish(settings, checker, payloads[100:], source="after", broker=broker)
                await eventually(persisted(db, 200), 180, "everything persisted after the restart")
            report = await checker.check(settings, db)
    assert report.problems(allow_committed_duplicates=True) == []  # a restart may redeliver, never lose
