"""Logging of the deployed services: text lines or one JSON object per line (``TGPIPE_LOG_FORMAT``).

Log calls about one event pass its identity as ``extra=event_fields(event)`` (``event_id``,
``channel_id``, ``telegram_message_id`` or ``telegram_message_ids``), about one record
``extra=record_fields(record)`` (:func:`tgpipe.kafka.dead_letters.record_fields`: ``topic``,
``partition``, ``offset`` and, as far as the value can be read, ``channel_id`` and
``telegram_message_id``); the JSON format puts those fields at the top level of the object.
``message_id`` is FastStream's own message id, in FastStream's lines (the Telegram id is never
called that).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

#: Attributes of a ``LogRecord`` that the JSON format copies when a log call set them (``extra``).
FIELDS = ("event_id", "event_type", "channel_id", "telegram_message_id", "telegram_message_ids", "message_id",
          "topic", "partition", "offset", "error_class", "records")


def event_fields(event: Any) -> dict[str, object]:
    """``extra`` for a log line about one decoded event (``MessageUpserted``, ``MessageDeleted``,
    ``MessageCommitted``)."""
    payload = event.payload
    message = getattr(payload, "message", None) or payload
    fields: dict[str, object] = {"event_id": str(event.event_id), "event_type": event.type,
                                 "channel_id": getattr(message, "channel_id", None)}
    if (message_id := getattr(message, "message_id", None)) is not None:
        fields["telegram_message_id"] = message_id
    if (message_ids := getattr(message, "message_ids", None)) is not None:
        fields["telegram_message_ids"] = list(message_ids)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    the :data:`FIELDS` a call passed, and ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        data.update((name, getattr(record, name)) for name in FIELDS if hasattr(record, name))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure(log_format: str = "text", level: str = "INFO") -> None:
    """Set up the root logger of a service process: one stderr handler in ``log_format``.

    Like :func:`logging.basicConfig`, it does nothing when the root logger already has handlers
    (an embedding program's, or pytest's when a test invokes the CLI in-process).
    """
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(max(logging.INFO, root.level))  # its DEBUG is per fetch
