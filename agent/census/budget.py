"""Bounds on everything the census sends: a message rate (token bucket) and a total, counted per source."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

DEFAULT_RATE_PER_S = 200.0
DEFAULT_MAX_MESSAGES = 20_000


class BudgetExhausted(Exception):
    """The census spent its message allowance; whatever was not yet probed is reported as not probed."""


@dataclass
class Budget:
    """One allowance for a whole census run. `spend` waits for its turn (rate) and refuses past the total."""

    rate_per_s: float = DEFAULT_RATE_PER_S
    max_messages: int = DEFAULT_MAX_MESSAGES
    sent: Counter[str] = field(default_factory=Counter)
    _next_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.max_messages < 1:
            raise ValueError("census rate and message allowance must be positive")

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    async def spend(self, source: str, n: int = 1) -> None:
        """Account for `n` messages of `source` about to be sent; sleeps to keep the rate."""
        async with self._lock:
            if self.total + n > self.max_messages:
                raise BudgetExhausted(f"message allowance of {self.max_messages} used up")
            now = time.monotonic()
            start = max(now, self._next_at)
            self._next_at = start + n / self.rate_per_s
            self.sent[source] += n
        if start > now:
            await asyncio.sleep(start - now)
