"""Hikvision SADP (UDP 37020, group 239.255.255.250): build the inquiry Probe, read ProbeMatch replies.

From public SADP tools [S]: julienblitte/UniversalScanner and cameronnewman/hikvision-tooling send
`<Probe><Uuid>..</Uuid><Types>inquiry</Types></Probe>` (the latter also `inquiry_v32`) and read the ProbeMatch
fields parsed below. Replies are read on the socket the probe left from, as hikvision-tooling does.
"""

from __future__ import annotations

import uuid

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from agent.xmlsafe import SAFE_PARSER

GROUP = "239.255.255.250"
PORT = 37020
MAX_FIELD = 256
#: The ProbeMatch fields kept (anything else a device adds is ignored).
FIELDS = (
    "DeviceType", "DeviceDescription", "DeviceSN", "CommandPort", "HttpPort", "MAC", "IPv4Address",
    "IPv4SubnetMask", "IPv4Gateway", "DHCP", "AnalogChannelNum", "DigitalChannelNum", "SoftwareVersion",
    "DSPVersion", "BootTime", "Activated", "PasswordResetAbility", "SupportHCPlatform", "HCPlatformEnable",
    "OEMInfo",
)  # fmt: skip


def probes(probe_id: str | None = None) -> list[bytes]:
    """The inquiry in both spellings the tools send (older firmware answers `inquiry`, some newer `inquiry_v32`)."""
    pid = (probe_id or str(uuid.uuid4())).upper()
    return [
        f'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>{pid}</Uuid><Types>{t}</Types></Probe>'.encode()
        for t in ("inquiry", "inquiry_v32")
    ]


def parse_probe_match(data: bytes) -> dict[str, str] | None:
    """The ProbeMatch fields of one reply, or None for anything else (malformed, a DOCTYPE, another root)."""
    try:
        root = etree.fromstring(data, SAFE_PARSER)
    except (etree.LxmlError, ValueError):
        return None
    if root.getroottree().docinfo.doctype or root.tag != "ProbeMatch":
        return None
    out: dict[str, str] = {}
    for name in FIELDS:
        value = root.findtext(name)
        if value is not None and value.strip():
            out[name] = " ".join(value.split())[:MAX_FIELD]
    return out if ("DeviceSN" in out or "MAC" in out) else None


def activated(fields: dict[str, str]) -> bool | None:
    """SADP `Activated`: false means the device has no password at all yet (the most urgent find)."""
    value = fields.get("Activated", "").strip().lower()
    return {"true": True, "false": False}.get(value)
