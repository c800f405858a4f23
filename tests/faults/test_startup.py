"""A service started before its broker (or database) answers: it waits, says so, then works."""

from __future__ import annotations

import json
import signal

import pytest

from tests.faults.harness import publish, text_payloads
from tests.support.processes import service_process
from tests.support.proxy import TcpProxy
from tests.support.waiting import eventually, persisted

pytestmark = pytest.mark.faults


async def test_contract_S1_service_waits_for_the_broker_then_works(fault_settings, db, tmp_path, checker):
    host, port = fault_settings.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)
    proxy = TcpProxy(("tcp", host, int(port)))
    await (await proxy.open()).close()  # a port of our own, with nobody listening yet
    readiness_file = tmp_path / "writer-ready.json"
    settings = fault_settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{proxy.port}",
                                                 "readiness_file": readiness_file})

    def state() -> dict:
        return json.loads(readiness_file.read_text()) if readiness_file.exists() else {}

    try:
        async with service_process(settings, tmp_path / "writer.log") as writer:
            waiting = f"waiting for Kafka at 127.0.0.1:{proxy.port} (KafkaConnectionError"
            await eventually(lambda: writer.log().count(waiting) >= 2, 30, "two attempts logged")
            assert state()["state"] == "waiting"
            assert state()["detail"].startswith(f"Kafka at 127.0.0.1:{proxy.port}")

            await proxy.open()  # the broker is reachable now
            await eventually(lambda: state().get("state") == "ready", 30, "the writer ready")
            await publish(fault_settings, checker, text_payloads(10), source="s1")
            await eventually(persisted(db, 10), 30, "messages written by the writer that waited")

            writer.signal(signal.SIGTERM)
            assert await writer.wait(timeout=30) == 0, writer.log()
        assert state()["state"] == "stopped"
    finally:
        await proxy.close()
    report = await checker.check(fault_settings, db)
    assert report.problems() == []
