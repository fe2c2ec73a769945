"""Dahua CGI personality: magicBox.cgi inventory and configManager.cgi get/setConfig (key=value lines)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from camsim.model import Camera
from camsim.recorders import MANAGE_PORT, channel_views, lookup_of
from camsim.vendors.common import set_feature_if_changed

# Bodies are key=value lines with CRLF on the wire (fixtures/dahua_cgi_replies.txt).
EOL = "\r\n"


def _lines(items: list[tuple[str, str]]) -> web.Response:
    return web.Response(text="".join(f"{k}={v}{EOL}" for k, v in items), content_type="text/plain")


def bad_request() -> web.Response:
    """What Dahua firmware sends for anything it does not understand (VENDORS.md §4)."""
    return web.Response(status=400, text=f"Error{EOL}Bad Request!{EOL}", content_type="text/plain")


def _ok() -> web.Response:
    return web.Response(text=f"OK{EOL}", content_type="text/plain")


def _b(v: bool) -> str:
    return "true" if v else "false"


# ---- magicBox.cgi ----------------------------------------------------------------------------------------
def software_version(firmware: str) -> str:
    """ONVIF '2.800.0000016.0.R, build: 2020-06-05' -> CGI '2.800.0000016.0.R,build:2020-06-05'."""
    version, sep, build = firmware.partition(",")
    build = build.strip()
    if build.startswith("build:"):
        build = build[len("build:") :].strip()
    return f"{version.strip()},build:{build}" if sep else version.strip()


def _system_info(cam: Camera) -> list[tuple[str, str]]:
    ident = cam.identity
    base = ident.base_model or ident.model
    # updateSerial keeps the Dahua base model under OEM rebrands: the firmware update channel is Dahua's.
    return [
        ("appAutoStart", "true"),
        ("deviceType", ident.model),
        ("hardwareVersion", ident.hardware_id or "1.00"),
        ("processor", "S3LM"),
        ("serialNumber", ident.serial),
        ("updateSerial", base),
        (
            "updateSerialCloudUpgrade",
            f"{base}:07:01:08:70:52:00:09:0E:03:00:04:8F0:00:00:00:00:00:02:00:00:600",
        ),
    ]


def _device_class(cam: Camera) -> list[tuple[str, str]]:
    # python-amcrest reads magicBox getDeviceClass; the key name "class" is the simulator's guess [U].
    return [("class", cam.identity.device_type if cam.is_recorder else "IPC")]


MAGICBOX: dict[str, Callable[[Camera], list[tuple[str, str]]]] = {
    "getDeviceClass": _device_class,
    "getSystemInfo": _system_info,
    "getSoftwareVersion": lambda c: [("version", software_version(c.identity.firmware))],
    "getDeviceType": lambda c: [("type", c.identity.model)],
    # OEM firmware answers with the rebrand (getVendor is where Amcrest/Lorex/CP PLUS show their name).
    "getVendor": lambda c: [("vendor", c.identity.manufacturer)],
    "getSerialNo": lambda c: [("sn", c.identity.serial)],
    "getHardwareVersion": lambda c: [("version", c.identity.hardware_id or "1.00")],
    "getMachineName": lambda c: [("name", c.identity.serial)],
}


# ---- configManager.cgi -----------------------------------------------------------------------------------
_UPNP_MAP = (("HTTP", 80), ("RTSP", 554), ("TCP", 37777))  # (ServiceName, InnerPort)


def _map_flags(cam: Camera) -> list[bool]:
    """Per-entry UPnP.MapTable[n].Enable; the feature `upnp_portmap` is on when any entry is."""
    on = bool(cam.features.get("upnp_portmap"))
    return [cam.feature_detail.get(f"upnp.map{i}", _b(on)) == "true" for i in range(len(_UPNP_MAP))]


def _get_t2u(cam: Camera) -> list[tuple[str, str]]:
    return [("table.T2UServer.Enable", _b(bool(cam.features.get("t2u"))))]


def _get_upnp(cam: Camera) -> list[tuple[str, str]]:
    out = [("table.UPnP.Enable", _b(bool(cam.features.get("upnp")))), ("table.UPnP.Mode", "Auto")]
    for i, ((name, inner), on) in enumerate(zip(_UPNP_MAP, _map_flags(cam), strict=True)):
        p = f"table.UPnP.MapTable[{i}]"
        out += [
            (f"{p}.Enable", _b(on)),
            (f"{p}.InnerPort", str(inner)),
            (f"{p}.OuterPort", str(inner + 8000 if inner < 1024 else inner)),
            (f"{p}.Protocol", "TCP"),
            (f"{p}.ServiceName", name),
        ]
    return out


def _get_ddns(cam: Camera) -> list[tuple[str, str]]:
    d = cam.feature_detail
    p = "table.DDNS[0]"
    return [
        (f"{p}.Address", d.get("ddns.server", "www.dahuaddns.com")),
        (f"{p}.DomainName", d.get("ddns.domain", "")),
        (f"{p}.Enable", _b(bool(cam.features.get("ddns")))),
        (f"{p}.Port", "80"),
        (f"{p}.Protocol", d.get("ddns.provider", "Dahua DDNS")),
        (f"{p}.UserName", ""),
    ]


def _get_telnet(cam: Camera) -> list[tuple[str, str]]:
    return [("table.Telnet.Enable", _b(bool(cam.features.get("telnet"))))]


def _get_ntp(cam: Camera) -> list[tuple[str, str]]:
    n = cam.network
    address = n.ntp[0] if n.ntp else cam.feature_detail.get("ntp.address", "clock.isc.org")
    return [
        ("table.NTP.Address", address),
        ("table.NTP.Enable", _b(bool(n.ntp))),
        ("table.NTP.Port", "123"),
        ("table.NTP.TimeZone", "0"),
        ("table.NTP.UpdatePeriod", "10"),
    ]


GET_CONFIG: dict[str, Callable[[Camera], list[tuple[str, str]]]] = {
    "T2UServer": _get_t2u,
    "UPnP": _get_upnp,
    "DDNS": _get_ddns,
    "Telnet": _get_telnet,
    "NTP": _get_ntp,
}
_FEATURE_OF_CONFIG = {"T2UServer": "t2u", "UPnP": "upnp", "DDNS": "ddns", "Telnet": "telnet"}


@dataclass(frozen=True)
class _Set:
    kind: str  # feature | map | ntp_enable | ntp_address
    target: str | int
    value: str


# Writable keys. Keys are case-sensitive; some firmware writes T2UServer[0].Enable (VENDORS.md §4).
_FEATURE_KEYS = {
    "T2UServer.Enable": "t2u",
    "T2UServer[0].Enable": "t2u",
    "UPnP.Enable": "upnp",
    "DDNS[0].Enable": "ddns",
    "DDNS.Enable": "ddns",
    "Telnet.Enable": "telnet",
}
_MAP_KEY = re.compile(r"^UPnP\.MapTable\[(\d+)\]\.Enable$")
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$")


def _plan(cam: Camera, params: list[tuple[str, str]]) -> list[_Set] | None:
    """Validate every key first (all-or-nothing, as the firmware does); None means Bad Request."""
    plan: list[_Set] = []
    for key, value in params:
        if key == "action":
            continue
        feature = _FEATURE_KEYS.get(key)
        if feature is not None:
            if value not in ("true", "false") or feature not in cam.features:
                return None
            plan.append(_Set("feature", feature, value))
            continue
        m = _MAP_KEY.match(key)
        if m is not None:
            idx = int(m.group(1))
            if value not in ("true", "false") or idx >= len(_UPNP_MAP) or "upnp_portmap" not in cam.features:
                return None
            plan.append(_Set("map", idx, value))
            continue
        if key == "NTP.Enable" and value in ("true", "false"):
            plan.append(_Set("ntp_enable", 0, value))
            continue
        if key == "NTP.Address" and _HOST.match(value):
            plan.append(_Set("ntp_address", 0, value))
            continue
        return None
    return plan or None


def _apply(cam: Camera, plan: list[_Set]) -> None:
    ntp_before = list(cam.network.ntp)
    for s in plan:
        if s.kind == "feature":
            set_feature_if_changed(cam, str(s.target), s.value == "true")
        elif s.kind == "map":
            key = f"upnp.map{s.target}"
            if _map_flags(cam)[int(s.target)] != (s.value == "true"):
                cam.feature_detail[key] = s.value
                cam.record_write(key)
            set_feature_if_changed(cam, "upnp_portmap", any(_map_flags(cam)))
        elif s.kind == "ntp_address":
            cam.feature_detail["ntp.address"] = s.value
            if cam.network.ntp:
                cam.network.ntp = [s.value]
        elif s.kind == "ntp_enable":
            if s.value == "false":
                if cam.network.ntp:
                    cam.feature_detail["ntp.address"] = cam.network.ntp[0]
                cam.network.ntp = []
            elif not cam.network.ntp:
                cam.network.ntp = [cam.feature_detail.get("ntp.address", "clock.isc.org")]
    if cam.network.ntp != ntp_before:
        cam.network.ntp_from_dhcp = False
        cam.record_write("ntp")  # same setting ONVIF SetNTP writes


# ---- recorders: RemoteDevice table and LogicDeviceManager camera state ---------------------------------
# Shapes from public NVR integrations quoting real replies [S]: one `table.RemoteDevice.uuid:System_CONFIG_
# NETCAMERA_INFO_<slot>.<Key>=value` line per field, slot = channel - 1; unused slots say Address=192.168.0.0
# and Enable=false. Real recorders include each camera's Password in clear (one capture shows
# `Password=12345`): kept here, so the agent is tested on never storing or echoing it.
_SLOT = "table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_{}"
_PROTOCOL_TYPE = {"Private": "Dahua2", "ONVIF": "Onvif", "HIKVISION": "Onvif"}


def _remote_devices(cam: Camera, request: web.Request) -> list[tuple[str, str]]:
    views = {v.channel.number: v for v in channel_views(cam, lookup_of(request))}
    total = max([cam_channels(cam), *views]) if views else cam_channels(cam)
    out: list[tuple[str, str]] = []
    for slot in range(total):
        p = _SLOT.format(slot)
        v = views.get(slot + 1)
        if v is None:
            out += [(f"{p}.Address", "192.168.0.0"), (f"{p}.Enable", "false"), (f"{p}.Name", "")]
            continue
        other = v.camera
        ident = other.identity if other is not None else None
        password = other.users[0].password if other is not None and other.users else ""
        vendor = "Private" if v.channel.protocol == "Private" else "Onvif"
        out += [
            (f"{p}.Address", v.channel.address),
            (f"{p}.DeviceType", ident.model if ident else ""),
            (f"{p}.Enable", "true"),
            (f"{p}.HttpPort", "80"),
            (f"{p}.Mac", ident.mac if ident else ""),
            (f"{p}.Name", v.channel.name),
            (f"{p}.Password", password),
            (f"{p}.Port", str(MANAGE_PORT.get(v.channel.protocol, 37777))),
            (f"{p}.ProtocolType", _PROTOCOL_TYPE.get(v.channel.protocol, "Onvif")),
            (f"{p}.RtspPort", "554"),
            (f"{p}.SerialNo", ident.serial if ident else ""),
            (f"{p}.UserName", "admin"),
            (f"{p}.Vendor", vendor),
            (f"{p}.Version", ident.firmware if ident else ""),
            (f"{p}.VideoInputChannels", "1"),
        ]
    return out


def cam_channels(cam: Camera) -> int:
    """The recorder model's channel count (its RemoteDevice table has one slot per channel)."""
    from camsim import catalog

    try:
        return catalog.find_model(cam.identity.model).channels or len(cam.channels)
    except KeyError:
        return len(cam.channels)


def _camera_state(cam: Camera, request: web.Request) -> list[tuple[str, str]]:
    """LogicDeviceManager getCameraState: states[i].channel (0-based) and connectionState Connected|Unconnect."""
    out: list[tuple[str, str]] = []
    for i, v in enumerate(channel_views(cam, lookup_of(request))):
        out += [
            (f"states[{i}].channel", str(v.channel.number - 1)),
            (f"states[{i}].connectionState", "Connected" if v.online else "Unconnect"),
        ]
    return out


# ---- dispatch --------------------------------------------------------------------------------------------
async def handle(camera: Camera, request: web.Request) -> web.Response:
    """Serve one (already authenticated) Dahua CGI request."""
    if request.method != "GET":
        return bad_request()
    action = request.query.get("action", "")
    if request.path == "/cgi-bin/magicBox.cgi":
        if action == "getProductDefinition" and request.query.get("name") == "MaxRemoteInputChannels":
            if not camera.is_recorder:
                return bad_request()
            return _lines([("table.MaxRemoteInputChannels", str(cam_channels(camera)))])
        fn = MAGICBOX.get(action)
        return _lines(fn(camera)) if fn is not None else bad_request()
    if request.path == "/cgi-bin/LogicDeviceManager.cgi":
        if action != "getCameraState" or not camera.is_recorder:
            return bad_request()
        return _lines(_camera_state(camera, request))
    if request.path == "/cgi-bin/configManager.cgi":
        if action == "getConfig" and request.query.get("name") == "RemoteDevice":
            return _lines(_remote_devices(camera, request)) if camera.is_recorder else bad_request()
        if action == "getConfig":
            getter = GET_CONFIG.get(request.query.get("name", ""))
            name = request.query.get("name", "")
            feature = _FEATURE_OF_CONFIG.get(name)
            if getter is None or (feature is not None and feature not in camera.features):
                return bad_request()
            return _lines(getter(camera))
        if action == "setConfig":
            plan = _plan(camera, list(request.query.items()))
            if plan is None:
                return bad_request()
            _apply(camera, plan)
            return _ok()
    return bad_request()


def server_header(camera: Camera) -> str | None:
    # No Server banner is documented for Dahua IPC firmware in VENDORS.md, so send none rather than guess.
    return None
