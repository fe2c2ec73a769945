"""Deadlines that stretch on a loaded machine, and waits on the event a test needs instead of fixed sleeps."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

#: Multiplies every deadline in the suite. A deadline only bounds how long a broken test hangs, so it is
#: generous; CAMFLEET_TEST_TIME_SCALE raises it further on a very slow or heavily shared machine.
SCALE = max(1.0, float(os.environ.get("CAMFLEET_TEST_TIME_SCALE", "1")))

#: How often a condition is re-checked. Short, because a passing check returns at once.
STEP = 0.05


def scaled(seconds: float) -> float:
    return seconds * SCALE


def wait_for(check: Callable[[], object], seconds: float, what: str, step: float = STEP) -> None:
    """Re-check `check()` until it is truthy; TimeoutError naming `what` after `seconds` (scaled)."""
    deadline = time.monotonic() + scaled(seconds)
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {scaled(seconds):.0f} s waiting for {what}")
        time.sleep(step)


async def until(check: Callable[[], object], seconds: float, what: str, step: float = STEP) -> None:
    """The asyncio form of `wait_for` for a plain predicate (state another task or process changes)."""
    deadline = time.monotonic() + scaled(seconds)
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {scaled(seconds):.0f} s waiting for {what}")
        await asyncio.sleep(step)


async def until_async(
    check: Callable[[], Awaitable[object]], seconds: float, what: str, step: float = 0.2
) -> None:
    """`until` for a predicate that must itself await (an HTTP call, a store query)."""
    deadline = time.monotonic() + scaled(seconds)
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {scaled(seconds):.0f} s waiting for {what}")
        await asyncio.sleep(step)


def log_size(path: Path) -> int:
    """Where a log file ends now: pass it as `since` to wait only for lines written after this point."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def until_log(path: Path, needle: str, since: int, seconds: float, what: str) -> None:
    """Wait until a process's log, past byte `since`, contains `needle` (a line it writes when the event
    happened)."""

    def seen() -> bool:
        try:
            with path.open("rb") as f:
                f.seek(since)
                return needle.encode() in f.read()
        except FileNotFoundError:
            return False

    await until(seen, seconds, what, step=0.1)
