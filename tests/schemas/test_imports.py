"""The event contracts are the bottom layer: importing them loads pydantic, never the drivers."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_schemas_loads_no_driver() -> None:
    """``import schemas`` in a fresh interpreter leaves asyncpg, aiokafka and tgpipe out of sys.modules."""
    code = ("import json, sys; import schemas; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'asyncpg', 'aiokafka', 'tgpipe', "
            "'faststream', 'telethon'})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []


def test_event_errors_are_tgpipe_errors() -> None:
    """tgpipe.errors re-exports the contract errors: one class each, still under TgpipeError."""
    import schemas.errors
    import tgpipe.errors

    assert tgpipe.errors.EventSchemaError is schemas.errors.EventSchemaError
    assert issubclass(tgpipe.errors.UndecodableEventError, tgpipe.errors.TgpipeError)
