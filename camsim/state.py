"""Persist camera state across camsim restarts: atomic JSON snapshots, debounced after writes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from camsim.model import Camera

log = logging.getLogger(__name__)

STATE_VERSION = 1
# Coalesce bursts of writes (a campaign touches many settings per camera) into one file write.
DEBOUNCE_S = 0.5


def save_state(cameras: list[Camera], path: Path) -> None:
    """Write every camera's full state; temp file + fsync + rename, so a crash never leaves half a file."""
    write_docs([c.to_dict() for c in cameras], path)


def write_docs(docs: list[dict[str, Any]], path: Path) -> None:
    """Atomically write already-serialised camera dicts (safe to call from a worker thread)."""
    doc: dict[str, Any] = {"version": STATE_VERSION, "cameras": docs}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(path: Path) -> list[Camera]:
    """Read a state file written by save_state; raises ValueError on anything unreadable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read camsim state {path}: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
        raise ValueError(f"{path}: not a camsim state file (version {STATE_VERSION})")
    try:
        return [Camera.from_dict(d) for d in doc["cameras"]]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: malformed camera entry: {exc}") from exc


def merge_state(cameras: list[Camera], saved: list[Camera]) -> list[Camera]:
    """Saved cameras replace generated ones with the same id; cameras new to this run are kept as is."""
    by_id = {c.id: c for c in saved}
    return [by_id.get(c.id, c) for c in cameras]


class StateSaver:
    """Debounced saver: schedule(camera_id) after each change, one file write per quiet period.

    Serialising 1,000 cameras takes ~0.2 s (dataclasses.asdict), too long to stall every camera's event
    loop after each write, so only cameras marked dirty are re-serialised and the JSON + fsync run in a
    worker thread on dicts nobody mutates.
    """

    def __init__(self, path: Path, cameras: Callable[[], list[Camera]], delay_s: float = DEBOUNCE_S) -> None:
        self.path = path
        self._cameras = cameras
        self._delay_s = delay_s
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._cache: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._all_dirty = True
        self.saves = 0

    def schedule(self, camera_id: str | None = None) -> None:
        """Mark one camera (None: all) as changed and save after the debounce delay."""
        if camera_id is None:
            self._all_dirty = True
        else:
            self._dirty.add(camera_id)
        if self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(self._delay_s, self._fire)

    def _snapshot(self) -> list[dict[str, Any]]:
        cams = self._cameras()
        for cam in cams:
            if self._all_dirty or cam.id in self._dirty or cam.id not in self._cache:
                self._cache[cam.id] = cam.to_dict()
        self._dirty.clear()
        self._all_dirty = False
        return [self._cache[c.id] for c in cams]

    def _fire(self) -> None:
        self._handle = None
        if self._task is not None and not self._task.done():
            # A write is still running; try again after another quiet period.
            self._handle = asyncio.get_running_loop().call_later(self._delay_s, self._fire)
            return
        self._task = asyncio.get_running_loop().create_task(self._save_async())

    async def _save_async(self) -> None:
        docs = self._snapshot()
        try:
            await asyncio.to_thread(write_docs, docs, self.path)
            self.saves += 1
        except OSError:
            log.exception("camsim: saving state to %s failed", self.path)

    def save_now(self) -> None:
        """Full synchronous save (shutdown): every camera re-serialised, whatever changed it."""
        self._all_dirty = True
        write_docs(self._snapshot(), self.path)
        self.saves += 1

    async def close(self) -> None:
        """Cancel a pending debounce and wait for a write in progress."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._task is not None:
            await self._task
            self._task = None
