"""Vendor HTTP API drivers (Hikvision ISAPI, Dahua CGI, Axis VAPIX); agent.vendor_probe finds which one a camera has."""

from __future__ import annotations

from agent.drivers.axis import AxisDriver
from agent.drivers.base import (
    AccessProtocol,
    CameraHttpLike,
    IPFilterConfig,
    ProbeRequest,
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


__all__ = [
    "DRIVERS",
    "AccessProtocol",
    "AxisDriver",
    "CameraHttpLike",
    "DahuaDriver",
    "HikvisionDriver",
    "IPFilterConfig",
    "ProbeRequest",
    "Setting",
    "SettingValue",
    "VendorDriver",
    "WriteRejected",
    "WriteResult",
    "get_driver",
    "setting_matches",
    "value_from_json",
    "value_to_json",
]
