"""Shared camsim test helpers: free ports, quick cameras and an in-process SimServer context manager."""

from __future__ import annotations

import socket
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from camsim.model import AuthPolicy, Camera, Identity, Network, Protocol, User
from camsim.server import SimServer

_REALMS = {
    "hikvision": "IP Camera",
    "dahua": "Login to {serial}",
    "axis": "AXIS_ACCC8E000000",
    "generic": "ONVIF",
}
_MAKERS = {"hikvision": "HIKVISION", "dahua": "Dahua", "axis": "AXIS", "generic": "Generic"}


def find_free_port() -> int:
    """A TCP port free on loopback; every camera of one test shares it on its own 127.x address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def build_camera(
    personality: str = "hikvision",
    *,
    address: str = "127.0.1.1",
    port: int = 0,
    camera_id: str | None = None,
    password: str = "Secret-123",
    **overrides: Any,
) -> Camera:
    """A small but complete Camera for server-level tests (fleet.generate_fleet makes realistic ones)."""
    serial = f"SN{zlib.crc32(address.encode()) % 10**8:08d}"  # stable across runs, unlike hash()
    cam = Camera(
        id=camera_id or f"cam-{address.replace('.', '-')}",
        port=port,
        identity=Identity(
            personality=personality,  # type: ignore[arg-type]
            manufacturer=_MAKERS[personality],
            true_manufacturer=personality,
            model="TEST-1",
            firmware="V1.0.0 build 240101",
            serial=serial,
            hardware_id="88",
            mac="28:57:be:00:00:01",
        ),
        # On loopback the camera's subnet is lo's (127.0.0.0/8), as camsim.fleet reports it.
        network=Network(
            address=address,
            prefix_length=8,
            protocols=[Protocol("HTTP", True, 80), Protocol("RTSP", True, 554)],
        ),
        users=[User("admin", password, "Administrator")],
        auth=AuthPolicy(realm=_REALMS[personality].format(serial=serial)),
        features={"ezviz": True} if personality == "hikvision" else {},
    )
    for key, value in overrides.items():
        setattr(cam, key, value)
    return cam


@asynccontextmanager
async def run_sim(cameras: list[Camera], **kw: Any) -> AsyncIterator[SimServer]:
    """Start a SimServer for `cameras` (port 0 -> one shared free port), stop it on exit."""
    port = find_free_port()
    for cam in cameras:
        if cam.port == 0:
            cam.port = port
    server = SimServer(cameras, **kw)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def free_port() -> int:
    return find_free_port()


@pytest.fixture
def make_camera() -> Callable[..., Camera]:
    return build_camera


@pytest.fixture
def sim() -> Callable[..., AbstractAsyncContextManager[SimServer]]:
    """`async with sim(cameras, **kw) as server:` -- an in-process SimServer on loopback."""
    return run_sim
