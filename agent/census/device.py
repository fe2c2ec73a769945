"""One device as the census knows it: sightings from each source merged by MAC, serial and address, then attributed."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.attribution import Observation, Origin, VendorLookup, attribute, normalize_mac
from agent.census.passive import HostFindings

#: Census status, from "answered something" to "managed": seen < identified < credentials known < inventoried.
STATUSES = ("seen", "identified", "credentials known", "inventoried")
RECORDER_CLASSES = frozenset({"NVR", "DVR", "XVR", "HVR", "HCVR"})


@dataclass
class CensusDevice:
    host: str
    port: int | None = None
    announced_address: str | None = None  # what the device says its address is (SADP/DHIP), when it differs
    macs: set[str] = field(default_factory=set)
    serial: str | None = None
    model: str | None = None
    firmware: str | None = None
    device_class: str | None = None  # camera | recorder
    activated: bool | None = None
    channels: int | None = (
        None  # recorders: channels announced (SADP DigitalChannelNum, DHIP RemoteVideoInputChannels)
    )
    sources: set[str] = field(default_factory=set)
    scopes: list[str] = field(default_factory=list)
    cloud: dict[str, str] = field(default_factory=dict)
    sadp: dict[str, str] | None = None
    dhip: dict[str, str] | None = None
    upnp: dict[str, str] | None = None
    findings: HostFindings | None = None
    origin: Origin | None = None
    status: str = "seen"
    camera_id: str | None = None

    def match_keys(self) -> set[str]:
        out = {f"mac:{m}" for m in self.macs} | {f"host:{self.host}"}
        if self.serial:
            out.add(f"serial:{self.serial.upper()}")
        return out

    def absorb(self, other: CensusDevice) -> None:
        """Merge another sighting of the same device (first non-empty value wins; evidence is unioned)."""
        self.port = self.port or other.port
        self.announced_address = self.announced_address or other.announced_address
        self.macs |= other.macs
        for name in (
            "serial",
            "model",
            "firmware",
            "device_class",
            "channels",
            "sadp",
            "dhip",
            "upnp",
            "findings",
        ):
            if getattr(self, name) is None:
                setattr(self, name, getattr(other, name))
        if self.activated is None or other.activated is False:
            # An explicit "not activated" from SADP outweighs silence elsewhere.
            self.activated = other.activated if other.activated is not None else self.activated
        self.sources |= other.sources
        self.scopes += [s for s in other.scopes if s not in self.scopes]
        self.cloud.update({k: v for k, v in other.cloud.items() if k not in self.cloud})

    def observation(self) -> Observation:
        f = self.findings
        info = f.device_info if f is not None else {}
        upnp = dict(self.upnp) if self.upnp else None
        return Observation(
            onvif_manufacturer=info.get("Manufacturer"),
            onvif_model=info.get("Model"),
            onvif_firmware=info.get("FirmwareVersion"),
            onvif_serial=info.get("SerialNumber"),
            onvif_hardware_id=info.get("HardwareId"),
            scopes=tuple(self.scopes),
            macs=tuple(sorted(self.macs)),
            http_server=f.http_server if f else None,
            digest_realm=f.http_realm if f else None,
            soap_namespaces=frozenset(f.namespaces) if f else frozenset(),
            http_page=f.http_page if f else None,
            rtsp_server=f.rtsp_server if f else None,
            rtsp_realm=f.rtsp_realm if f else None,
            tls_subject=f.tls_subject if f else None,
            sadp=self.sadp,
            dhip=self.dhip,
            upnp=upnp,
        )

    def attribute(self, oui: VendorLookup | None) -> None:
        self.origin = attribute(self.observation(), oui)
        info = self.findings.device_info if self.findings is not None else {}
        self.model = self.model or info.get("Model")
        self.firmware = self.firmware or info.get("FirmwareVersion")
        self.serial = self.serial or info.get("SerialNumber")
        if self.device_class is None and (self.model or self.origin.manufacturer != "unknown"):
            self.device_class = "camera"
        identified = bool(self.model or self.serial) or self.origin.manufacturer != "unknown"
        self.status = "identified" if identified else "seen"

    def to_json(self) -> dict[str, Any]:
        o = self.origin
        return {
            "host": self.host,
            "port": self.port,
            "announced_address": self.announced_address,
            "mac": sorted(self.macs)[0] if self.macs else None,
            "macs": sorted(self.macs),
            "serial": self.serial,
            "model": self.model,
            "firmware": self.firmware,
            "device_class": self.device_class,
            "channels": self.channels,
            "activated": self.activated,
            "census_status": self.status,
            "camera_id": self.camera_id,
            "sources": sorted(self.sources),
            "cloud": dict(self.cloud),
            "origin": {
                "manufacturer": o.manufacturer if o else "unknown",
                "confidence": o.confidence if o else 0.0,
                "covered": o.covered if o else False,
                "reported_brand": o.reported_brand if o else None,
                "oem_rebrand": o.oem_rebrand if o else False,
                "evidence": [e.to_dict() for e in o.evidence] if o else [],
            },
        }


# ---- sightings from each source ---------------------------------------------------------------------------
def _port(url: str) -> int | None:
    try:
        parts = urllib.parse.urlsplit(url)
        return parts.port or (80 if parts.scheme == "http" else 443 if parts.scheme == "https" else None)
    except ValueError:
        return None


def _mac(value: object) -> set[str]:
    norm = normalize_mac(value)
    return {norm} if norm else set()


def from_ws_discovery(source: str, xaddrs: Sequence[str], scopes: Sequence[str]) -> CensusDevice:
    dev = CensusDevice(host=source, sources={"ws-discovery"}, scopes=list(scopes))
    dev.port = next((p for p in (_port(x) for x in xaddrs) if p), None)
    for scope in scopes:
        path = urllib.parse.unquote(urllib.parse.urlsplit(scope).path).strip("/")
        kind, _, value = path.partition("/")
        if kind.lower() == "mac":
            dev.macs |= _mac(value)
        elif kind == "hardware" and value:
            dev.model = value[:128]
    return dev


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def from_sadp(source: str, fields: dict[str, str]) -> CensusDevice:
    from agent.census.sadp import activated

    dev = CensusDevice(host=source, sources={"sadp"}, sadp=fields)
    dev.port = _int(fields.get("HttpPort"))
    dev.macs = _mac(fields.get("MAC"))
    dev.serial = fields.get("DeviceSN")
    dev.model = fields.get("DeviceDescription")
    # SADP glues version and build ("V5.5.0build 170725"); shown the way ONVIF reports it.
    fw = fields.get("SoftwareVersion")
    dev.firmware = fw.replace("build ", " build ").replace("  ", " ") if fw else None
    dev.activated = activated(fields)
    announced = fields.get("IPv4Address")
    dev.announced_address = announced if announced and announced != source else None
    digital = _int(fields.get("DigitalChannelNum")) or 0
    if digital > 1 or (_int(fields.get("DiskNumber")) or 0) > 0:
        dev.device_class, dev.channels = "recorder", digital
    if fields.get("SupportHCPlatform", "").lower() == "true":
        dev.cloud["hik-connect"] = "on" if fields.get("HCPlatformEnable", "").lower() == "true" else "off"
    return dev


def from_dhip(source: str, fields: dict[str, str]) -> CensusDevice:
    dev = CensusDevice(host=source, sources={"dhip"}, dhip=fields)
    dev.port = _int(fields.get("HttpPort"))
    dev.macs = _mac(fields.get("mac"))
    dev.serial = fields.get("SerialNo")
    dev.model = fields.get("DeviceType")
    dev.firmware = fields.get("Version")
    announced = fields.get("IPv4Address.IPAddress")
    dev.announced_address = announced if announced and announced != source else None
    cls = fields.get("DeviceClass", "").upper()
    if cls in RECORDER_CLASSES:
        dev.device_class, dev.channels = "recorder", _int(fields.get("RemoteVideoInputChannels"))
    elif cls:
        dev.device_class = "camera"
    return dev


def from_ssdp(source: str, headers: Mapping[str, str], description: dict[str, str] | None) -> CensusDevice:
    upnp: dict[str, str] = dict(description or {})
    for header, key in (("SERVER", "server"), ("LOCATION", "location")):
        if headers.get(header):
            upnp[key] = headers[header]
    dev = CensusDevice(host=source, sources={"ssdp"}, upnp=upnp or None)
    dev.port = _port(headers.get("LOCATION", ""))
    dev.serial = upnp.get("serialNumber")
    dev.model = upnp.get("modelName")
    return dev


def from_findings(f: HostFindings) -> CensusDevice:
    return CensusDevice(host=f.host, port=f.http_port, sources=set(f.sources), findings=f)


# ---- merging ------------------------------------------------------------------------------------------------
def merge(sightings: Iterable[CensusDevice]) -> list[CensusDevice]:
    """Union the sightings that share a MAC, a serial or an address (one device answering several protocols)."""
    devices: list[CensusDevice] = []
    owner: dict[str, int] = {}
    parent: list[int] = []

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for s in sightings:
        idx = len(devices)
        devices.append(s)
        parent.append(idx)
        for key in s.match_keys():
            if key in owner:
                a, b = find(owner[key]), find(idx)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                owner[key] = idx
    groups: dict[int, CensusDevice] = {}
    for i, dev in enumerate(devices):
        root = find(i)
        if root in groups:
            groups[root].absorb(dev)
        else:
            groups[root] = dev
    return sorted(groups.values(), key=lambda d: _sort_key(d.host))


def _sort_key(host: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in host.split("."))
    except ValueError:
        return (1 << 16,)


# ---- what the operator already has --------------------------------------------------------------------------
@dataclass(frozen=True)
class Known:
    """A camera the agent has credentials for and (when `inventoried`) read: host/port/MACs/serial to match on."""

    camera_id: str
    host: str
    port: int
    macs: tuple[str, ...] = ()
    serial: str = ""
    inventoried: bool = False

    def match_keys(self) -> set[str]:
        out = {f"mac:{m}" for m in (normalize_mac(x) for x in self.macs) if m} | {f"host:{self.host}"}
        if self.serial:
            out.add(f"serial:{self.serial.upper()}")
        return out


def apply_known(devices: list[CensusDevice], known: Iterable[Known]) -> None:
    """Raise each device's status where the operator has credentials for it, or has inventoried it (by MAC/serial,
    else by address): the census and the credentialed inventory then count one camera once."""
    by_key: dict[str, Known] = {}
    for k in sorted(known, key=lambda k: not k.inventoried):  # inventoried records win a shared key
        for key in k.match_keys():
            by_key.setdefault(key, k)
    for dev in devices:
        hits = [by_key[k] for k in sorted(dev.match_keys()) if k in by_key]
        if not hits:
            continue
        best = next((h for h in hits if h.inventoried), hits[0])
        dev.camera_id = best.camera_id
        dev.status = "inventoried" if best.inventoried else "credentials known"
