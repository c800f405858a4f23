"""Configuring a command or a service process the way a deployment does: ``TGPIPE_*`` variables."""

from __future__ import annotations

import json

from tgpipe.settings import Settings


def settings_env(settings: Settings) -> dict[str, str]:
    """The TGPIPE_* variables that reproduce ``settings`` (how a deployed service is configured)."""
    env = {}
    for name, value in settings.model_dump(mode="json", exclude_none=True).items():
        env[f"TGPIPE_{name.upper()}"] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return env
