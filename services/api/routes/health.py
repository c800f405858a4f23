"""``GET /health``: the API answers and its database does (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter

from services.api.deps import Connection
from services.api.models import Health
from services.api.problems import responses

router = APIRouter(tags=["health"])


@router.get("/health", responses=responses(503))
async def health(conn: Connection) -> Health:
    """``{"status": "ok"}`` once a read-only query answers."""
    await conn.fetchval("SELECT 1")
    return Health(status="ok")
