"""A recorder's channels: read through its vendor API (ISAPI InputProxy, Dahua RemoteDevice) or ONVIF, attributed."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from agent.actions.conn import CameraConn
from agent.attribution import Observation, VendorLookup, attribute
from agent.drivers import recorder_models as rm
from agent.drivers.base import REQUEST_TIMEOUT_S, CameraHttpLike, check_status, host_of
from agent.drivers.dahua_models import is_error_reply
from agent.errors import AuthFailed, CameraError, ProtocolError, Unreachable, Unsupported
from agent.xmlsafe import SAFE_PARSER
from protos.camfleet.v1 import camfleet_pb2 as pb

log = logging.getLogger(__name__)

HIK_CHANNELS = "/ISAPI/ContentMgmt/InputProxy/channels"
HIK_STATUS = "/ISAPI/ContentMgmt/InputProxy/channels/status"
DAHUA_CONFIG = "/cgi-bin/configManager.cgi"
DAHUA_STATE = "/cgi-bin/LogicDeviceManager.cgi"
NS_RECORDING = "http://www.onvif.org/ver10/recording/wsdl"
NS_MEDIA = "http://www.onvif.org/ver10/media/wsdl"
RECORDER_TYPES = frozenset({"NVR", "DVR", "XVR", "HVR", "HCVR", "IVSS", "NVS"})
# Dahua recorders name themselves by model (NVR4108-8P-4KS2, DHI-NVR5216..., XVR5108...); one real NVR reports a
# numeric deviceType with updateSerial NVR6XX-4KS2 [S: public NVR integrations], hence both fields.
_DAHUA_RECORDER = re.compile(r"^\s*(DHI?-)?(NVR|XVR|DVR|HCVR|IVSS|NVS)", re.IGNORECASE)
_PASSWORD_LINE = re.compile(rb"^[^=\r\n]*password[^=\r\n]*=.*$", re.IGNORECASE | re.MULTILINE)
_SOAP = {"Content-Type": "application/soap+xml; charset=utf-8"}
_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
    '<s:Body><{op} xmlns="{ns}"/></s:Body></s:Envelope>'
)


@dataclass
class RecorderRead:
    channels: list[pb.RecorderChannel] = field(default_factory=list)
    errors: list[CameraError] = field(default_factory=list)


def redact_passwords(raw: bytes) -> bytes:
    """Real Dahua RemoteDevice tables include each camera's password: gone before parsing, logging or errors."""
    return _PASSWORD_LINE.sub(b"", raw)


def recorder_kind(identities: Mapping[str, Mapping[str, str]]) -> str | None:
    """'hikvision' / 'dahua' when the vendor identity says this device is a recorder, else None."""
    hik = identities.get("hikvision")
    if hik is not None and str(hik.get("deviceType", "")).strip().upper() in RECORDER_TYPES:
        return "hikvision"
    dahua = identities.get("dahua")
    if dahua is not None and any(
        _DAHUA_RECORDER.match(str(dahua.get(k, ""))) for k in ("deviceType", "updateSerial")
    ):
        return "dahua"
    return None


async def _get(http: CameraHttpLike, path: str, params: dict[str, str] | None = None) -> bytes:
    op = f"GET {path}"
    reply = await http.request("GET", path, params=params, timeout=REQUEST_TIMEOUT_S)
    raw = redact_passwords(bytes(reply.body))
    if reply.status in (200, 400) and is_error_reply(raw):
        raise Unsupported("Dahua Error reply", host=host_of(http), operation=op, raw=raw)
    if reply.status == 403 or reply.status == 404:
        raise Unsupported(f"HTTP {reply.status}", host=host_of(http), operation=op, raw=raw)
    check_status(reply, host=host_of(http), operation=op)
    return raw


async def _hikvision(http: CameraHttpLike) -> list[rm.ChannelInfo]:
    channels = rm.parse_input_proxy_channels(await _get(http, HIK_CHANNELS))
    try:
        status = rm.parse_input_proxy_status(await _get(http, HIK_STATUS))
    except (Unsupported, ProtocolError):
        status = {}  # older firmware: the list without live status is still the list
    for ch in channels:
        ch.online, ch.status_detail = status.get(ch.channel, (None, ""))
    return channels


async def _dahua(http: CameraHttpLike) -> list[rm.ChannelInfo]:
    channels = rm.parse_remote_devices(
        await _get(http, DAHUA_CONFIG, {"action": "getConfig", "name": "RemoteDevice"})
    )
    try:
        raw = await _get(http, DAHUA_STATE, {"action": "getCameraState", "uniqueChannels[0]": "-1"})
        state = rm.parse_camera_state(raw)
    except (Unsupported, ProtocolError):
        state = {}
    for ch in channels:
        ch.online, ch.status_detail = state.get(ch.channel, (None, ""))
    return channels


async def _soap(conn: CameraConn, namespace: str, op: str) -> etree._Element:
    """One authenticated ONVIF call outside the device service (Media, Recording), posted to the XAddr the camera
    advertised (GetServices, rebased onto the address reached). zeep is not needed for two read-only calls."""
    caps = await conn.session.capabilities()
    xaddr = caps.services.get(namespace)
    if not xaddr:
        raise Unsupported(f"no ONVIF service {namespace}", host=conn.host, operation=op)
    reply = await conn.http.request("POST", xaddr, data=_ENVELOPE.format(op=op, ns=namespace), headers=_SOAP,
                                    idempotent=True, operation=op)  # fmt: skip
    try:
        root = etree.fromstring(bytes(reply.body), SAFE_PARSER)
    except (etree.LxmlError, ValueError) as exc:
        raise ProtocolError(f"{op}: {exc}", host=conn.host, operation=op, raw=bytes(reply.body)) from exc
    if root.find(".//{*}Fault") is not None:
        raise Unsupported(f"{op} answered a SOAP fault", host=conn.host, operation=op, raw=bytes(reply.body))
    return root


async def onvif_video_sources(conn: CameraConn) -> int:
    """GetVideoSources: how many inputs the device has (a recorder lists one per channel)."""
    return rm.parse_video_sources(await _soap(conn, NS_MEDIA, "GetVideoSources"))


async def _onvif(conn: CameraConn) -> list[rm.ChannelInfo]:
    """Profile G GetRecordings (the source address of each recording), when the recorder offers the service."""
    return rm.parse_recordings(await _soap(conn, NS_RECORDING, "GetRecordings"))


def to_proto(ch: rm.ChannelInfo, oui: VendorLookup | None) -> pb.RecorderChannel:
    ident = pb.CameraIdentity(
        model=ch.model, firmware=ch.firmware, serial=ch.serial, macs=[ch.mac] if ch.mac else []
    )
    out = pb.RecorderChannel(
        channel=ch.channel, name=ch.name[:120], address=ch.address, port=ch.port, protocol=ch.protocol,
        online=bool(ch.online), status_detail=ch.status_detail[:80], identity=ident, sources=ch.sources,
    )  # fmt: skip
    if ch.model or ch.serial or ch.raw:
        origin = attribute(Observation(channel=dict(ch.raw), macs=(ch.mac,) if ch.mac else ()), oui)
        out.origin.CopyFrom(pb.Origin(
            reported_brand=origin.reported_brand or "", manufacturer=origin.manufacturer, covered=origin.covered,
            oem_rebrand=origin.oem_rebrand, confidence=origin.confidence,
            evidence=[pb.Evidence(signal=e.signal, value=e.value[:200], points_to=e.points_to or "", weight=e.weight,
                                  explanation=e.explanation) for e in origin.evidence],
        ))  # fmt: skip
    else:
        out.origin.manufacturer = "unknown"
    return out


async def read_recorder(
    conn: CameraConn,
    http: CameraHttpLike,
    kind: str | None,
    oui: VendorLookup | None,
    *,
    onvif_recorder: bool,
) -> RecorderRead:
    """Channels of a recorder (vendor API first, ONVIF Profile G when none answers); errors are returned, and an
    auth failure or an unreachable recorder is raised to the inventory (it aborts the whole read)."""
    result = RecorderRead()
    infos: list[rm.ChannelInfo] = []
    try:
        if kind == "hikvision":
            infos = await _hikvision(http)
        elif kind == "dahua":
            infos = await _dahua(http)
        if not infos and (kind is None and onvif_recorder):
            infos = await _onvif(conn)
    except (AuthFailed, Unreachable):
        raise
    except CameraError as exc:
        result.errors.append(exc)
    result.channels = [to_proto(ch, oui) for ch in infos]
    return result
