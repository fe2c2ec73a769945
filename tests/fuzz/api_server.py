"""The real controller app on a loopback socket in a background thread, seeded with users, tokens and cameras."""

from __future__ import annotations

import asyncio
import concurrent.futures
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestServer

from controller.api import STORE
from controller.app import build_app
from controller.auth import hash_password, new_token, token_hash
from controller.config import ControllerConfig
from controller.store.base import CameraRow, UserRow
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.keys import SigningKey

ROLES = ("viewer", "operator", "approver", "admin")
ORIGINS = ("hikvision", "dahua", "axis", "unknown")
SITES = ("north", "south", "east")
T = TypeVar("T")


@dataclass
class LiveApi:
    """Where the app listens and the Bearer token of each role; known ids so fuzzed paths sometimes hit."""

    url: str
    tokens: dict[str, str]
    camera_ids: list[str] = field(default_factory=list)
    command_ids: list[str] = field(default_factory=list)
    campaign_ids: list[str] = field(default_factory=list)


def camera_row(i: int) -> CameraRow:
    origin, site = ORIGINS[i % len(ORIGINS)], SITES[i % len(SITES)]
    rec = pb.CameraRecord(camera_id=f"cam-{i:04d}", host=f"127.0.1.{i % 250 + 1}", port=80)
    rec.origin.manufacturer = origin
    return CameraRow(
        camera_id=f"cam-{i:04d}", agent_id=f"agent-{site}", site=site, host=rec.host, port=80,
        manufacturer=origin.upper(), model=f"M{i % 7}", firmware=f"V5.{i % 9}", origin=origin,
        covered=origin in ("hikvision", "dahua"), oem_rebrand=i % 10 == 0, confidence=0.9, risk_score=i % 100,
        risk_level=("low", "medium", "high", "critical")[i % 4], cloud_reachable=i % 3 == 0,
        fingerprint=f"fp{i}", reachable=i % 5 != 0, observed_at=time.time(), record=rec.SerializeToString(),
    )  # fmt: skip


async def _seed(app: web.Application, n_cameras: int) -> tuple[dict[str, str], list[str]]:
    store = app[STORE]
    tokens = {}
    for role in ROLES:
        await store.put_user(UserRow(role, hash_password("x" * 12), role))
        tokens[role] = new_token()
        await store.add_token(token_hash(tokens[role]), role, "fuzz")
    rows = [camera_row(i) for i in range(n_cameras)]
    for site in SITES:
        await store.ingest_cameras(
            f"agent-{site}", [r for r in rows if r.site == site], full=True, removed=[], seq=1
        )
    return tokens, [r.camera_id for r in rows]


@contextmanager
def running_api(n_cameras: int = 300) -> Iterator[LiveApi]:
    """Start build_app(cfg, key, mqtt=False) behind aiohttp's TestServer on 127.0.0.1 in its own thread, so
    synchronous clients (schemathesis uses requests) can call it; stopped and its state removed on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-api", daemon=True)
    thread.start()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        fut: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, loop)
        return fut.result(timeout=60)

    with tempfile.TemporaryDirectory(prefix="camfleet-fuzz-") as tmp:
        cfg = ControllerConfig(state_dir=Path(tmp))
        app = build_app(cfg, SigningKey.generate(), mqtt=False)
        server = TestServer(app, host="127.0.0.1")
        run(server.start_server())
        try:
            tokens, cams = run(_seed(app, n_cameras))
            yield LiveApi(str(server.make_url("")).rstrip("/"), tokens, cams)
        finally:
            run(server.close())
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
