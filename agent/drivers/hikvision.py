"""Hikvision ISAPI driver: identity, cloud/exposure settings with GET-modify-PUT writes, reboot, factoryReset."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from agent.drivers import hikvision_models as m
from agent.drivers.base import (
    REQUEST_TIMEOUT_S,
    AccessProtocol,
    CameraHttpLike,
    HttpReplyLike,
    IPFilterConfig,
    ProbeRequest,
    Setting,
    SettingValue,
    WriteResult,
    check_status,
    host_of,
    setting_matches,
)
from agent.errors import ProtocolError, Unsupported

_XML = {"Content-Type": "application/xml; charset=UTF-8"}


@dataclass(frozen=True)
class IsapiSetting:
    """Where one setting lives: endpoint, kind of document, and the NetworkCap flag that gates it."""

    path: str
    kind: Literal["enabled", "ip_filter", "admin_accesses"]
    cap_flag: str | None = None


# Endpoint map from VENDORS.md §3 (Hikvision web-UI JS endpoint table; logicblocks for EZVIZ/UPnP).
SETTINGS: dict[str, IsapiSetting] = {
    "ezviz": IsapiSetting("/ISAPI/System/Network/EZVIZ", "enabled", "isSupportEZVIZ"),
    "ehome": IsapiSetting("/ISAPI/System/Network/Ehome", "enabled", "isSupportEhome"),
    "upnp": IsapiSetting("/ISAPI/System/Network/UPnP", "enabled", "isSupportUpnp"),
    "upnp_portmap": IsapiSetting("/ISAPI/System/Network/UPnP/ports", "enabled", "isSupportUpnp"),
    "ddns": IsapiSetting("/ISAPI/System/Network/DDNS/1", "enabled", "isSupportDdns"),
    "telnet": IsapiSetting("/ISAPI/System/Network/telnetd", "enabled"),
    "ssh": IsapiSetting("/ISAPI/System/Network/ssh", "enabled"),
    "ip_filter": IsapiSetting("/ISAPI/System/Network/ipFilter", "ip_filter", "isSupportIPFilter"),
    "admin_accesses": IsapiSetting("/ISAPI/Security/adminAccesses", "admin_accesses"),
}

DEVICE_INFO = "/ISAPI/System/deviceInfo"
CAPABILITIES = "/ISAPI/System/capabilities"
REBOOT = "/ISAPI/System/reboot"
FACTORY_RESET = "/ISAPI/System/factoryReset"


class HikvisionDriver:
    """ISAPI over the shared CameraHttp. Stateless: one instance serves every camera."""

    name = "hikvision"
    setting_names: tuple[str, ...] = tuple(SETTINGS)
    probe_request = ProbeRequest("GET", DEVICE_INFO)

    # ---- transport -------------------------------------------------------------------------------------
    async def _call(
        self,
        http: CameraHttpLike,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> HttpReplyLike:
        op = f"{method} {path}"
        reply = await http.request(
            method,
            path,
            params=params,
            data=data,
            headers=_XML if data is not None else None,
            timeout=REQUEST_TIMEOUT_S,
        )
        if not 200 <= reply.status < 300:
            # ISAPI puts a ResponseStatus in error replies (403 + statusCode 4 notSupport, 400 + 5/6 ...).
            raw = bytes(reply.body)
            status = m.maybe_response_status(raw)
            if status is not None and method == "GET" and status.status_code == m.STATUS_INVALID_OPERATION:
                # A read refused as an invalid operation (any subStatusCode) means this firmware does not
                # offer the resource: an answer for this one setting, not a reason to abort the inventory.
                raise Unsupported(
                    f"statusCode 4 {status.sub_status_code}", host=host_of(http), operation=op, raw=raw
                )
            if status is not None and reply.status not in (401, 503):
                status.raise_for_status(host=host_of(http), operation=op, raw=raw)
            check_status(reply, host=host_of(http), operation=op)
        return reply

    async def _get(self, http: CameraHttpLike, path: str) -> bytes:
        return bytes((await self._call(http, "GET", path)).body)

    async def _put(
        self, http: CameraHttpLike, path: str, body: bytes, params: dict[str, str] | None = None
    ) -> m.ResponseStatus:
        op = f"PUT {path}"
        reply = await self._call(http, "PUT", path, data=body, params=params)
        raw = bytes(reply.body)
        status = m.ResponseStatus.decode(raw, operation=op)
        status.raise_for_status(host=host_of(http), operation=op, raw=raw)
        return status

    # ---- VendorDriver ----------------------------------------------------------------------------------
    def recognises(self, body: bytes) -> bool:
        """ISAPI is here when /ISAPI/System/deviceInfo parses as a DeviceInfo document."""
        try:
            m.DeviceInfo.decode(body)
        except ProtocolError:
            return False
        return True

    async def read_device_info(self, http: CameraHttpLike) -> m.DeviceInfo:
        return m.DeviceInfo.decode(await self._get(http, DEVICE_INFO), operation=f"GET {DEVICE_INFO}")

    async def read_identity(self, http: CameraHttpLike) -> dict[str, str]:
        return (await self.read_device_info(http)).as_dict()

    async def read_capabilities(self, http: CameraHttpLike) -> m.NetworkCap | None:
        """NetworkCap flags, or None when the firmware has no capabilities document."""
        try:
            return m.NetworkCap.decode(await self._get(http, CAPABILITIES), operation=f"GET {CAPABILITIES}")
        except Unsupported:
            return None

    async def read_settings(
        self, http: CameraHttpLike, names: Collection[str] | None = None
    ) -> dict[str, Setting]:
        caps = await self.read_capabilities(http)
        out: dict[str, Setting] = {}
        for name in SETTINGS if names is None else [n for n in SETTINGS if n in names]:
            out[name] = await self._read_gated(http, name, caps)
        return out

    async def read_inventory(
        self, http: CameraHttpLike, names: Collection[str]
    ) -> tuple[dict[str, str], dict[str, Setting]]:
        return await self.read_identity(http), await self.read_settings(http, names)

    async def read_setting(self, http: CameraHttpLike, name: str) -> Setting:
        setting, _ = await self._read_live(http, name)
        return setting

    async def write_setting(self, http: CameraHttpLike, name: str, value: SettingValue) -> WriteResult:
        """GET the live document, return 'already' if equal, else modify only our field and PUT it back.

        Writing a minimal body resets the other fields on real firmware (VENDORS.md §3, Integrate/ONVIF note),
        so the body we PUT is always the camera's own document with one field changed.
        """
        spec = _spec(name)
        current, live = await self._read_live(http, name)
        assert current.value is not None
        if setting_matches(current, value):
            return WriteResult(name=name, outcome="already", previous=current.value, value=current.value)
        body = _encode(spec, live, value, name)
        status = await self._put(http, spec.path, body)
        return WriteResult(
            name=name,
            outcome="changed",
            previous=current.value,
            value=value,
            reboot_required=status.reboot_required,
        )

    # ---- Hikvision-only actions ------------------------------------------------------------------------
    async def reboot(self, http: CameraHttpLike) -> m.ResponseStatus:
        return await self._put(http, REBOOT, b"")

    async def factory_reset(self, http: CameraHttpLike, mode: Literal["basic", "full"]) -> m.ResponseStatus:
        """basic keeps network and users (web UI 'Restore'), full is 'Default' (everything)."""
        return await self._put(http, FACTORY_RESET, b"", params={"mode": mode})

    # ---- helpers -----------------------------------------------------------------------------------------
    async def _read_gated(self, http: CameraHttpLike, name: str, caps: m.NetworkCap | None) -> Setting:
        spec = SETTINGS[name]
        if caps is not None and spec.cap_flag is not None and caps.get(spec.cap_flag) is False:
            return Setting.unsupported(name, f"capabilities {spec.cap_flag}=false")
        try:
            setting, _ = await self._read_live(http, name)
        except Unsupported as exc:
            return Setting.unsupported(name, exc.message)
        return setting

    async def _read_live(self, http: CameraHttpLike, name: str) -> tuple[Setting, bytes]:
        spec = _spec(name)
        raw = await self._get(http, spec.path)
        op = f"GET {spec.path}"
        if spec.kind == "ip_filter":
            return Setting(name=name, value=m.decode_ip_filter(raw, operation=op)), raw
        if spec.kind == "admin_accesses":
            return Setting(name=name, value=m.decode_admin_accesses(raw, operation=op)), raw
        doc = m.EnabledDoc.decode(raw, operation=op)
        return Setting(name=name, value=doc.enabled, detail=doc.detail), raw


def _spec(name: str) -> IsapiSetting:
    try:
        return SETTINGS[name]
    except KeyError:
        raise Unsupported(f"hikvision driver has no setting {name!r}", operation="write_setting") from None


def _encode(spec: IsapiSetting, live: bytes, value: SettingValue, name: str) -> bytes:
    op = f"PUT {spec.path}"
    if spec.kind == "enabled" and isinstance(value, bool):
        return m.set_enabled(live, value, operation=op)
    if spec.kind == "ip_filter" and isinstance(value, IPFilterConfig):
        return m.encode_ip_filter(live, value, operation=op)
    if spec.kind == "admin_accesses" and isinstance(value, tuple):
        return m.encode_admin_accesses(
            live, tuple(p for p in value if isinstance(p, AccessProtocol)), operation=op
        )
    # A caller bug, not a camera answer.
    raise TypeError(f"wrong value type {type(value).__name__} for {name}")
