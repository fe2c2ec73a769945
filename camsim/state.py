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
    doc: dict[str, Any] = {"version": STATE_VERSION, "cameras": [c.to_dict() for c in cameras]}
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
    """Debounced saver: schedule() after each change, one write per quiet period."""

    def __init__(self, path: Path, cameras: Callable[[], list[Camera]], delay_s: float = DEBOUNCE_S) -> None:
        self.path = path
        self._cameras = cameras
        self._delay_s = delay_s
        self._handle: asyncio.TimerHandle | None = None
        self.saves = 0

    def schedule(self) -> None:
        if self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(self._delay_s, self._fire)

    def _fire(self) -> None:
        self._handle = None
        try:
            self.save_now()
        except OSError:
            log.exception("camsim: saving state to %s failed", self.path)

    def save_now(self) -> None:
        save_state(self._cameras(), self.path)
        self.saves += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
