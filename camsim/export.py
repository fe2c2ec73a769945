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


def feeds(cameras: list[Camera]) -> dict[str, tuple[Camera, int, str]]:
    """camera id -> (recorder, channel number, channel protocol) for every camera on a recorder channel."""
    out: dict[str, tuple[Camera, int, str]] = {}
    for rec in cameras:
        for ch in rec.channels:
            out[ch.camera_id] = (rec, ch.number, ch.protocol)
    return out


def truth_record(cam: Camera, fed: dict[str, tuple[Camera, int, str]] | None = None) -> dict[str, Any]:
    ident = cam.identity
    rec = (fed or {}).get(cam.id)
    extra: dict[str, Any] = {
        "kind": "recorder" if cam.is_recorder else "camera",
        "device_type": ident.device_type,
        "base_model": ident.base_model,
        "activated": cam.activated,
        # False: lives only behind its recorder (PoE port); the agent can see it only in the channel list.
        "reachable": cam.reachable,
        "recorder": rec[0].id if rec else None,
        "recorder_host": rec[0].network.address if rec else None,
        "channel": rec[1] if rec else None,
        "channel_protocol": rec[2] if rec else None,
    }
    if cam.is_recorder:
        extra["channels"] = [
            {"channel": ch.number, "camera_id": ch.camera_id, "address": ch.address, "protocol": ch.protocol}
            for ch in cam.channels
        ]
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
        **extra,
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
            if not cam.reachable or not cam.activated:
                continue  # behind a recorder (nobody reaches it) or unactivated (it has no password yet)
            user, password = admin_user(cam)
            w.writerow((cam.network.address, cam.port, user, password))

    def write_truth(fh: TextIO) -> None:
        fed = feeds(cameras)
        json.dump([truth_record(c, fed) for c in cameras], fh, indent=1)
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
