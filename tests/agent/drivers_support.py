"""Test support for the vendor driver tests: a camsim fleet on loopback and one CameraHttp per camera."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agent.attribution import Observation
from agent.credentials import Credentials
from agent.drivers import VendorDriver
from agent.http import CameraHttp, HttpPool
from agent.vendor_probe import probe_api, probe_vendors
from camsim.fleet import generate_fleet
from camsim.model import Camera
from camsim.server import SimServer
from tests.camsim.conftest import find_free_port, run_sim


def fleet(mix: dict[str, int], n: int, *, seed: int = 11, base: str = "127.0.61.1") -> list[Camera]:
    """A deterministic camsim fleet (test side only: the agent never imports camsim)."""
    # A real port up front, so the HTTP protocol entry (adminAccesses, GetNetworkProtocols) names it.
    cams = generate_fleet(n, mix, seed, base_address=base, port=find_free_port())
    for cam in cams:
        cam.faults.reboot_seconds = 0.2  # keep reboot/factoryReset tests fast
    return cams


def of(cams: list[Camera], personality: str) -> list[Camera]:
    return [c for c in cams if c.identity.personality == personality]


@asynccontextmanager
async def sim_with_http(
    cams: list[Camera], *, password: str | None = None
) -> AsyncIterator[tuple[SimServer, dict[str, CameraHttp]]]:
    """Start camsim for `cams` and give each camera a digest CameraHttp (its real admin password unless
    `password` overrides it). One HttpPool per test so connectors never outlive the event loop."""
    async with run_sim(cams) as server:
        pool = HttpPool(concurrency=8)
        https = {
            c.id: CameraHttp(
                c.network.address,
                c.port,
                Credentials(c.users[0].username, password if password is not None else c.users[0].password),
                pool=pool,
                timeout=5.0,
                attempts=1,
            )
            for c in cams
        }
        try:
            yield server, https
        finally:
            for h in https.values():
                await h.close()
            await pool.close()


def evidence_of(cam: Camera) -> Observation:
    """What the camera's ONVIF service says about its maker (the evidence the agent probes vendor APIs on)."""
    ident = cam.identity
    return Observation(onvif_manufacturer=ident.manufacturer, onvif_model=ident.model,
                       onvif_firmware=ident.firmware, scopes=tuple(cam.scopes))  # fmt: skip


async def present(http: CameraHttp, driver: VendorDriver, evidence: Observation) -> bool:
    """Does agent.vendor_probe find `driver`'s API on the camera, given this evidence?"""
    return (await probe_api(http, driver, evidence, None)).status == "present"


async def found(http: CameraHttp, evidence: Observation | None = None) -> list[str]:
    """The vendor APIs agent.vendor_probe finds (no evidence: every API gets an unauthenticated probe)."""
    return (await probe_vendors(http, evidence or Observation(), None)).present
