"""Shared agent-test fixtures: a running camsim fleet (one camera per personality) and per-test HTTP pools."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.credentials import Credentials
from agent.http import HttpPool
from camsim.model import Camera
from camsim.server import SimServer
from tests.camsim.conftest import build_camera, run_sim

PASSWORD = "Secret-123"
PERSONALITIES = ("hikvision", "dahua", "axis", "generic")
# Optional ONVIF capabilities every test camera implements unless a test says otherwise.
ALL_CAPS = ["IPFilter", "ZeroConfiguration", "DynDNS", "NTP"]
# One loopback address per personality (127.0.1.x); tests that need more cameras use 127.0.3.x.
_ADDRESSES = {p: f"127.0.1.{i + 11}" for i, p in enumerate(PERSONALITIES)}


@dataclass(frozen=True)
class CameraTarget:
    """How the agent reaches one simulated camera (what a targets.csv row holds) plus its camsim object,
    which tests (never agent code) may inspect for ground truth such as auth_failures or writes."""

    id: str
    personality: str
    host: str
    port: int
    credentials: Credentials
    camera: Camera


@dataclass
class Fleet:
    server: SimServer
    targets: list[CameraTarget] = field(default_factory=list)

    def by_personality(self, personality: str) -> CameraTarget:
        for t in self.targets:
            if t.personality == personality:
                return t
        raise KeyError(personality)

    def by_id(self, camera_id: str) -> CameraTarget:
        for t in self.targets:
            if t.id == camera_id:
                return t
        raise KeyError(camera_id)


def make_test_camera(personality: str = "hikvision", *, address: str | None = None, **kw: Any) -> Camera:
    """A camsim camera with all optional capabilities and the standard test password."""
    kw.setdefault("capabilities", list(ALL_CAPS))
    kw.setdefault("scopes", ["onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/name/TEST-1"])
    return build_camera(personality, address=address or _ADDRESSES[personality], password=PASSWORD, **kw)


def target_of(cam: Camera, password: str = PASSWORD) -> CameraTarget:
    return CameraTarget(
        id=cam.id,
        personality=cam.identity.personality,
        host=cam.network.address,
        port=cam.port,
        credentials=Credentials("admin", password),
        camera=cam,
    )


@asynccontextmanager
async def run_fleet(cameras: list[Camera], **kw: Any) -> AsyncIterator[Fleet]:
    """Start camsim for `cameras` (in-process SimServer on loopback) and describe them as targets."""
    async with run_sim(cameras, **kw) as server:
        yield Fleet(server, [target_of(c) for c in cameras])


@pytest.fixture
async def camsim_fleet() -> AsyncIterator[Fleet]:
    """One camera per personality (hikvision, dahua, axis, generic), default auth (digest + wsse)."""
    async with run_fleet([make_test_camera(p) for p in PERSONALITIES]) as fleet:
        yield fleet


@pytest.fixture
def fleet_factory() -> Callable[..., AbstractAsyncContextManager[Fleet]]:
    """`async with fleet_factory([make_test_camera(...), ...]) as fleet:` for tests needing special cameras."""
    return run_fleet


@pytest.fixture
async def http_pool() -> AsyncIterator[HttpPool]:
    """A private connection pool for one test, closed afterwards (no sockets leak between tests)."""
    pool = HttpPool(concurrency=16)
    try:
        yield pool
    finally:
        await pool.close()
