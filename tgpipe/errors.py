"""tgpipe's error taxonomy, and the one place that says which errors are worth retrying.

::

    TgpipeError
    ├── ConfigurationError        invalid settings or missing parts; raised at start-up
    ├── StartupTimeoutError       Kafka or PostgreSQL did not answer within TGPIPE_STARTUP_TIMEOUT_S
    ├── ExportError               a Telegram Desktop export cannot be read at all (file, layout)
    │   └── ExportEntryError      one message entry is malformed; reported with its id, the rest goes on
    ├── UnsafePathError           a media path escapes the export root; never read
    ├── MediaReadError            an export media file exists but cannot be read (retried, then `failed`)
    ├── AfterCommitError          work after a committed transaction failed (never dead-lettered)
    └── EventError                a record on a topic cannot be applied (goes to the dead-letter topic)
        ├── UndecodableEventError bytes that are not JSON (or not UTF-8)
        ├── EventSchemaError      JSON that is not a known event type/version or fails its schema
        └── UnknownMessageError   a committed event for a message that is not in the database

Transient failures (connection lost, serialization failure, deadlock, broker unavailable) are
not tgpipe errors: they are the drivers' own exceptions, and :func:`is_transient` tells them apart.

``TgpipeError``, ``EventError``, ``UndecodableEventError`` and ``EventSchemaError`` are defined in
:mod:`schemas.errors` (the event contracts raise them and must not import the drivers) and
re-exported here.
"""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka import errors as kafka_errors

from schemas.errors import EventError, EventSchemaError, TgpipeError, UndecodableEventError

__all__ = [
    "AfterCommitError", "ConfigurationError", "EventError", "EventSchemaError", "ExportEntryError", "ExportError",
    "MediaReadError", "StartupTimeoutError", "TgpipeError", "UndecodableEventError", "UnknownMessageError",
    "UnsafePathError", "is_record_error", "is_transient",
]


class ConfigurationError(TgpipeError):
    """Settings are invalid or a required part (database, broker) is not configured."""


class ExportError(TgpipeError):
    """A Telegram Desktop export cannot be read: missing ``result.json``, bad JSON, unknown layout."""


class ExportEntryError(ExportError):
    """One message entry of an export is malformed.

    Attributes:
        message_id: the entry's ``id`` as found (may be ``None`` or of a wrong type).
        reason: what is wrong, for the report.
    """

    def __init__(self, message_id: object, reason: str) -> None:
        super().__init__(f"message {message_id!r}: {reason}")
        self.message_id = message_id
        self.reason = reason


class UnsafePathError(TgpipeError):
    """A media path from an export resolves outside the export root (``..``, absolute, symlink)."""


class MediaReadError(TgpipeError):
    """An export media file exists but cannot be read (I/O error, a path through a non-directory).

    Never leaves the media service: it reads the file again a bounded number of times, then
    records the media item ``failed`` with the error and the attempts made.
    """


class AfterCommitError(TgpipeError):
    """Work after a committed database transaction failed (publishing committed events, a hook).

    The records are written; their batch must be retried or redelivered whole, never split or
    dead-lettered (:func:`is_record_error` is false for it).
    """


class UnknownMessageError(EventError):
    """A ``message.committed`` event names a message that is not in the database (forged, or from
    another database); the media service refuses it before reading or storing anything."""


# SQLSTATEs that a retry can fix: class 08 connection exception; 40001 serialization failure,
# 40P01 deadlock, 40003 statement completion unknown (not 40002, a constraint violation reported
# at commit); class 53 insufficient resources; 55P03 lock not available (lock_timeout); 57014
# query canceled (statement_timeout, pg_cancel_backend); 57P0x operator intervention (admin or
# crash shutdown, cannot connect now).
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "40001", "40P01", "40003", "53", "55P03", "57014", "57P")


def is_transient(exc: BaseException) -> bool:
    """Tell whether retrying the same work may succeed.

    Transient: lost or refused connections (``OSError``; asyncpg's ``ConnectionDoesNotExistError``,
    SQLSTATE 08003, for a connection lost mid-query, and its ``InterfaceError`` for a closed
    connection or a closing pool), PostgreSQL errors with a SQLSTATE listed above (serialization
    failure, deadlock, lock or statement timeout, shutdown…), aiokafka errors marked ``retriable``
    (``KafkaConnectionError``, ``NotLeaderForPartitionError``…) and timeouts. Everything else is
    permanent: constraint violations, data errors (asyncpg raises an argument it cannot encode,
    e.g. an integer beyond bigint, as ``asyncpg.DataError``, SQLSTATE 22000), schema errors.
    """
    if isinstance(exc, EventError | ExportError):
        return False
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = getattr(exc, "sqlstate", None) or ""
        return sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
    if isinstance(exc, asyncpg.InterfaceError):
        # asyncpg's client-side DataError (an argument it cannot encode) is an InterfaceError and
        # a ValueError; other InterfaceErrors are a closed connection or a closing pool.
        return not isinstance(exc, ValueError)
    if isinstance(exc, kafka_errors.KafkaError):
        return bool(getattr(exc, "retriable", False)) or isinstance(exc, kafka_errors.KafkaTimeoutError)
    return isinstance(exc, OSError | asyncio.TimeoutError | TimeoutError)


# SQLSTATEs one record's content can cause (an allow-list: anything else is not the record's fault):
# class 21 cardinality violation (the same key twice in one statement: a record listing one media
# item twice), class 22 data exception (NUL in text, a value out of range), class 23 integrity
# constraint violation (foreign key, unique, check), and 54000 program limit exceeded (a value too
# large for an index row or a tsvector). Not the rest of class 54: 54001 statement too complex,
# 54011 too many columns and 54023 too many arguments come from the statement's shape, which is
# our code's, not one record's.
_RECORD_SQLSTATE_PREFIXES = ("21", "22", "23", "54000")


def is_record_error(exc: BaseException) -> bool:
    """Tell whether ``exc`` was caused by one record's content, so that record belongs on the dead-letter topic.

    Decided from an allow-list: :class:`EventError` (undecodable bytes, a schema violation),
    PostgreSQL errors of SQLSTATE class 21, 22 or 23 or SQLSTATE 54000, and asyncpg's client-side
    ``DataError`` (an argument it cannot encode). The consumer dead-letters a record for such an
    error only once the batch was split down to that record alone (:mod:`tgpipe.kafka.consume`).

    Everything else is not: transient errors, faults of the service's own setup (42P01 undefined
    table, 42501 insufficient privilege, 25006 read-only transaction, Kafka authorization errors),
    :class:`AfterCommitError`, and programming errors (``AttributeError``, ``TypeError``,
    ``KeyError``, ``AssertionError``, ``MemoryError``, ``RecursionError``…): a bug in our code
    would otherwise drain a healthy topic into the dead-letter topic. They are retried, then the
    batch is redelivered, and the partition stalls visibly (readiness fails) until it is fixed.
    """
    if isinstance(exc, EventError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return (getattr(exc, "sqlstate", None) or "").startswith(_RECORD_SQLSTATE_PREFIXES)
    # asyncpg's client-side DataError is an InterfaceError and a ValueError; other InterfaceErrors
    # are a closed connection or a closing pool.
    return isinstance(exc, asyncpg.InterfaceError) and isinstance(exc, ValueError)


class StartupTimeoutError(TgpipeError):
    """A service's start-up waited ``TGPIPE_STARTUP_TIMEOUT_S`` for Kafka or PostgreSQL to answer,
    in vain (the command exits 1; an orchestrator restarts it)."""
