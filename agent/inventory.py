"""Per-camera inventory: ONVIF reads gated on capabilities, vendor APIs by evidence, origin, CVEs, risk, record."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.actions.conn import CameraConn
from agent.actions.onvif_settings import ONVIF_SETTINGS, flag, items, text
from agent.actions.onvif_settings import field as zfield
from agent.attribution import Observation, Origin, VendorLookup, attribute
from agent.cves import CveCheck, check_firmware
from agent.drivers import DRIVERS, Setting, value_to_json
from agent.drivers.base import CameraHttpLike, HttpReplyLike
from agent.errors import AuthFailed, CameraError, LockedOut, Unreachable, Unsupported
from agent.recorder import onvif_video_sources, read_recorder, recorder_kind
from agent.risk import Exposure, Risk, assess_risk
from agent.vendor_probe import VendorProbes
from protos.camfleet.v1 import camfleet_pb2 as pb

log = logging.getLogger(__name__)

#: Vendor settings that are cloud / remote-access features (the `cloud` list of the record).
CLOUD_SETTINGS = frozenset({"ezviz", "ehome", "t2u", "remote_service", "upnp", "upnp_portmap", "ddns"})
SHELL_SETTINGS = frozenset({"telnet", "ssh"})
ERROR_CLASSES: dict[str, pb.ErrorClass] = {
    "unreachable": pb.ERROR_CLASS_UNREACHABLE,
    "timeout": pb.ERROR_CLASS_TIMEOUT,
    "auth": pb.ERROR_CLASS_AUTH,
    "locked_out": pb.ERROR_CLASS_LOCKED_OUT,
    "unsupported": pb.ERROR_CLASS_UNSUPPORTED,
    "protocol": pb.ERROR_CLASS_PROTOCOL,
    "rejected": pb.ERROR_CLASS_REJECTED,
}
_STATE_NAMES = {pb.FEATURE_STATE_ON: "on", pb.FEATURE_STATE_OFF: "off", pb.FEATURE_STATE_UNSUPPORTED: "unsupported",
                pb.FEATURE_STATE_UNKNOWN: "unknown"}  # fmt: skip


class Aborted(Exception):
    """Internal: the camera cannot be read any further (auth failure, unreachable)."""


@dataclass
class InventoryResult:
    """The record plus the richer Python objects the CLI prints (origin evidence, CVE notes, risk factors)."""

    record: pb.CameraRecord
    origin: Origin | None = None
    risk: Risk | None = None
    cves: CveCheck | None = None
    vendor_settings: dict[str, Setting] = field(default_factory=dict)
    onvif: dict[str, Any] = field(default_factory=dict)
    vendor_probes: VendorProbes | None = None

    @property
    def ok(self) -> bool:
        """Reached and read without any error (unsupported features and absent vendor APIs are answers)."""
        return self.record.reachable and not self.record.errors

    @property
    def status(self) -> Literal["ok", "partial", "failed"]:
        """ok: fully read. partial: identity read, some reads failed. failed: nothing usable (unreachable,
        refused at login, or not even the identity)."""
        if self.ok:
            return "ok"
        r = self.record
        if r.reachable and (r.identity.manufacturer or r.identity.model or r.identity.serial):
            return "partial"
        return "failed"

    def to_json(self) -> dict[str, Any]:
        r = self.record
        return {
            "camera_id": r.camera_id,
            "host": r.host,
            "port": r.port,
            "reachable": r.reachable,
            "manufacturer": r.identity.manufacturer,
            "model": r.identity.model,
            "firmware": r.identity.firmware,
            "serial": r.identity.serial,
            "macs": list(r.identity.macs),
            "fingerprint": r.fingerprint,
            "clock_offset_s": round(r.clock_offset_s, 3),
            "origin": {
                "reported_brand": r.origin.reported_brand,
                "manufacturer": r.origin.manufacturer or "unknown",
                "covered": r.origin.covered,
                "oem_rebrand": r.origin.oem_rebrand,
                "confidence": round(r.origin.confidence, 3),
                "evidence": [e.to_dict() for e in self.origin.evidence] if self.origin else [],
            },
            "cloud": {c.name: _STATE_NAMES.get(c.state, "unknown") for c in r.cloud},
            # A field that could not be read is null (unknown), never an empty list.
            "network": {
                "gateways": _known(r, "gateways", list(r.network.gateways)),
                "dns": _known(r, "dns", list(r.network.dns)),
                "ntp": _known(r, "ntp", list(r.network.ntp)),
                "discovery_mode": _known(r, "discovery_mode", r.network.discovery_mode),
                "ip_filter": _known(
                    r,
                    "ip_filter",
                    {
                        "type": r.network.ip_filter.type,
                        "addresses": list(r.network.ip_filter.addresses),
                    },
                ),
                "protocols": _known(r, "protocols", {p.name: p.enabled for p in r.network.protocols}),
                "unknown": list(r.network.unknown),
            },
            "status": self.status,
            "vendor_apis": {
                name: {"status": p.status, "reason": p.reason, "credentials_sent": p.credentials_sent}
                for name, p in (self.vendor_probes.apis.items() if self.vendor_probes else ())
            },
            "users": [{"username": u.username, "level": u.level} for u in r.users],
            "capabilities": {c.name: c.supported for c in r.capabilities},
            "risk": {
                "score": r.risk.score,
                "level": r.risk.level,
                "reasons": list(r.risk.reasons),
                "cves": [{"id": c.id, "kev": c.kev} for c in r.risk.cves],
                "cloud_reachable": r.risk.cloud_reachable,
            },
            "errors": [
                {"operation": e.operation, "error_class": _error_name(e.error_class), "message": e.message}
                for e in r.errors
            ],
            "device_class": r.device_class or "camera",
            "channels": [channel_json(ch) for ch in r.channels],
        }


def channel_json(ch: pb.RecorderChannel) -> dict[str, Any]:
    return {
        "channel": ch.channel,
        "name": ch.name,
        "address": ch.address,
        "protocol": ch.protocol,
        "online": ch.online,
        "status": ch.status_detail,
        "model": ch.identity.model,
        "serial": ch.identity.serial,
        "firmware": ch.identity.firmware,
        "macs": list(ch.identity.macs),
        "camera_id": ch.camera_id,
        "fingerprint": ch.fingerprint,
        "origin": {"manufacturer": ch.origin.manufacturer or "unknown", "confidence": round(ch.origin.confidence, 3),
                   "covered": ch.origin.covered, "oem_rebrand": ch.origin.oem_rebrand,
                   "evidence": [{"signal": e.signal, "value": e.value, "points_to": e.points_to, "weight": e.weight}
                                for e in ch.origin.evidence]},
        "sources": list(ch.sources),
    }  # fmt: skip


def _known(rec: pb.CameraRecord, name: str, value: Any) -> Any:
    return None if name in rec.network.unknown else value


def _error_name(value: int) -> str:
    return pb.ErrorClass.Name(value).removeprefix("ERROR_CLASS_").lower()


# Where each vendor API's identity (read_identity) says serial number and MAC address.
_VENDOR_SERIAL = (
    ("hikvision", "serialNumber"),
    ("dahua", "serialNumber"),
    ("axis", "Properties.System.SerialNumber"),
)
_VENDOR_MAC = (("hikvision", "macAddress"),)


def vendor_identity(identities: dict[str, dict[str, str]]) -> tuple[str, str]:
    """(serial, MAC) as the vendor APIs that answered tell them; "" where none does."""

    def first(keys: tuple[tuple[str, str], ...]) -> str:
        return next((v.strip() for api, k in keys if (v := identities.get(api, {}).get(k, "")).strip()), "")

    return first(_VENDOR_SERIAL), first(_VENDOR_MAC)


def fingerprint(macs: list[str], serial: str, model: str) -> str:
    """Stable id of the hardware (MAC, serial, model), so a camera that changes address is recognised."""
    basis = "|".join([",".join(sorted(m.lower() for m in macs)), serial.strip(), model.strip().lower()])
    if basis == "||":
        return ""
    return hashlib.sha256(basis.encode()).hexdigest()[:24]


_Pairs = tuple[tuple[str, str], ...]


class _ReadOnce:
    """A camera's vendor HTTP for one inventory read: a GET repeated within the read is answered from its first
    reply. Hikvision's driver GETs /ISAPI/System/deviceInfo once to probe and again for the identity; the
    inventory writes nothing, so the second answer could only be the same document (one request per
    Hikvision camera saved). Errors are not kept: a failed GET is sent again if asked again."""

    def __init__(self, http: CameraHttpLike) -> None:
        self._http = http
        self._replies: dict[tuple[str, _Pairs, _Pairs], HttpReplyLike] = {}

    def seed(self, path: str, params: Mapping[str, str], reply: HttpReplyLike) -> None:
        """A GET already answered during the vendor probe (same request, same credentials)."""
        self._replies[(path, tuple(sorted(params.items())), ())] = reply

    @property
    def base_url(self) -> str:
        return self._http.base_url

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- the CameraHttpLike signature
    ) -> HttpReplyLike:
        if method.upper() != "GET" or data is not None:
            return await self._http.request(method, path, params=params, data=data, headers=headers,
                                            timeout=timeout)  # fmt: skip
        key = (path, tuple(sorted((params or {}).items())), tuple(sorted((headers or {}).items())))
        reply = self._replies.get(key)
        if reply is None:
            reply = await self._http.request(method, path, params=params, headers=headers, timeout=timeout)
            self._replies[key] = reply
        return reply


class Inventory:
    """Reads one camera into a CameraRecord. Every CameraError ends up in record.errors, never raised."""

    def __init__(self, conn: CameraConn, *, oui: VendorLookup | None = None, agent_id: str = "", site: str = "",
                 vendor_apis: bool = True) -> None:  # fmt: skip
        self.conn = conn
        self.oui = oui
        self.vendor_apis = vendor_apis
        self.rec = pb.CameraRecord(camera_id=conn.camera_id, agent_id=agent_id, site=site, host=conn.host,
                                   port=conn.port)  # fmt: skip
        self.result = InventoryResult(self.rec)
        self.caps: dict[str, bool] = {}

    # ---- error handling -------------------------------------------------------------------------
    def _error(self, exc: CameraError, operation: str) -> None:
        self.rec.errors.append(pb.CameraError(operation=exc.operation or operation,
                                              error_class=ERROR_CLASSES.get(exc.error_class, pb.ERROR_CLASS_INTERNAL),
                                              message=exc.message[:300]))  # fmt: skip

    async def _onvif(self, op: str, capability: str | None = None, *, field: str = "", **params: Any) -> Any:
        """An ONVIF read: Unsupported marks the capability unsupported; auth/unreachable abort the camera; any
        other error leaves `field` unknown (reported as such, never as an empty value)."""
        name = capability or op
        try:
            reply = await self.conn.session.call(op, optional=True, **params)
        except Unsupported:
            self.caps[name] = False
            return None
        except (AuthFailed, Unreachable) as exc:
            self._error(exc, op)
            raise Aborted from exc
        except CameraError as exc:
            self._error(exc, op)
            if field:
                self.rec.network.unknown.append(field)
            return None
        self.caps.setdefault(name, True)
        return reply

    # ---- the whole read, in Home Assistant's order ----------------------------------------------
    async def run(self) -> InventoryResult:
        started = time.time()
        try:
            await self._connect()
            await self._read_onvif()
            if self.vendor_apis:
                await self._read_vendor()
            await self._read_recorder()
        except Aborted:
            pass
        self._finish()
        log.debug("%s: inventory in %.2fs", self.conn.host, time.time() - started)
        return self.result

    async def _connect(self) -> None:
        s = self.conn.session
        try:
            self.conn.check_auth()
        except AuthFailed as exc:
            self._error(exc, "login")
            raise Aborted from exc
        try:
            await s.connect()
        except CameraError as exc:
            self._error(exc, "connect")
            raise Aborted from exc
        self.rec.reachable = True
        self.rec.clock_offset_s = s.clock_offset_s or 0.0
        info = await self._onvif("GetDeviceInformation")
        ident = self.rec.identity
        ident.manufacturer = text(zfield(info, "Manufacturer"))
        ident.model = text(zfield(info, "Model"))
        ident.firmware = text(zfield(info, "FirmwareVersion"))
        ident.serial = text(zfield(info, "SerialNumber"))
        ident.hardware_id = text(zfield(info, "HardwareId"))
        try:
            # Flags only: the record needs no service XAddrs, so no GetServices (one request per camera fewer).
            caps = await s.capability_flags()
        except (AuthFailed, Unreachable) as exc:
            self._error(exc, "GetServiceCapabilities")
            raise Aborted from exc
        except CameraError as exc:
            self._error(exc, "GetServiceCapabilities")
        else:
            # Boolean flags only: Network@NTP is a count (how many servers SetNTP takes), not a verdict on GetNTP,
            # and a read is tried whenever the camera did not clearly say no.
            for flag_name in ("Network.IPFilter", "Network.ZeroConfiguration", "Network.DynDNS"):
                said = caps.supports(flag_name)
                if said is not None:
                    self.caps[flag_name.split(".", 1)[1]] = said

    def _gated(self, capability: str) -> bool:
        """Skip optional calls GetServiceCapabilities ruled out (DESIGN §4: gate optional calls)."""
        return self.caps.get(capability) is not False

    async def _read_onvif(self) -> None:
        rec, net = self.rec, self.rec.network
        scopes = await self._onvif("GetScopes")
        rec.scopes.extend(s for s in (text(zfield(x, "ScopeItem")) for x in items(scopes)) if s)
        for iface in items(await self._onvif("GetNetworkInterfaces")):
            mac = text(zfield(zfield(iface, "Info"), "HwAddress"))
            if mac:
                rec.identity.macs.append(mac)
            ipv4 = zfield(iface, "IPv4")
            cfg = zfield(ipv4, "Config")
            for a in items(zfield(cfg, "Manual")) + items(zfield(cfg, "FromDHCP")):
                addr = text(zfield(a, "Address"))
                if addr and addr not in rec.identity.ips:
                    rec.identity.ips.append(addr)
        for p in items(await self._onvif("GetNetworkProtocols", field="protocols")):
            ports = [int(x) for x in items(zfield(p, "Port")) if x is not None]
            net.protocols.append(pb.NetworkProtocol(name=text(zfield(p, "Name")), enabled=flag(zfield(p, "Enabled")),
                                                    ports=ports))  # fmt: skip
        dns = await self._onvif("GetDNS", field="dns")
        net.dns_from_dhcp = flag(zfield(dns, "FromDHCP"))
        for e in items(zfield(dns, "DNSManual")) + items(zfield(dns, "DNSFromDHCP")):
            v = text(zfield(e, "IPv4Address")) or text(zfield(e, "IPv6Address"))
            if v:
                net.dns.append(v)
        if self._gated("NTP"):
            ntp = await self._onvif("GetNTP", "NTP", field="ntp")
            net.ntp_from_dhcp = flag(zfield(ntp, "FromDHCP"))
            for e in items(zfield(ntp, "NTPManual")) + items(zfield(ntp, "NTPFromDHCP")):
                v = (
                    text(zfield(e, "DNSname"))
                    or text(zfield(e, "IPv4Address"))
                    or text(zfield(e, "IPv6Address"))
                )
                if v:
                    net.ntp.append(v)
        gw = await self._onvif("GetNetworkDefaultGateway", field="gateways")
        net.gateways.extend(g for g in (text(x) for x in items(zfield(gw, "IPv4Address"))) if g)
        if self._gated("ZeroConfiguration"):
            zc = await self._onvif("GetZeroConfiguration", "ZeroConfiguration", field="zero_configuration")
            if zc is not None:
                net.zero_configuration = (
                    pb.FEATURE_STATE_ON if flag(zfield(zc, "Enabled")) else pb.FEATURE_STATE_OFF
                )
        if net.zero_configuration == pb.FEATURE_STATE_UNSPECIFIED:
            net.zero_configuration = (
                pb.FEATURE_STATE_UNKNOWN
                if "zero_configuration" in net.unknown
                else pb.FEATURE_STATE_UNSUPPORTED
            )
        mode = await self._onvif("GetDiscoveryMode", field="discovery_mode")
        net.discovery_mode = text(mode)
        if self._gated("DynDNS"):
            dd = await self._onvif("GetDynamicDNS", "DynDNS", field="dyndns")
            net.dyndns_type = text(zfield(dd, "Type"))
            net.dyndns_name = text(zfield(dd, "Name"))
        if self._gated("IPFilter"):
            f = await self._onvif("GetIPAddressFilter", "IPFilter", field="ip_filter")
            if f is not None:
                net.ip_filter.type = text(zfield(f, "Type"))
                for a in items(zfield(f, "IPv4Address")):
                    net.ip_filter.addresses.append(
                        f"{text(zfield(a, 'Address'))}/{text(zfield(a, 'PrefixLength'))}"
                    )
        for u in items(await self._onvif("GetUsers")):
            # Names and levels only: ONVIF never returns passwords and we would not store them anyway.
            rec.users.append(
                pb.UserInfo(username=text(zfield(u, "Username")), level=text(zfield(u, "UserLevel")))
            )
        # Keep the raw ONVIF values actions use, for the CLI's JSON.
        self.result.onvif = {"scopes": list(rec.scopes)}

    async def _read_vendor(self) -> None:
        """Probe the vendor APIs the evidence points at (agent.vendor_probe) and read the one that is present.

        An absent API is evidence, not an error; a refused credential or a busy API is an error of that API
        only (the ONVIF data stays good: the camera is partial, not failed). A lock stops everything.
        """
        self.conn.evidence = self._observation()
        self.conn.oui = self.oui
        try:
            probes = await self.conn.vendor_probes()
        except LockedOut as exc:
            self._error(exc, "vendor API")
            raise Aborted from exc
        identities: dict[str, dict[str, str]] = {}
        vendor_http = _ReadOnce(self.conn.vendor_http)
        for name, p in probes.apis.items():
            self.caps[f"vendor.{name}"] = p.status == "present"
            if p.status == "refused":
                self._error(AuthFailed(p.reason, host=self.conn.host), f"{name} API")
            elif p.status == "unavailable":
                self._error(Unreachable(p.reason, host=self.conn.host), f"{name} API")
            elif (
                p.status == "present" and p.reply is not None and DRIVERS[name].probe_request.method == "GET"
            ):
                req = DRIVERS[name].probe_request
                vendor_http.seed(req.path, dict(req.params), p.reply)
        for name in probes.present:
            driver = DRIVERS[name]
            try:
                # Only the settings the record holds (cloud and shell features): an action reads the others itself
                # (Hikvision ipFilter and adminAccesses were two requests per camera nobody used here).
                identities[name], settings = await driver.read_inventory(
                    vendor_http, CLOUD_SETTINGS | SHELL_SETTINGS
                )
                for sname, setting in settings.items():
                    self.result.vendor_settings[f"{name}.{sname}"] = setting
            except LockedOut as exc:
                self._error(exc, f"{name} API")
                raise Aborted from exc
            except AuthFailed as exc:
                self.conn.deny_vendor(name, exc)
                self._error(exc, f"{name} API")
            except CameraError as exc:
                self._error(exc, f"{name} API")
        self._identities = identities
        self.result.vendor_probes = probes

    async def _read_recorder(self) -> None:
        """Recorders (ISAPI deviceType NVR, Dahua NVR/XVR models, or ONVIF Profile G with several video sources)
        get their channel list read and every channel's camera attributed."""
        ids: dict[str, dict[str, str]] = getattr(self, "_identities", {})
        kind = recorder_kind(ids)
        onvif_recorder = False
        if kind is None and not ids and any(s.rstrip("/").endswith("/Profile/G") for s in self.rec.scopes):
            # No vendor API answered: an ONVIF recorder shows itself by Profile G and more than one video source.
            try:
                onvif_recorder = await onvif_video_sources(self.conn) > 1
            except (AuthFailed, Unreachable) as exc:
                self._error(exc, "GetVideoSources")
                raise Aborted from exc
            except CameraError:
                onvif_recorder = False
        if kind is None and not onvif_recorder:
            self.rec.device_class = "camera"
            return
        self.rec.device_class = "recorder"
        try:
            read = await read_recorder(self.conn, _ReadOnce(self.conn.vendor_http), kind, self.oui,
                                       onvif_recorder=onvif_recorder)  # fmt: skip
        except (AuthFailed, Unreachable) as exc:
            self._error(exc, "recorder channels")
            raise Aborted from exc
        for err in read.errors:
            self._error(err, "recorder channels")
        for ch in read.channels:
            ch.fingerprint = fingerprint(list(ch.identity.macs), ch.identity.serial, ch.identity.model)
        self.rec.channels.extend(read.channels)

    def _observation(self) -> Observation:
        ident = self.rec.identity
        ids: dict[str, dict[str, str]] = getattr(self, "_identities", {})
        banner = self.conn.session.http.banner
        return Observation(
            onvif_manufacturer=ident.manufacturer or None,
            onvif_model=ident.model or None,
            onvif_firmware=ident.firmware or None,
            onvif_serial=ident.serial or None,
            onvif_hardware_id=ident.hardware_id or None,
            scopes=tuple(self.rec.scopes),
            macs=tuple(ident.macs),
            http_server=banner.server,
            digest_realm=banner.realm,
            soap_namespaces=frozenset(banner.namespaces),
            isapi_device_info=ids.get("hikvision"),
            dahua_magicbox=ids.get("dahua"),
            axis_params=ids.get("axis"),
        )

    # ---- verdicts ---------------------------------------------------------------------------------
    def _finish(self) -> None:
        rec = self.rec
        for name, supported in sorted(self.caps.items()):
            rec.capabilities.append(pb.Capability(name=name, supported=supported))
        cloud_on = self._cloud()
        if rec.reachable and rec.identity.model:
            origin = attribute(self._observation(), self.oui)
            if self.result.vendor_probes is not None:
                # What each vendor probe found is evidence too ("absent: HTTP 403", "present").
                notes = tuple(p.evidence() for p in self.result.vendor_probes.apis.values())
                origin = dataclasses.replace(origin, evidence=origin.evidence + notes)
            self.result.origin = origin
            rec.origin.CopyFrom(pb.Origin(
                reported_brand=origin.reported_brand or "", manufacturer=origin.manufacturer,
                covered=origin.covered, oem_rebrand=origin.oem_rebrand, confidence=origin.confidence,
                evidence=[pb.Evidence(signal=e.signal, value=e.value[:200], points_to=e.points_to or "",
                                      weight=e.weight, explanation=e.explanation) for e in origin.evidence],
            ))  # fmt: skip
            ids: dict[str, dict[str, str]] = getattr(self, "_identities", {})
            dahua = ids.get("dahua", {})
            isapi = ids.get("hikvision", {})
            cves = check_firmware(origin.manufacturer, rec.identity.model, rec.identity.firmware,
                                  base_model=dahua.get("updateSerial"),
                                  released=isapi.get("firmwareReleasedDate"))  # fmt: skip
            self.result.cves = cves
            risk = assess_risk(origin, cves, self._exposure(cloud_on))
            self.result.risk = risk
            rec.risk.score = risk.score
            rec.risk.level = risk.level
            rec.risk.reasons.extend(risk.reasons)
            rec.risk.cves.extend(pb.CveRef(id=m.cve, kev=m.kev, source=",".join(m.sources)[:300],
                                           confidence=m.match_confidence) for m in cves.matches)  # fmt: skip
            rec.risk.cloud_reachable = bool(self._exposure(cloud_on).cloud_reachable)
            rec.risk.exposed_services.extend(f"{p.name.lower()}/{','.join(map(str, p.ports))}"
                                             for p in rec.network.protocols if p.enabled)  # fmt: skip
        else:
            rec.origin.manufacturer = "unknown"
        ident = rec.identity
        if not ident.serial or not ident.macs:
            # Some firmware leaves ONVIF's SerialNumber empty (or hides its interfaces); the vendor API's serial
            # and MAC then identify the camera (the controller keys cameras on them, not on their address).
            serial, mac = vendor_identity(getattr(self, "_identities", {}))
            ident.serial = ident.serial or serial
            if not ident.macs and mac:
                ident.macs.append(mac)
        rec.fingerprint = fingerprint(list(rec.identity.macs), rec.identity.serial, rec.identity.model)
        rec.observed_at.GetCurrentTime()

    def _cloud(self) -> list[str]:
        """Fill record.cloud from the vendor settings and the ONVIF DynDNS; return the features that are on."""
        on: list[str] = []
        for key, s in sorted(self.result.vendor_settings.items()):
            short = key.split(".", 1)[1]
            if short not in CLOUD_SETTINGS | SHELL_SETTINGS:
                continue
            if not s.supported:
                state = pb.FEATURE_STATE_UNSUPPORTED
            elif isinstance(s.value, bool | str):
                enabled = (
                    s.value
                    if isinstance(s.value, bool)
                    else s.value.strip().lower() not in ("no", "false", "")
                )
                state = pb.FEATURE_STATE_ON if enabled else pb.FEATURE_STATE_OFF
            else:
                state = pb.FEATURE_STATE_UNKNOWN
            detail = ",".join(f"{k}={v}" for k, v in s.detail)[:200]
            self.rec.cloud.append(pb.CloudFeature(name=short, state=state, detail=detail))
            if state == pb.FEATURE_STATE_ON and short in CLOUD_SETTINGS:
                on.append(short)
        net = self.rec.network
        if net.dyndns_type:
            dyn_on = net.dyndns_type != "NoUpdate"
            self.rec.cloud.append(pb.CloudFeature(name="onvif_dyndns",
                                                  state=pb.FEATURE_STATE_ON if dyn_on else pb.FEATURE_STATE_OFF,
                                                  detail=net.dyndns_name))  # fmt: skip
            if dyn_on:
                on.append("dyndns")
        return on

    def _exposure(self, cloud_on: list[str]) -> Exposure:
        net, vs = self.rec.network, self.result.vendor_settings

        def vendor_on(short: str) -> bool | None:
            vals = [s.value for k, s in vs.items() if k.endswith("." + short) and s.supported]
            return any(v is True for v in vals) if vals else None

        filt = net.ip_filter
        blocks = None
        if filt.type:
            blocks = (
                filt.type == "Allow"
                and bool(filt.addresses)
                and not any(a.endswith("/0") for a in filt.addresses)
            )
        return Exposure(
            cloud_features_on=tuple(cloud_on),
            has_gateway=None if "gateways" in net.unknown else bool(net.gateways),
            has_dns=None if "dns" in net.unknown else bool(net.dns) or net.dns_from_dhcp,
            ip_filter_blocks_wan=blocks,
            upnp_port_mapping=vendor_on("upnp_portmap"),
            telnet=vendor_on("telnet"),
            ssh=vendor_on("ssh"),
            exposed_protocols=tuple(
                f"{p.name.lower()}/{p.ports[0] if p.ports else 0}" for p in net.protocols if p.enabled
            ),
            usernames=tuple(u.username for u in self.rec.users),
            # The camera's own login (ONVIF); a vendor API refusing the credential is an error of that API.
            auth_failed=any(
                e.error_class in (pb.ERROR_CLASS_AUTH, pb.ERROR_CLASS_LOCKED_OUT)
                and not e.operation.endswith(" API")
                for e in self.rec.errors
            ),
        )


async def inventory_camera(conn: CameraConn, *, oui: VendorLookup | None = None, agent_id: str = "",
                           site: str = "", vendor_apis: bool = True) -> InventoryResult:  # fmt: skip
    """Inventory one camera; never raises a CameraError (they are in record.errors)."""
    return await Inventory(conn, oui=oui, agent_id=agent_id, site=site, vendor_apis=vendor_apis).run()


async def recorder_record(
    conn: CameraConn, oui: VendorLookup | None, *, site: str = ""
) -> pb.CameraRecord | None:
    """Only what a plan needs to know about recorders: whether this target is one, and if so its channels (vendor
    probe and identity read; no ONVIF inventory). None for a camera."""
    identities: dict[str, dict[str, str]] = {}
    http = _ReadOnce(conn.vendor_http)
    for name in await conn.vendor_drivers():
        identities[name] = await DRIVERS[name].read_identity(http)
    kind = recorder_kind(identities)
    if kind is None:
        return None
    read = await read_recorder(conn, http, kind, oui, onvif_recorder=False)
    rec = pb.CameraRecord(camera_id=conn.camera_id, host=conn.host, port=conn.port, site=site, reachable=True,
                          device_class="recorder", channels=read.channels)  # fmt: skip
    for ch in rec.channels:
        ch.fingerprint = fingerprint(list(ch.identity.macs), ch.identity.serial, ch.identity.model)
    return rec


def setting_json(settings: dict[str, Setting]) -> dict[str, Any]:
    return {
        k: (value_to_json(s.value) if s.supported and s.value is not None else None)
        for k, s in settings.items()
    }


__all__ = ["ONVIF_SETTINGS", "InventoryResult", "fingerprint", "inventory_camera"]
