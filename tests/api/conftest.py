"""The shared exports, each archived once per module through the real pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.api import Archived, archived_export
from tests.support.factories import EXPORTS


# One module fixture per shared export (the same shape: `duplicates` pairs them; pytest names fixtures
# by function, and each export archives once per module).
@pytest.fixture(scope="module")
async def trantor(postgres_url, template_database, kafka, tmp_path_factory, shared_data) -> AsyncIterator[Archived]:
    """trantor-library-channel archived (924 messages, photos stored), coverage recorded."""
    name = "trantor-library-channel"
    async with archived_export(postgres_url, template_database, kafka, tmp_path_factory.mktemp("trantor"),
                               name, EXPORTS[name]) as archived:
        yield archived


@pytest.fixture(scope="module")
async def hejazizo(postgres_url, template_database, kafka, tmp_path_factory, shared_data) -> AsyncIterator[Archived]:
    """hejazizo-anon-bot-chat archived (4,706 messages; local dates in Etc/GMT-1), coverage recorded."""
    name = "hejazizo-anon-bot-chat"
    async with archived_export(postgres_url, template_database, kafka, tmp_path_factory.mktemp("hejazizo"),
                               name, EXPORTS[name]) as archived:
        yield archived
