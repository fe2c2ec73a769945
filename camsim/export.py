"""Write what an engineer hands the agent (targets.csv) and the hidden truth tests grade against (truth.json)."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from camsim.model import Camera

TARGETS_HEADER = ("host", "port", "username", "password")


def admin_user(cam: Camera) -> tuple[str, str]:
    """The credential an installer would have written down: the first Administrator, else the first user."""
    for u in cam.users:
        if u.level == "Administrator":
            return u.username, u.password
    if cam.users:
        return cam.users[0].username, cam.users[0].password
    return "", ""


def truth_record(cam: Camera) -> dict[str, Any]:
    ident = cam.identity
    return {
        "id": cam.id,
        "host": cam.network.address,
        "port": cam.port,
        "personality": ident.personality,
        "manufacturer": ident.manufacturer,
        "true_manufacturer": ident.true_manufacturer,
        "oem_brand": ident.oem_brand,
        "mac": ident.mac,
        "model": ident.model,
        "firmware": ident.firmware,
        "serial": ident.serial,
    }


def export(cameras: list[Camera], directory: Path) -> tuple[Path, Path]:
    """Write DIR/targets.csv and DIR/truth.json atomically; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    targets = directory / "targets.csv"
    truth = directory / "truth.json"

    def write_targets(fh: TextIO) -> None:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(TARGETS_HEADER)
        for cam in cameras:
            user, password = admin_user(cam)
            w.writerow((cam.network.address, cam.port, user, password))

    def write_truth(fh: TextIO) -> None:
        json.dump([truth_record(c) for c in cameras], fh, indent=1)
        fh.write("\n")

    _atomic_write(targets, write_targets)
    _atomic_write(truth, write_truth)
    return targets, truth


def _atomic_write(path: Path, write: Callable[[TextIO], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
