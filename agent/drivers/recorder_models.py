"""Pure parsers for recorder channel lists: Hikvision InputProxy, Dahua RemoteDevice/getCameraState, ONVIF.

Shapes: the InputProxyChannelList of the DS-7608NXI-I2 fixture [V]; InputProxyChannelStatus (id, online) and
the Dahua tables as public NVR integrations quote real replies [S]. Real Dahua RemoteDevice tables carry each
camera's password in clear: parsing drops every key that names a password before anything else sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from agent.drivers.dahua_models import parse_kv
from agent.drivers.hikvision_models import child, children, local, parse_xml, text_of
from agent.errors import ProtocolError

MAX_CHANNELS = 512  # the biggest recorders have 256 channels; more is not a channel list
_SLOT = re.compile(r"^table\.RemoteDevice\.(?:uuid:)?[A-Za-z_]*?(\d+)\.(.+)$")
_STATE = re.compile(r"^states\[(\d+)\]\.(channel|connectionState)$")
# Unused Dahua slots say Address=192.168.0.0 (public NVR integrations) [S].
_PLACEHOLDERS = frozenset({"", "0.0.0.0", "192.168.0.0"})


@dataclass
class ChannelInfo:
    """One channel as a recorder API describes it; identity fields are as the recorder reports them."""

    channel: int
    name: str = ""
    address: str = ""
    port: int = 0
    protocol: str = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    mac: str = ""
    online: bool | None = None
    status_detail: str = ""
    raw: dict[str, str] = field(default_factory=dict)  # attribution evidence (never a password)
    sources: list[str] = field(default_factory=list)


def _int(text: str | None) -> int:
    try:
        return int((text or "").strip())
    except ValueError:
        return 0


def parse_input_proxy_channels(raw: bytes, operation: str = "InputProxy/channels") -> list[ChannelInfo]:
    root = parse_xml(raw, operation=operation)
    if local(root) != "InputProxyChannelList":
        raise ProtocolError(
            f"expected <InputProxyChannelList>, got <{local(root)}>", operation=operation, raw=raw
        )
    out: list[ChannelInfo] = []
    for item in list(children(root, "InputProxyChannel"))[:MAX_CHANNELS]:
        number = _int(text_of(item, "id"))
        if number < 1:
            continue  # a channel without a readable id cannot be named; skip it rather than guess
        src = child(item, "sourceInputPortDescriptor")
        fields = {local(c): (c.text or "").strip() for c in src} if src is not None else {}
        fields = {k: v for k, v in fields.items() if v and "password" not in k.lower()}
        info = ChannelInfo(
            channel=number, name=text_of(item, "name") or "", address=fields.get("ipAddress", ""),
            port=_int(fields.get("managePortNo")), protocol=fields.get("proxyProtocol", ""),
            model=fields.get("model", ""), serial=fields.get("serialNumber", ""),
            firmware=fields.get("firmwareVersion", ""), mac=fields.get("macAddress", ""),
            raw={k: fields[k] for k in ("proxyProtocol", "model", "serialNumber", "firmwareVersion", "macAddress")
                 if k in fields},
            sources=["isapi.inputproxy"],
        )  # fmt: skip
        out.append(info)
    return out


def parse_input_proxy_status(
    raw: bytes, operation: str = "InputProxy/channels/status"
) -> dict[int, tuple[bool | None, str]]:
    root = parse_xml(raw, operation=operation)
    if local(root) != "InputProxyChannelStatusList":
        raise ProtocolError(
            f"expected <InputProxyChannelStatusList>, got <{local(root)}>", operation=operation, raw=raw
        )
    out: dict[int, tuple[bool | None, str]] = {}
    for item in list(children(root, "InputProxyChannelStatus"))[:MAX_CHANNELS]:
        number = _int(text_of(item, "id"))
        online_text = (text_of(item, "online") or "").lower()
        # Firmware that leaves <online> out says nothing: unknown, not offline.
        online = {"true": True, "false": False}.get(online_text)
        out[number] = (online, text_of(item, "chanDetectResult") or "")
    return out


def parse_remote_devices(raw: bytes, operation: str = "getConfig RemoteDevice") -> list[ChannelInfo]:
    """Enabled RemoteDevice slots (channel = slot + 1); password keys are dropped here, before anything else."""
    slots: dict[int, dict[str, str]] = {}
    for key, value in parse_kv(raw, operation=operation):
        m = _SLOT.match(key)
        if m is None or "password" in m.group(2).lower():
            continue
        slots.setdefault(int(m.group(1)), {})[m.group(2)] = value
    out: list[ChannelInfo] = []
    for slot, f in sorted(slots.items())[:MAX_CHANNELS]:
        if f.get("Enable", "").lower() != "true" or f.get("Address", "") in _PLACEHOLDERS:
            continue
        out.append(
            ChannelInfo(
                channel=slot + 1, name=f.get("Name", ""), address=f.get("Address", ""), port=_int(f.get("Port")),
                protocol=f.get("ProtocolType", "") or f.get("Vendor", ""), model=f.get("DeviceType", ""),
                serial=f.get("SerialNo", ""), firmware=f.get("Version", ""), mac=f.get("Mac", ""),
                raw={k.lower(): v for k, v in f.items()
                     if k in ("DeviceType", "SerialNo", "Version", "Mac", "ProtocolType", "Vendor") and v},
                sources=["dahua.remotedevice"],
            )
        )  # fmt: skip
    return out


def parse_camera_state(raw: bytes, operation: str = "getCameraState") -> dict[int, tuple[bool | None, str]]:
    """LogicDeviceManager getCameraState: 1-based channel -> (Connected?, connectionState)."""
    rows: dict[int, dict[str, str]] = {}
    for key, value in parse_kv(raw, operation=operation):
        m = _STATE.match(key)
        if m is not None:
            rows.setdefault(int(m.group(1)), {})[m.group(2)] = value
    out: dict[int, tuple[bool | None, str]] = {}
    for row in rows.values():
        if "channel" in row:
            state = row.get("connectionState", "")
            out[_int(row["channel"]) + 1] = (
                {"connected": True, "unconnect": False}.get(state.lower()),
                state,
            )
    return out


# ---- ONVIF ----------------------------------------------------------------------------------------------------
NS_TRT = "http://www.onvif.org/ver10/media/wsdl"
NS_TRC = "http://www.onvif.org/ver10/recording/wsdl"
NS_TT = "http://www.onvif.org/ver10/schema"


def parse_video_sources(root: etree._Element) -> int:
    return len(root.findall(f".//{{{NS_TRT}}}VideoSources"))


def parse_recordings(root: etree._Element) -> list[ChannelInfo]:
    """Profile G recordings: Source/Address is the URI of what is recorded (the camera's stream)."""
    out: list[ChannelInfo] = []
    for n, item in enumerate(root.iter(f"{{{NS_TRC}}}RecordingItem"), 1):
        src = item.find(f"{{{NS_TT}}}Configuration/{{{NS_TT}}}Source")
        if src is None or n > MAX_CHANNELS:
            continue
        address = (src.findtext(f"{{{NS_TT}}}Address") or "").strip()
        try:
            host = urlsplit(address).hostname or ""
        except ValueError:
            host = ""
        out.append(ChannelInfo(channel=n, name=(src.findtext(f"{{{NS_TT}}}Name") or "").strip(), address=host,
                               protocol="ONVIF", sources=["onvif.recordings"]))  # fmt: skip
    return out
