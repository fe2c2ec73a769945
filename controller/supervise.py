"""Background tasks that must not die quietly: one that fails stops the controller with a non-zero exit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Supervisor:
    """Owns the controller's long-running tasks (hub, dispatcher, expirer, campaign engine, lease). A task that
    raises, or returns while the controller still runs, is fatal: `failed` says which and why, `on_failure`
    is called (serve stops and exits 1, so systemd restarts the process). Cancellation is always ours
    (shutdown, or a hub session ending) and is not a failure."""

    def __init__(self) -> None:
        self.failed: str | None = None
        self.stopping = False
        self.on_failure: Callable[[], None] = lambda: None
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or self.stopping:
            return
        exc = task.exception()
        why = f"{type(exc).__name__}: {exc}" if exc is not None else "returned"
        log.critical("background task %s died (%s): stopping the controller", task.get_name(), why,
                     exc_info=exc)  # fmt: skip
        if self.failed is None:
            self.failed = f"{task.get_name()}: {why}"
        self.on_failure()

    @property
    def alive(self) -> list[str]:
        return sorted(t.get_name() for t in self._tasks if not t.done())

    async def stop(self) -> None:
        self.stopping = True
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
