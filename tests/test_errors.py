"""The one classifier (:func:`tgpipe.errors.is_transient`) on the drivers' real exceptions
(contract line E5, docs/contract.md).

PostgreSQL errors are raised by the test database itself: naturally where a statement can provoke
them (foreign key, unique, NUL byte, terminated backend, closed connection, out-of-range argument),
else with ``RAISE … USING ERRCODE`` so asyncpg builds its exception class from the SQLSTATE exactly
as it does for any server error. Kafka errors come from a real client where one can provoke them
cheaply (no broker listening), else they are aiokafka's own exception classes.
"""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka import errors as kafka_errors

from tgpipe.errors import (
    ConfigurationError,
    EventError,
    EventSchemaError,
    ExportEntryError,
    UndecodableEventError,
    is_transient,
)

# SQLSTATE -> (asyncpg class it must map to, transient?)
SERVER_ERRORS = {
    "40001": (asyncpg.exceptions.SerializationError, True),
    "40P01": (asyncpg.exceptions.DeadlockDetectedError, True),
    "40003": (asyncpg.exceptions.StatementCompletionUnknownError, True),
    "55P03": (asyncpg.exceptions.LockNotAvailableError, True),       # lock_timeout expired
    "57014": (asyncpg.exceptions.QueryCanceledError, True),          # statement_timeout, pg_cancel_backend
    "57P01": (asyncpg.exceptions.AdminShutdownError, True),
    "57P02": (asyncpg.exceptions.CrashShutdownError, True),
    "57P03": (asyncpg.exceptions.CannotConnectNowError, True),
    "53300": (asyncpg.exceptions.TooManyConnectionsError, True),
    "53100": (asyncpg.exceptions.DiskFullError, True),
    "08006": (asyncpg.exceptions.ConnectionFailureError, True),
    "40002": (asyncpg.exceptions.TransactionIntegrityConstraintViolationError, False),
    "23503": (asyncpg.exceptions.ForeignKeyViolationError, False),
    "23505": (asyncpg.exceptions.UniqueViolationError, False),
    "23514": (asyncpg.exceptions.CheckViolationError, False),
    "22021": (asyncpg.exceptions.CharacterNotInRepertoireError, False),
    "22003": (asyncpg.exceptions.NumericValueOutOfRangeError, False),
    "22P02": (asyncpg.exceptions.InvalidTextRepresentationError, False),
    "42P01": (asyncpg.exceptions.UndefinedTableError, False),
    "XX000": (asyncpg.exceptions.InternalServerError, False),
}


async def _raise(conn: asyncpg.Connection, statement: str, *args: object) -> BaseException:
    try:
        await conn.execute(statement, *args)
    except Exception as exc:  # noqa: BLE001 - the point is to capture whatever the driver raises
        return exc
    raise AssertionError(f"{statement!r} did not fail")


@pytest.mark.parametrize("sqlstate", list(SERVER_ERRORS))
async def test_contract_E5_postgres_errors_by_sqlstate(db, sqlstate):
    expected_class, transient = SERVER_ERRORS[sqlstate]
    async with db.acquire() as conn:
        exc = await _raise(conn, f"DO $$ BEGIN RAISE EXCEPTION 'provoked' USING ERRCODE = '{sqlstate}'; END $$")
    assert type(exc) is expected_class and exc.sqlstate == sqlstate
    assert is_transient(exc) is transient


async def test_contract_E5_natural_constraint_and_data_errors_are_permanent(db):
    async with db.acquire() as conn:
        await conn.execute("INSERT INTO channels (channel_id, type) VALUES (1, 'channel')")
        provoked = [
            await _raise(conn, "INSERT INTO channels (channel_id, type) VALUES (1, 'channel')"),
            await _raise(conn, "INSERT INTO messages (channel_id, message_id, kind, date, raw, source_event_id)"
                               " VALUES (999, 1, 'message', now(), '{}', gen_random_uuid())"),
            await _raise(conn, "INSERT INTO channels (channel_id, type, title) VALUES (2, 'channel', $1)",
                         "a\x00b"),
            # Client-side: asyncpg refuses an argument it cannot encode before sending it (an id
            # beyond bigint, a lone surrogate), as the server's class-22 DataError.
            await _raise(conn, "SELECT $1::bigint", 2**63),
            await _raise(conn, "SELECT $1::text", "lone \ud800 surrogate"),
        ]
    assert [type(e) for e in provoked] == [
        asyncpg.UniqueViolationError, asyncpg.ForeignKeyViolationError, asyncpg.CharacterNotInRepertoireError,
        asyncpg.DataError, asyncpg.DataError]
    assert provoked[3].sqlstate == "22000"
    assert not any(is_transient(e) for e in provoked)


async def test_contract_E5_lost_connections_are_transient(db, database_url):
    victim = await asyncpg.connect(database_url)
    try:
        in_flight = asyncio.create_task(_raise(victim, "SELECT pg_sleep(30)"))
        async with db.acquire() as conn, asyncio.timeout(10):
            while not await conn.fetchval("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                          " WHERE pid = $1 AND query LIKE '%pg_sleep%'", victim.get_server_pid()):
                await asyncio.sleep(0.05)
        terminated = await asyncio.wait_for(in_flight, 10)  # the query in flight when its backend died
        closed = await _raise(victim, "SELECT 1")  # the connection used afterwards
    finally:
        await victim.close()

    # asyncpg reports the server's 57P01 (admin shutdown) as the connection lost mid-operation.
    assert type(terminated) is asyncpg.ConnectionDoesNotExistError
    assert "terminating connection due to administrator command" in str(terminated)
    assert type(closed) is asyncpg.InterfaceError
    assert is_transient(terminated) and is_transient(closed)


async def test_contract_E5_unreachable_database_is_transient():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(OSError) as refused:
        await asyncpg.connect(f"postgresql://nobody@127.0.0.1:{port}/none", timeout=5)
    assert is_transient(refused.value)


async def test_contract_E5_unreachable_broker_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=2000)
    with pytest.raises(kafka_errors.KafkaConnectionError) as refused:
        await asyncio.wait_for(producer.start(), 30)
    await producer.stop()
    assert is_transient(refused.value)


@pytest.mark.parametrize(("error", "transient"), [
    (kafka_errors.KafkaConnectionError("connection lost"), True),
    (kafka_errors.NotLeaderForPartitionError(), True),
    (kafka_errors.LeaderNotAvailableError(), True),
    (kafka_errors.RequestTimedOutError(), True),
    (kafka_errors.KafkaTimeoutError("batch expired"), True),  # not `retriable` in aiokafka, still transient
    (kafka_errors.NodeNotReadyError(), True),
    (kafka_errors.NotEnoughReplicasError(), True),
    (kafka_errors.GroupCoordinatorNotAvailableError(), True),
    # Retriable in aiokafka: metadata not propagated yet. A topic gone for good stalls the partition
    # (retries, then redelivery) rather than dead-lettering records that are not at fault.
    (kafka_errors.UnknownTopicOrPartitionError(), True),
    (kafka_errors.RecordTooLargeError(), False),
    (kafka_errors.MessageSizeTooLargeError(), False),
    (kafka_errors.TopicAuthorizationFailedError(), False),
    (kafka_errors.UnsupportedVersionError(), False),
])
def test_contract_E5_kafka_errors(error, transient):
    assert is_transient(error) is transient


@pytest.mark.parametrize(("error", "transient"), [
    (OSError(104, "Connection reset by peer"), True),
    (ConnectionRefusedError(111, "Connection refused"), True),
    (TimeoutError(), True),
    (UndecodableEventError("not JSON"), False),
    (EventSchemaError("unknown event type"), False),
    (EventError("cannot apply"), False),
    (ExportEntryError(3, "no date"), False),
    (ConfigurationError("unset"), False),
    (ValueError("a bug, not a fault"), False),
])
def test_contract_E5_other_errors(error, transient):
    assert is_transient(error) is transient


def test_contract_E5_one_classifier():
    """No module but tgpipe/errors.py looks at SQLSTATEs or aiokafka's ``retriable`` flag."""
    root = Path(__file__).resolve().parents[1]
    inspecting = re.compile(r"\bsqlstate\b|\.retriable\b|\bdef is_transient\b")
    offenders = [str(path.relative_to(root)) for package in ("tgpipe", "services", "schemas")
                 for path in sorted((root / package).rglob("*.py"))
                 if path != root / "tgpipe" / "errors.py" and inspecting.search(path.read_text())]
    assert offenders == []
