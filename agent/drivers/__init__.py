"""Vendor HTTP API drivers (Hikvision ISAPI, Dahua CGI, Axis VAPIX) and evidence-based driver detection."""

from __future__ import annotations

from agent.drivers.axis import AxisDriver
from agent.drivers.base import (
    AccessProtocol,
    CameraHttpLike,
    IPFilterConfig,
    Setting,
    SettingValue,
    VendorDriver,
    WriteRejected,
    WriteResult,
    setting_matches,
    value_from_json,
    value_to_json,
)
from agent.drivers.dahua import DahuaDriver
from agent.drivers.hikvision import HikvisionDriver
from agent.errors import Unsupported

DRIVERS: dict[str, VendorDriver] = {d.name: d for d in (HikvisionDriver(), DahuaDriver(), AxisDriver())}


def get_driver(name: str) -> VendorDriver:
    """The driver for a vendor name ('hikvision', 'dahua', 'axis'); Unsupported for anything else."""
    try:
        return DRIVERS[name]
    except KeyError:
        raise Unsupported(f"no vendor driver {name!r}") from None


async def detect_drivers(http: CameraHttpLike) -> list[str]:
    """Names of the vendor APIs that actually answer on this camera (probed in turn, never in parallel:
    one camera gets one request at a time). An OEM rebrand of a Hikvision shows up here as 'hikvision'
    whatever its Manufacturer string says. AuthFailed/Unreachable propagate: they are not evidence."""
    return [name for name, drv in DRIVERS.items() if await drv.probe(http)]


__all__ = [
    "DRIVERS",
    "AccessProtocol",
    "AxisDriver",
    "CameraHttpLike",
    "DahuaDriver",
    "HikvisionDriver",
    "IPFilterConfig",
    "Setting",
    "SettingValue",
    "VendorDriver",
    "WriteRejected",
    "WriteResult",
    "detect_drivers",
    "get_driver",
    "setting_matches",
    "value_from_json",
    "value_to_json",
]
