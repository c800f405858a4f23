"""FloodWait handling: bounded waits with jitter, within a per-account budget.

Telegram answers too many requests with ``FloodWaitError(seconds)``. Telethon is configured not
to sleep on its own (``flood_sleep_threshold=0``), so every wait comes here. One
:class:`FloodBudget` exists per process, which holds one session, hence one account: every
channel of the process draws from it. A wait that does not fit in what is left of the budget is
never slept: :class:`FloodWaitTooLong` stops that piece of work (one channel, one photo) with a
message saying how long Telegram asked for, and the rest goes on.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telethon.errors import FloodWaitError

from tgpipe.errors import TgpipeError

T = TypeVar("T")

log = logging.getLogger(__name__)


class FloodWaitTooLong(TgpipeError):
    """Telegram asked for a wait longer than what is left of the account's flood-wait budget."""

    def __init__(self, what: str, seconds: int, remaining: float) -> None:
        super().__init__(
            f"{what}: Telegram asks to wait {seconds} s (FloodWait), more than the {remaining:.0f} s left of "
            f"this account's flood-wait budget (TGPIPE_TELEGRAM_FLOOD_BUDGET_S); stopped, run again later")
        self.seconds = seconds
        self.remaining = remaining


class FloodBudget:
    """Seconds of FloodWait one account may still sleep in this process.

    Args:
        budget_s: the total (``telegram_flood_budget_s``).
        sleep: the sleep coroutine (tests may pass a recording one).
    """

    def __init__(self, budget_s: float, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.budget_s = budget_s
        self.spent_s = 0.0
        self._sleep = sleep
        self._lock = asyncio.Lock()

    @property
    def remaining_s(self) -> float:
        """What is left of the budget."""
        return max(self.budget_s - self.spent_s, 0.0)

    async def wait(self, seconds: int, what: str) -> None:
        """Sleep ``seconds`` plus up to 10 % jitter (at least 0.2 s), charged to the budget.

        Waits are serialized (one account: a FloodWait for one request applies to the next too).

        Raises:
            FloodWaitTooLong: ``seconds`` exceeds what is left of the budget (nothing is slept).
        """
        async with self._lock:
            if seconds > self.remaining_s:
                raise FloodWaitTooLong(what, seconds, self.remaining_s)
            delay = min(seconds + random.uniform(0, max(0.1 * seconds, 0.2)), self.remaining_s)
            self.spent_s += delay
            log.warning("%s: FloodWait, sleeping %.1f s (%.0f s of the budget left)", what, delay, self.remaining_s)
            await self._sleep(delay)

    async def call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()``, sleeping through each ``FloodWaitError`` it raises (within the budget) and retrying.

        Raises:
            FloodWaitTooLong: a wait does not fit in the budget.
        """
        while True:
            try:
                return await fn()
            except FloodWaitError as exc:
                await self.wait(exc.seconds, what)
