"""The base of the jobs' typed results (``tgpipe status``, ``tgpipe verify``).

A result is a frozen pydantic model; the CLI renders its fields and ``--json`` prints
``model_dump_json()``, whose keys are the fields' aliases where they have one (a chat's id is
``chat_id`` in code and ``channel_id`` in JSON, the column's name: see docs/architecture.md, "Names").
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

IsoDatetime = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str)]
"""A timestamp that JSON shows as :meth:`datetime.isoformat` (``2024-01-01T10:00:00+00:00``)."""


class Result(BaseModel):
    """A job's result: immutable, serialised by alias."""

    model_config = ConfigDict(frozen=True, serialize_by_alias=True)

    def to_json(self) -> str:
        """The ``--json`` output: indented JSON, non-ASCII text as is."""
        return self.model_dump_json(indent=2)
