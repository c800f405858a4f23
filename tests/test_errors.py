"""The one classifier (:func:`tgpipe.errors.is_transient`, :func:`tgpipe.errors.is_record_error`)
on the drivers' real exceptions (contract lines E5, E6, E7, docs/contract.md).

PostgreSQL errors are raised by the test database itself: naturally where a statement can provoke
them (foreign key, unique, NUL byte, terminated backend, closed connection, out-of-range argument),
else with ``RAISE … USING ERRCODE`` so asyncpg builds its exception class from the SQLSTATE exactly
as it does for any server error. Kafka errors come from a real client where one can provoke them
cheaply (no broker listening), else they are aiokafka's own exception classes.
"""

from __future__ import annotations

import asyncio
import secrets
import socket

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka import errors as kafka_errors

from schemas import decode_event, encode_event
from services.writer import app as writer_app
from tests.support.factories import message_event
from tgpipe.runtime.inprocess import running_services
from tgpipe.kafka.dead_letters import read_dead_letters
from tgpipe.errors import (
    AfterCommitError,
    ConfigurationError,
    EventError,
    EventSchemaError,
    ExportEntryError,
    UndecodableEventError,
    is_record_error,
    is_transient,
)
from tgpipe.runtime.progress import ProgressTracker
from tgpipe.readiness import Readiness, wait_for

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


async def _provoked(conn: asyncpg.Connection) -> dict[str, BaseException]:
    """Errors one record's content causes, raised naturally by PostgreSQL (or asyncpg), by name."""
    await conn.execute("CREATE TEMP TABLE kinds (kind text PRIMARY KEY, n integer NOT NULL)")
    await conn.execute("INSERT INTO channels (channel_id, type) VALUES (1, 'channel')")
    return {
        # the same key twice in one upsert: a record listing one media kind twice
        "21000": await _raise(conn, "INSERT INTO kinds VALUES ('photo', 1), ('photo', 2) "
                                    "ON CONFLICT (kind) DO UPDATE SET n = excluded.n"),
        "22021": await _raise(conn, "INSERT INTO kinds VALUES ($1, 1)", "a\x00b"),
        "22003": await _raise(conn, "INSERT INTO kinds VALUES ('x', $1::bigint)", 2**40),
        "23502": await _raise(conn, "INSERT INTO kinds VALUES ('y', NULL)"),
        "23503": await _raise(conn, "INSERT INTO messages (channel_id, message_id, kind, date, raw, source_event_id)"
                                    " VALUES (999, 1, 'message', now(), '{}', gen_random_uuid())"),
        "23505": await _raise(conn, "INSERT INTO channels (channel_id, type) VALUES (1, 'channel')"),
        # an index row over btree's limit (random text does not compress): a 3 KB media kind
        "54000": await _raise(conn, "INSERT INTO kinds VALUES ($1, 1)", secrets.token_hex(3000)),
        "client-side DataError": await _raise(conn, "SELECT $1::bigint", 2**63),
    }


async def _setup_faults(conn: asyncpg.Connection) -> dict[str, BaseException]:
    """Errors of the service's own setup, raised naturally: never the record's fault."""
    faults = {"42P01": await _raise(conn, "INSERT INTO no_such_table VALUES (1)")}
    async with conn.transaction(readonly=True):
        faults["25006"] = await _raise(conn, "CREATE TEMP TABLE nope (x int)")
    await conn.execute("CREATE ROLE tgpipe_test_nobody_{0} NOLOGIN".format(conn.get_server_pid()))
    try:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL ROLE tgpipe_test_nobody_{conn.get_server_pid()}")
            faults["42501"] = await _raise(conn, "INSERT INTO channels (channel_id, type) VALUES (2, 'channel')")
    finally:
        await conn.execute(f"DROP ROLE tgpipe_test_nobody_{conn.get_server_pid()}")
    # statement shape, not a record: too many arguments for a function (54023)
    faults["54023"] = await _raise(conn, f"SELECT concat({', '.join(['1'] * 101)})")
    return faults


async def test_contract_E6_record_errors_are_an_allow_list_of_sqlstates(db):
    async with db.acquire() as conn:
        record = await _provoked(conn)
        setup = await _setup_faults(conn)
    assert {name: getattr(exc, "sqlstate", None) for name, exc in record.items()} == {
        name: "22000" if name == "client-side DataError" else name for name in record}
    assert {name: is_record_error(exc) for name, exc in record.items()} == dict.fromkeys(record, True)
    assert {name: exc.sqlstate for name, exc in setup.items()} == {name: name for name in setup}
    assert {name: is_record_error(exc) for name, exc in setup.items()} == dict.fromkeys(setup, False)
    assert not any(is_transient(exc) for exc in [*record.values(), *setup.values()])


@pytest.mark.parametrize("error", [
    AttributeError("'NoneType' object has no attribute 'channel_id'"),
    TypeError("unsupported operand"),
    NameError("name 'payload' is not defined"),
    AssertionError(),
    MemoryError(),
    KeyError("media"),
    IndexError("list index out of range"),
    RecursionError("maximum recursion depth exceeded"),
    ValueError("a bug, not a fault"),
    RuntimeError("unexpected"),
    NotImplementedError(),
    AfterCommitError("after the commit: KafkaTimeoutError"),
    ConfigurationError("unset"),
    kafka_errors.TopicAuthorizationFailedError(),
    kafka_errors.KafkaConnectionError("connection lost"),
    OSError(104, "Connection reset by peer"),
], ids=lambda e: type(e).__name__)
def test_contract_E7_programming_errors_are_never_record_errors(error):
    assert is_record_error(error) is False


@pytest.mark.parametrize("error", [UndecodableEventError("not JSON"), EventSchemaError("invalid media"),
                                   EventError("cannot apply")], ids=lambda e: type(e).__name__)
def test_contract_E6_event_errors_are_record_errors(error):
    assert is_record_error(error) is True


async def test_contract_E5_one_classifier(settings, db, monkeypatch):
    """The components that retry, give up or dead-letter decide by the classifier alone, on real
    exceptions: the writer's batch loop dead-letters exactly the records whose error
    ``is_record_error`` (raised by that record, every time), and retries the others until they go
    away; start-up waiting (``wait_for``) retries exactly the ``is_transient`` ones."""
    async with db.acquire() as conn:
        record, setup = await _provoked(conn), await _setup_faults(conn)
        deadlock = await _raise(conn, "DO $$ BEGIN RAISE EXCEPTION 'provoked' USING ERRCODE = '40P01'; END $$")
    record_faults = list(record.values())  # the record's own: raised whenever it is written
    passing_faults = [*setup.values(), deadlock, OSError(104, "Connection reset by peer"),
                      AttributeError("a bug"), MemoryError(), AfterCommitError("after the commit")]
    errors = dict(enumerate([*record_faults, *passing_faults], start=1))  # message id -> its error
    last = len(errors) + 1  # a message without error, last on the partition: done after every other
    raised: set[int] = set()
    original = writer_app.write_batch

    async def faulty(conn, events):
        for event in events:
            message_id = event.payload.message.message_id
            if message_id in errors and (errors[message_id] in record_faults or message_id not in raised):
                raised.add(message_id)
                raise errors[message_id]
        return await original(conn, events)

    monkeypatch.setattr(writer_app, "write_batch", faulty)
    tracker = ProgressTracker()
    async with running_services(settings, tracker, media=False) as collector:
        for message_id in [*errors, last]:  # one key: one partition, in this order
            event = message_event(42, message_id)
            await collector.publish(encode_event(event), topic=settings.topic_messages, key=event.key)
        await tracker.wait_until(lambda: (42, last) in tracker.committed, stall_timeout=60)
    dead = {decode_event(letter.value).payload.message.message_id
            for letter in await read_dead_letters(settings, idle_s=1.0)}

    assert dead == set(range(1, len(record_faults) + 1))
    assert dead == {message_id for message_id, exc in errors.items() if is_record_error(exc)}
    assert {key[1] for key in tracker.committed} == set(errors) - dead | {last}

    async def retried(exc: BaseException) -> bool:
        calls = []

        async def step() -> str:
            calls.append(1)
            if len(calls) == 1:
                raise exc
            return "up"
        try:
            await wait_for("a fault", step, Readiness(), initial_s=0.001)
        except type(exc):
            return False
        return True

    outcomes = {message_id: await retried(exc) for message_id, exc in errors.items()}
    assert outcomes == {message_id: is_transient(exc) for message_id, exc in errors.items()}
    assert {m for m, again in outcomes.items() if again} == {
        m for m, exc in errors.items() if exc is deadlock or isinstance(exc, OSError)}
