"""Where the tests find the repository and the team's shared Telegram exports."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Telegram exports shared by the team, beside the repository (``../shared/data``).
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
