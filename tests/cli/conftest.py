"""Fixtures of the CLI tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.database import fresh_database


@pytest.fixture
async def unmigrated_database_url(postgres_url: str) -> AsyncIterator[str]:
    """URL of a new, empty database (no tgpipe tables), dropped after the test."""
    async with fresh_database(postgres_url, None) as url:
        yield url
