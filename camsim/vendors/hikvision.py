"""Hikvision ISAPI personality: deviceInfo, capabilities, cloud/network toggles, ports, reset and reboot."""

from __future__ import annotations

import functools
import ipaddress
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

from camsim import catalog
from camsim.fleet import device_uuid
from camsim.model import Camera, IPFilter, Protocol
from camsim.recorders import MANAGE_PORT, channel_views, lookup_of
from camsim.vendors.common import BodyTooLarge, read_body, set_feature_if_changed, set_ip_filter

# Namespace of V5.x firmware (all deviceInfo/capabilities fixtures). Newer firmware uses
# http://www.isapi.org/ver20/XMLSchema; PUT bodies are accepted in either (or none), as real firmware does.
NS = "http://www.hikvision.com/ver20/XMLSchema"
# The V4.x recorder firmware of the DS-7608NXI-I2 fixture answers in the newer isapi.org namespace.
NS_ISAPI = "http://www.isapi.org/ver20/XMLSchema"
XML_CT = "application/xml"

# ResponseStatus statusCode -> (statusString, HTTP status). 1/3/7 verified, 2/6 seen in tests, 4/5 [U]
# (VENDORS.md §3). Real firmware answers 4 with 403 and 5/6 with 400.
_STATUS = {
    1: ("OK", 200),
    2: ("Device Busy", 503),
    3: ("Device Error", 500),
    4: ("Invalid Operation", 403),
    5: ("Invalid XML Format", 400),
    6: ("Invalid XML Content", 400),
    7: ("Reboot Required", 200),
}

# XML tree as data: (tag, text | children, attributes)
Node = tuple[str, "str | list[Node]", dict[str, str]]


def _n(tag: str, value: str | list[Node] | bool | int, **attrs: str) -> Node:
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int):
        value = str(value)
    return (tag, value, attrs)


def _render(node: Node, root: bool = False, ns: str = NS) -> str:
    tag, value, attrs = node
    a = dict(attrs)
    if root:
        a = {"version": "2.0", "xmlns": ns, **a}
    attr_text = "".join(f" {k}={quoteattr(v)}" for k, v in a.items())
    if isinstance(value, str):
        return f"<{tag}{attr_text}>{escape(value)}</{tag}>"
    inner = "\n".join(_render(c) for c in value)
    return f"<{tag}{attr_text}>\n{inner}\n</{tag}>"


def xml_response(node: Node, status: int = 200, ns: str = NS) -> web.Response:
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + _render(node, root=True, ns=ns) + "\n"
    return web.Response(status=status, text=body, content_type=XML_CT, charset="utf-8")


class IsapiError(Exception):
    """A request the camera refuses with a ResponseStatus."""

    def __init__(self, code: int, sub: str, http: int | None = None) -> None:
        super().__init__(f"{code} {sub}")
        self.code = code
        self.sub = sub
        self.http = http


def response_status(path: str, code: int, sub: str, http: int | None = None) -> web.Response:
    """<ResponseStatus> as in hikvision_next__ISAPI_deviceError.xml, with the requestURL real firmware adds."""
    text, default_http = _STATUS[code]
    node = _n(
        "ResponseStatus",
        [_n("requestURL", path), _n("statusCode", code), _n("statusString", text), _n("subStatusCode", sub)],
    )
    return xml_response(node, http if http is not None else default_http)


# ---- request parsing -------------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text(el: ET.Element, name: str) -> str | None:
    c = _child(el, name)
    return None if c is None else (c.text or "").strip()


def _bool(el: ET.Element, name: str, *, required: bool = True) -> bool | None:
    v = _text(el, name)
    if v is None:
        if required:
            raise IsapiError(6, "badXmlContent")
        return None
    if v not in ("true", "false"):
        raise IsapiError(6, "badParameters")
    return v == "true"


async def _parse_body(request: web.Request, root: str | tuple[str, ...]) -> ET.Element:
    try:
        body = await read_body(request)
    except BodyTooLarge as e:
        raise IsapiError(5, "badXmlFormat") from e
    try:
        el = ET.fromstring(body)
    except ET.ParseError as e:
        raise IsapiError(5, "badXmlFormat") from e
    roots = (root,) if isinstance(root, str) else root
    if _local(el.tag) not in roots:
        raise IsapiError(6, "badXmlContent")
    return el


# ---- identity --------------------------------------------------------------------------------------------
def split_version(text: str) -> tuple[str, str]:
    """'V5.5.0 build 170725' -> ('V5.5.0', 'build 170725'): ISAPI splits what ONVIF combines."""
    version, sep, build = text.partition(" build ")
    return version, (f"build {build}" if sep else "")


def _fw_extra(camera: Camera) -> dict[str, str]:
    fw = catalog.find_firmware(camera.identity.firmware)
    return dict(fw.extra) if fw else {}


def _device_info(camera: Camera) -> Node:
    ident = camera.identity
    fw, fw_date = split_version(ident.firmware)
    extra = _fw_extra(camera)
    enc, enc_date = split_version(extra.get("encoderVersion", "V7.3 build 240801"))
    items = [
        _n("deviceName", "Network Video Recorder" if camera.is_recorder else "IP CAMERA"),
        _n("deviceID", device_uuid(camera)),
        _n("deviceDescription", ident.device_type if camera.is_recorder else "IPCamera"),
        _n("deviceLocation", "hangzhou"),
        _n("systemContact", "Hikvision.China"),
        _n("model", ident.model),
        _n("serialNumber", ident.serial),
        _n("macAddress", ident.mac),
        _n("firmwareVersion", fw),
        _n("firmwareReleasedDate", fw_date),
        _n("encoderVersion", enc),
        _n("encoderReleasedDate", enc_date),
        _n("bootVersion", "V1.3.4"),
        _n("bootReleasedDate", "100316"),
        _n("hardwareVersion", "0x0"),
        _n("deviceType", ident.device_type),
        _n("telecontrolID", extra.get("telecontrolID", "88")),
        _n("supportBeep", False),
        _n("supportVideoLoss", False),
    ]
    if "firmwareVersionInfo" in extra:
        items.append(_n("firmwareVersionInfo", extra["firmwareVersionInfo"]))
    # OEM firmware reports the rebrand but keeps the Hikvision field set; OEMCode 1 is Hikvision's own
    # (fixtures), any other value marks an OEM build [U].
    items.append(_n("manufacturer", ident.oem_brand or "hikvision"))
    if extra.get("firmwareVersionInfo", "B-R-G1-0") != "B-R-G1-0":
        # G5/G7-platform firmware adds the serial's last 9 characters as subSerialNumber (DS-2CD2146G2-ISU fixture).
        items.append(_n("subSerialNumber", ident.serial[-9:]))
    items.append(_n("OEMCode", "0" if ident.oem_brand else "1"))
    return _n("DeviceInfo", items)


def _capabilities(camera: Camera) -> Node:
    f = camera.features
    a = camera.auth
    ns = {"version": "2.0", "xmlns": NS}
    network_cap = _n(
        "NetworkCap",
        [
            _n("isSupportWireless", False),
            _n("isSupportPPPoE", True),
            _n("isSupportNtp", "NTP" in camera.capabilities),
            _n("isSupportFtp", True),
            _n("isSupportUpnp", "upnp" in f),
            _n("isSupportDdns", "ddns" in f),
            _n("isSupportHttps", any(p.name == "HTTPS" for p in camera.network.protocols)),
            _n("isSupportIPFilter", "IPFilter" in camera.capabilities),
            _n("isSupportEZVIZ", "ezviz" in f),
            _n("isSupportEhome", "ehome" in f),
            _n("isSupportMACFilter", True),
            _n("isSupportIntegrate", True),
            _n("isSupportPlatformAccess", False),
        ],
        **ns,
    )
    security_cap = _n(
        "SecurityCap",
        [
            _n("supportUserNums", 32),
            _n("issupIllegalLoginLock", True),
            _n("isSupportUserCheck", True),
            _n("isSupportONVIFUserManagement", True),
            _n("WebCertificateCap", [_n("CertificateType", "", opt="digest,digest/basic")]),
            _n("maxIllegalLoginTimes", "", min="3", max="20", **{"def": str(a.lockout_threshold)}),
            _n(
                "maxIllegalLoginLockTime",
                "",
                min="1",
                max="120",
                **{"def": str(max(1, round(a.lockout_seconds / 60)))},
            ),
        ],
        **ns,
    )
    return _n(
        "DeviceCap",
        [_n("SysCap", [_n("isSupportDst", True), network_cap]), _n("isSupportSnapshot", True), security_cap],
    )


# ---- feature toggles -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Toggle:
    """An ISAPI resource whose <enabled> maps to one camera feature."""

    root: str
    feature: str
    extra: Callable[[Camera, bool], list[Node]]


def _ezviz_extra(cam: Camera, on: bool) -> list[Node]:
    return [
        # Registered only when on and the camera can actually reach the cloud.
        _n("registerStatus", on and cam.cloud_reachable()),
        _n("redirect", True),
        _n(
            "serverAddress",
            [
                _n("addressingFormatType", "hostname"),
                _n("hostName", cam.feature_detail.get("ezviz.server", "litedev.hik-connect.com")),
            ],
        ),
        _n("streamEncrypteEnabled", False),
    ]


def _ehome_extra(cam: Camera, on: bool) -> list[Node]:
    return [
        _n("addressingFormatType", "ipaddress"),
        _n("ipAddress", cam.feature_detail.get("ehome.server", "0.0.0.0")),
        _n("portNo", 7660),
        _n("deviceID", ""),
        _n("registerStatus", False),
        _n("version", "v2.0"),
    ]


def _upnp_extra(cam: Camera, on: bool) -> list[Node]:
    return [_n("name", f"{cam.identity.model} - {cam.identity.serial[-9:]}")]


def _ports_extra(cam: Camera, on: bool) -> list[Node]:
    names = {"HTTP": "http", "HTTPS": "https", "RTSP": "rtsp", "DEV_MANAGE": "admin"}
    ports = [
        _n(
            "port",
            [
                _n("isEnabled", on and p.enabled),
                _n("internalPort", names[p.name]),
                _n("externalPort", p.port),
                _n("status", "valid" if on and p.enabled else "invalid"),
            ],
        )
        for p in cam.network.protocols
        if p.name in names
    ]
    return [_n("mapmode", "auto"), _n("portList", ports)]


def _ddns_extra(cam: Camera, on: bool) -> list[Node]:
    d = cam.feature_detail
    return [
        _n("provider", d.get("ddns.provider", "HiDDNS")),
        _n(
            "serverAddress",
            [
                _n("addressingFormatType", "hostname"),
                _n("hostName", d.get("ddns.server", "www.hik-online.com")),
            ],
        ),
        _n("portNo", 0),
        _n("deviceDomainName", d.get("ddns.domain", "")),
        _n("userName", ""),
    ]


def _none(cam: Camera, on: bool) -> list[Node]:
    return []


TOGGLES: dict[str, Toggle] = {
    "/ISAPI/System/Network/EZVIZ": Toggle("EZVIZ", "ezviz", _ezviz_extra),
    "/ISAPI/System/Network/Ehome": Toggle("Ehome", "ehome", _ehome_extra),
    "/ISAPI/System/Network/UPnP": Toggle("UPnP", "upnp", _upnp_extra),
    "/ISAPI/System/Network/UPnP/ports": Toggle("ports", "upnp_portmap", _ports_extra),
    "/ISAPI/System/Network/DDNS/1": Toggle("DDNS", "ddns", _ddns_extra),
    "/ISAPI/System/Network/telnetd": Toggle("Telnetd", "telnet", _none),
    "/ISAPI/System/Network/ssh": Toggle("SSH", "ssh", _none),
}
DDNS_PROVIDERS = ("HiDDNS", "NoIpDns", "DynDns", "IPServer")


def _toggle_get(camera: Camera, t: Toggle) -> web.Response:
    on = bool(camera.features.get(t.feature))
    head = [_n("id", 1)] if t.root == "DDNS" else []
    return xml_response(_n(t.root, [*head, _n("enabled", on), *t.extra(camera, on)]))


async def _toggle_put(camera: Camera, request: web.Request, t: Toggle) -> web.Response:
    el = await _parse_body(request, t.root)
    on = _bool(el, "enabled")
    assert on is not None
    if t.root == "DDNS":
        provider = _text(el, "provider")
        if provider is not None and provider not in DDNS_PROVIDERS:
            raise IsapiError(6, "badParameters")
        if provider is not None and provider != camera.feature_detail.get("ddns.provider"):
            camera.feature_detail["ddns.provider"] = provider
            camera.record_write("ddns.provider")
    set_feature_if_changed(camera, t.feature, on)
    return response_status(request.path, 1, "ok")


# ---- IP filter -------------------------------------------------------------------------------------------
def _ip_filter_get(camera: Camera) -> web.Response:
    flt = camera.network.ip_filter
    perm = flt.type.lower()
    entries = []
    for i, (addr, plen) in enumerate(flt.ipv4, start=1):
        mask = str(ipaddress.IPv4Network(f"0.0.0.0/{plen}").netmask)
        entries.append(
            _n(
                "IPFilterAddress",
                [
                    _n("id", i),
                    _n("permissionType", perm),
                    _n("addressFilterType", "mask"),
                    _n("AddressMask", [_n("ipAddress", addr), _n("ipAddressMask", mask)]),
                ],
            )
        )
    node = _n(
        "IPFilter",
        [_n("enabled", bool(flt.ipv4)), _n("permissionType", perm), _n("IPFilterAddressList", entries)],
    )
    return xml_response(node)


def _addr_text(el: ET.Element | None) -> str | None:
    """An address element holds the dotted quad directly or nested <ipAddress> (range start/end)."""
    if el is None:
        return None
    inner = _child(el, "ipAddress")
    return ((inner.text if inner is not None else el.text) or "").strip() or None


def _filter_entries(el: ET.Element) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    lst = _child(el, "IPFilterAddressList")
    for entry in [] if lst is None else list(lst):
        kind = _text(entry, "addressFilterType") or "mask"
        try:
            if kind == "mask":
                m = _child(entry, "AddressMask")
                if m is None:
                    raise IsapiError(6, "badXmlContent")
                ip = _addr_text(_child(m, "ipAddress"))
                mask = _text(m, "ipAddressMask") or "255.255.255.255"
                net = ipaddress.IPv4Network(f"{ip}/{mask}", strict=False)
                out.append((str(net.network_address), net.prefixlen))
            elif kind == "range":
                r = _child(entry, "AddressRange")
                if r is None:
                    raise IsapiError(6, "badXmlContent")
                start = ipaddress.IPv4Address(_addr_text(_child(r, "startIPAddress")) or "")
                end = ipaddress.IPv4Address(_addr_text(_child(r, "endIPAddress")) or "")
                out += [
                    (str(n.network_address), n.prefixlen)
                    for n in ipaddress.summarize_address_range(start, end)
                ]
            else:
                raise IsapiError(6, "badParameters")
        except (ValueError, TypeError) as e:
            raise IsapiError(6, "badParameters") from e
    return out


async def _ip_filter_put(camera: Camera, request: web.Request) -> web.Response:
    el = await _parse_body(request, "IPFilter")
    enabled = _bool(el, "enabled")
    perm = _text(el, "permissionType") or "allow"
    if perm not in ("allow", "deny"):
        raise IsapiError(6, "badParameters")
    entries = _filter_entries(el)
    if enabled and not entries:
        # The web UI refuses to enable an empty filter list.
        raise IsapiError(6, "badParameters")
    # Disabled means "no filtering", which the shared model (and ONVIF) express as an empty list.
    new = IPFilter(type="Allow" if perm == "allow" else "Deny", ipv4=entries if enabled else [])
    set_ip_filter(camera, new)
    return response_status(request.path, 1, "ok")


# ---- ports / protocols -----------------------------------------------------------------------------------
_PROTOCOL_IDS = {"HTTP": 1, "HTTPS": 2, "DEV_MANAGE": 3, "RTSP": 4}  # ids as in the adminAccesses fixtures


def _admin_get(camera: Camera) -> web.Response:
    items = []
    for p in camera.network.protocols:
        pid = _PROTOCOL_IDS.get(p.name)
        if pid is None:
            continue
        items.append(
            _n(
                "AdminAccessProtocol",
                [_n("id", pid), _n("enabled", p.enabled), _n("protocol", p.name), _n("portNo", p.port)],
                version="2.0",
                xmlns=NS,
            )
        )
    return xml_response(_n("AdminAccessProtocolList", items))


async def _admin_put(camera: Camera, request: web.Request) -> web.Response:
    el = await _parse_body(request, ("AdminAccessProtocolList", "AdminAccessProtocol"))
    entries = [el] if _local(el.tag) == "AdminAccessProtocol" else list(el)
    by_name = {p.name: p for p in camera.network.protocols if p.name in _PROTOCOL_IDS}
    by_id = {_PROTOCOL_IDS[n]: p for n, p in by_name.items()}
    planned: dict[str, tuple[bool, int]] = {}
    for entry in entries:
        if _local(entry.tag) != "AdminAccessProtocol":
            raise IsapiError(6, "badXmlContent")
        name = (_text(entry, "protocol") or "").upper()
        pid = _text(entry, "id")
        proto = by_name.get(name) or (by_id.get(int(pid)) if pid and pid.isdigit() else None)
        if proto is None:
            raise IsapiError(6, "badParameters")
        enabled = _bool(entry, "enabled", required=False)
        port_text = _text(entry, "portNo")
        try:
            port = int(port_text) if port_text is not None else proto.port
        except ValueError as e:
            raise IsapiError(6, "badParameters") from e
        if not 1 <= port <= 65535:
            raise IsapiError(6, "badParameters")
        planned[proto.name] = (proto.enabled if enabled is None else enabled, port)
    http = planned.get("HTTP")
    if http is not None and (not http[0] or http[1] != by_name["HTTP"].port):
        # The web server cannot switch off or move the port it is answering on; the simulator also keeps
        # its listener where it is, so refuse rather than pretend.
        raise IsapiError(4, "invalidOperation")
    final = {n: planned.get(n, (p.enabled, p.port)) for n, p in by_name.items()}
    ports = [port for on, port in final.values() if on]
    if len(ports) != len(set(ports)):
        raise IsapiError(6, "portConflict")
    port_moved = False
    for name, (on, port) in planned.items():
        proto = by_name[name]
        if (proto.enabled, proto.port) != (on, port):
            port_moved = port_moved or proto.port != port
            _replace_protocol(camera, Protocol(name, on, port))
            camera.record_write(f"protocol.{name.lower()}")  # same key ONVIF SetNetworkProtocols writes
    # A port change takes effect after a reboot on real firmware: statusCode 7.
    if port_moved:
        return response_status(request.path, 7, "rebootRequired")
    return response_status(request.path, 1, "ok")


def _replace_protocol(camera: Camera, new: Protocol) -> None:
    camera.network.protocols = [new if p.name == new.name else p for p in camera.network.protocols]


# ---- recorder channels (ContentMgmt/InputProxy) ----------------------------------------------------------
def _source_descriptor(camera: Camera, address: str, protocol: str, hidden: bool) -> list[Node]:
    return [
        _n("proxyProtocol", protocol),
        _n("addressingFormatType", "ipaddress"),
        _n("ipAddress", address),
        _n("managePortNo", MANAGE_PORT.get(protocol, 8000)),
        _n("srcInputPort", 1),
        _n("userName", "admin"),
        # PoE cameras are added by plug-and-play; cameras on the LAN by hand (fixture: connMode plugplay).
        _n("connMode", "plugplay" if hidden else "manual"),
        _n("streamType", "auto"),
    ]


def _input_proxy_channels(camera: Camera, request: web.Request) -> web.Response:
    """InputProxyChannelList in the shape of the DS-7608NXI-I2 fixture: an offline channel's camera details are
    empty there (channel 4 of the recording), so only online channels name their camera."""
    items: list[Node] = []
    for v in channel_views(camera, lookup_of(request)):
        ch, cam = v.channel, v.camera
        hidden = cam is not None and not cam.reachable
        ident = cam.identity if (cam is not None and v.online) else None
        desc = [
            *_source_descriptor(camera, ch.address, ch.protocol, hidden),
            _n("model", ident.model if ident else ""),
            _n("serialNumber", ident.serial if ident else ""),
            _n("firmwareVersion", ident.firmware if ident else ""),
            _n("deviceID", ""),
        ]
        items.append(
            _n(
                "InputProxyChannel",
                [
                    _n("id", ch.number),
                    _n("name", ch.name),
                    _n("sourceInputPortDescriptor", desc),
                    _n("certificateValidationEnabled", False),
                    _n("defaultAdminPortEnabled", True),
                    _n("enableAnr", False),
                    _n("enableTiming", True),
                ],
            )
        )
    return xml_response(_n("InputProxyChannelList", items, size=str(len(items))), ns=NS_ISAPI)


def _input_proxy_status(camera: Camera, request: web.Request) -> web.Response:
    """InputProxyChannelStatusList: id, the source descriptor and online [S: public NVR integrations parse these
    three]; chanDetectResult carries why a channel is down [U: value names are the simulator's]."""
    items: list[Node] = []
    for v in channel_views(camera, lookup_of(request)):
        ch, cam = v.channel, v.camera
        hidden = cam is not None and not cam.reachable
        items.append(
            _n(
                "InputProxyChannelStatus",
                [
                    _n("id", ch.number),
                    _n(
                        "sourceInputPortDescriptor",
                        _source_descriptor(camera, ch.address, ch.protocol, hidden),
                    ),
                    _n("online", v.online),
                    _n("chanDetectResult", v.reason),
                ],
            )
        )
    return xml_response(_n("InputProxyChannelStatusList", items), ns=NS_ISAPI)


RECORDER_GETS: dict[str, Callable[[Camera, web.Request], web.Response]] = {
    "/ISAPI/ContentMgmt/InputProxy/channels": _input_proxy_channels,
    "/ISAPI/ContentMgmt/InputProxy/channels/status": _input_proxy_status,
}


# ---- system actions --------------------------------------------------------------------------------------
async def _factory_reset(camera: Camera, request: web.Request) -> web.Response:
    mode = request.query.get("mode", "")
    if mode not in ("basic", "full"):
        raise IsapiError(6, "badParameters")
    # "basic" keeps network parameters (Soft in ONVIF terms); "full" restores everything.
    camera.factory_reset("Soft" if mode == "basic" else "Hard")
    return response_status(request.path, 1, "ok")


async def _reboot(camera: Camera, request: web.Request) -> web.Response:
    camera.record_write("reboot")
    camera.reboot()
    return response_status(request.path, 1, "ok")


# ---- dispatch --------------------------------------------------------------------------------------------
Getter = Callable[[Camera], web.Response]
Putter = Callable[[Camera, web.Request], Awaitable[web.Response]]


def _get_routes() -> dict[str, Getter]:
    routes: dict[str, Getter] = {
        "/ISAPI/System/deviceInfo": lambda c: xml_response(_device_info(c)),
        "/ISAPI/System/capabilities": lambda c: xml_response(_capabilities(c)),
        "/ISAPI/System/Network/ipFilter": _ip_filter_get,
        "/ISAPI/Security/adminAccesses": _admin_get,
    }
    for path, t in TOGGLES.items():
        routes[path] = functools.partial(_toggle_get, t=t)
    return routes


def _put_routes() -> dict[str, Putter]:
    routes: dict[str, Putter] = {
        "/ISAPI/System/Network/ipFilter": _ip_filter_put,
        "/ISAPI/Security/adminAccesses": _admin_put,
        "/ISAPI/System/factoryReset": _factory_reset,
        "/ISAPI/System/reboot": _reboot,
    }
    for path, t in TOGGLES.items():
        routes[path] = functools.partial(_toggle_put, t=t)
    return routes


GET_ROUTES = _get_routes()
PUT_ROUTES = _put_routes()


def _supported(camera: Camera, path: str) -> bool:
    t = TOGGLES.get(path)
    if t is not None and t.feature not in camera.features:
        return False  # e.g. a model without EZVIZ support answers notSupport
    return not (path == "/ISAPI/System/Network/ipFilter" and "IPFilter" not in camera.capabilities)


async def handle(camera: Camera, request: web.Request) -> web.Response:
    """Serve one (already authenticated) ISAPI request."""
    path = request.path
    if path in RECORDER_GETS:
        if not camera.is_recorder:
            return response_status(path, 4, "notSupport", http=404)
        if request.method != "GET":
            return response_status(path, 4, "methodNotAllowed", http=405)
        return RECORDER_GETS[path](camera, request)
    known = path in GET_ROUTES or path in PUT_ROUTES
    if not known or not _supported(camera, path):
        return response_status(path, 4, "notSupport", http=404)
    try:
        if request.method == "GET" and path in GET_ROUTES:
            return GET_ROUTES[path](camera)
        if request.method == "PUT" and path in PUT_ROUTES:
            return await PUT_ROUTES[path](camera, request)
        return response_status(path, 4, "methodNotAllowed", http=405)
    except IsapiError as e:
        return response_status(path, e.code, e.sub, e.http)


def server_header(camera: Camera) -> str:
    """`App-webs/` on V5.x up to 5.6; G5-platform V5.7+ firmware answers `webserver` (VENDORS.md §3)."""
    version = split_version(camera.identity.firmware)[0].lstrip("Vv")
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        return "App-webs/"
    return "webserver" if (major, minor) >= (5, 7) else "App-webs/"
