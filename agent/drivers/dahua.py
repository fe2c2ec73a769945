"""Dahua CGI driver: magicBox identity, configManager Enable switches (T2U/P2P, UPnP, DDNS, Telnet)."""

from __future__ import annotations

from collections.abc import Collection

from agent.drivers import dahua_models as m
from agent.drivers.base import (
    REQUEST_TIMEOUT_S,
    CameraHttpLike,
    ProbeRequest,
    Setting,
    SettingValue,
    WriteRejected,
    WriteResult,
    check_status,
    host_of,
    setting_matches,
)
from agent.errors import ProtocolError, Unsupported

MAGICBOX = "/cgi-bin/magicBox.cgi"
CONFIG = "/cgi-bin/configManager.cgi"

# setting -> configManager table name (VENDORS.md §4; T2UServer is P2P/Easy4ip/DMSS).
SETTINGS: dict[str, str] = {"t2u": "T2UServer", "upnp": "UPnP", "ddns": "DDNS", "telnet": "Telnet"}

# magicBox actions read for identity, in order; getSystemInfo carries deviceType/updateSerial/serialNumber.
_IDENTITY_ACTIONS = ("getSystemInfo", "getSoftwareVersion", "getVendor", "getDeviceType")


class DahuaDriver:
    """Dahua HTTP API (CGI). Stateless: one instance serves every camera."""

    name = "dahua"
    setting_names: tuple[str, ...] = tuple(SETTINGS)
    probe_request = ProbeRequest("GET", MAGICBOX, params=(("action", "getSystemInfo"),))

    async def _get(self, http: CameraHttpLike, path: str, params: dict[str, str]) -> bytes:
        op = f"GET {path}?action={params.get('action', '')}"
        reply = await http.request("GET", path, params=params, timeout=REQUEST_TIMEOUT_S)
        raw = bytes(reply.body)
        # Dahua refuses unknown actions/config names with `Error\r\nBad Request!` (status 400 or even 200).
        if reply.status in (200, 400) and m.is_error_reply(raw):
            raise Unsupported("Dahua Error reply", host=host_of(http), operation=op, raw=raw)
        check_status(reply, host=host_of(http), operation=op)
        return raw

    async def _magicbox(self, http: CameraHttpLike, action: str) -> m.MagicBoxInfo:
        raw = await self._get(http, MAGICBOX, {"action": action})
        return m.MagicBoxInfo.decode(raw, operation=f"magicBox {action}")

    def recognises(self, body: bytes) -> bool:
        """The CGI is here when magicBox getSystemInfo returns key=value lines with a deviceType."""
        try:
            info = m.MagicBoxInfo.decode(body)
        except ProtocolError:
            return False
        return info.get("deviceType") is not None

    async def read_identity(self, http: CameraHttpLike) -> dict[str, str]:
        """Merged magicBox fields: deviceType, updateSerial (the Dahua base model behind OEM names), version,
        vendor (lower-cased key: OEMs send `Vendor=`), serialNumber. Missing optional actions are skipped."""
        out: dict[str, str] = {}
        for action in _IDENTITY_ACTIONS:
            try:
                info = await self._magicbox(http, action)
            except Unsupported:
                if action == "getSystemInfo":
                    raise
                continue
            for key, value in info.fields:
                norm = "vendor" if key.lower() == "vendor" else key
                out.setdefault(norm, value)
        return out

    async def read_settings(
        self, http: CameraHttpLike, names: Collection[str] | None = None
    ) -> dict[str, Setting]:
        out: dict[str, Setting] = {}
        for name in SETTINGS if names is None else [n for n in SETTINGS if n in names]:
            try:
                out[name] = (await self._read(http, name))[0]
            except Unsupported as exc:
                out[name] = Setting.unsupported(name, exc.message)
        return out

    async def read_inventory(
        self, http: CameraHttpLike, names: Collection[str]
    ) -> tuple[dict[str, str], dict[str, Setting]]:
        return await self.read_identity(http), await self.read_settings(http, names)

    async def read_setting(self, http: CameraHttpLike, name: str) -> Setting:
        return (await self._read(http, name))[0]

    async def write_setting(self, http: CameraHttpLike, name: str, value: SettingValue) -> WriteResult:
        """Read the table first ('already' writes nothing), then setConfig with the camera's own key form."""
        if not isinstance(value, bool):
            raise TypeError(f"dahua setting {name} takes a bool, not {type(value).__name__}")
        current, table = await self._read(http, name)
        assert isinstance(current.value, bool)
        if setting_matches(current, value) and all(v == value for _, v in table.entries):
            return WriteResult(name=name, outcome="already", previous=current.value, value=current.value)
        params = {"action": "setConfig", **table.set_params(value)}
        op = f"setConfig {SETTINGS[name]}"
        reply = await http.request("GET", CONFIG, params=params, timeout=REQUEST_TIMEOUT_S)
        raw = bytes(reply.body)
        if m.is_error_reply(raw):
            raise WriteRejected("Dahua refused setConfig", host=host_of(http), operation=op, raw=raw)
        check_status(reply, host=host_of(http), operation=op)
        if not m.is_ok_reply(raw):
            raise ProtocolError("setConfig reply is not OK", host=host_of(http), operation=op, raw=raw)
        return WriteResult(name=name, outcome="changed", previous=current.value, value=value)

    async def _read(self, http: CameraHttpLike, name: str) -> tuple[Setting, m.ConfigEnable]:
        table_name = SETTINGS.get(name)
        if table_name is None:
            raise Unsupported(f"dahua driver has no setting {name!r}", operation="read_setting")
        raw = await self._get(http, CONFIG, {"action": "getConfig", "name": table_name})
        table = m.ConfigEnable.decode(raw, table_name, operation=f"getConfig {table_name}")
        return Setting(name=name, value=table.enabled), table
