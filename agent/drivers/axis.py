"""Axis VAPIX driver: param.cgi identity (Brand, Properties), RemoteService (O3C), UPnP and Network.Filter."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from urllib.parse import urlencode

from agent.drivers import axis_models as m
from agent.drivers.base import (
    REQUEST_TIMEOUT_S,
    CameraHttpLike,
    IPFilterConfig,
    ProbeRequest,
    Setting,
    SettingValue,
    WriteRejected,
    WriteResult,
    check_status,
    host_of,
    parse_bool,
    setting_matches,
)
from agent.errors import ProtocolError, Unsupported

PARAM_CGI = "/axis-cgi/param.cgi"
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# setting -> param.cgi group to list (VENDORS.md §4). RemoteService.Enabled is oneclick|yes|no and is kept as
# the camera's string so a rollback restores 'oneclick' exactly, not a lossy bool.
SETTINGS: dict[str, str] = {
    "remote_service": "RemoteService",
    "upnp": "Network.UPnP",
    "ip_filter": "Network.Filter",
}
REMOTE_SERVICE = "RemoteService.Enabled"
UPNP = "Network.UPnP.Enabled"
_IDENTITY_GROUPS = ("Brand", "Properties")


class AxisDriver:
    """VAPIX param.cgi (POST, form-encoded, like Kane610/axis ParamRequest). Stateless."""

    name = "axis"
    setting_names: tuple[str, ...] = tuple(SETTINGS)
    probe_request = ProbeRequest("POST", PARAM_CGI, form=(("action", "list"), ("group", "root.Brand")))

    async def _post(self, http: CameraHttpLike, form: dict[str, str], op: str) -> bytes:
        reply = await http.request(
            "POST", PARAM_CGI, data=urlencode(form), headers=_FORM, timeout=REQUEST_TIMEOUT_S
        )
        check_status(reply, host=host_of(http), operation=op)
        return bytes(reply.body)

    async def list_group(self, http: CameraHttpLike, group: str) -> m.ParamList:
        """`action=list&group=root.<group>`; a `# Error:` reply means the group does not exist: Unsupported."""
        op = f"param.cgi list root.{group}"
        raw = await self._post(http, {"action": "list", "group": f"root.{group}"}, op)
        err = m.error_message(raw)
        if err is not None:
            raise Unsupported(f"VAPIX: {err}", host=host_of(http), operation=op, raw=raw)
        return m.ParamList.decode(raw, operation=op)

    def recognises(self, body: bytes) -> bool:
        """VAPIX is here when root.Brand lists a Brand.Brand parameter."""
        try:
            params = m.ParamList.decode(body)
        except ProtocolError:
            return False
        return params.get("Brand.Brand") is not None

    async def _list_together(self, http: CameraHttpLike, groups: Sequence[str]) -> m.ParamList | None:
        """Several groups in one `action=list` (VAPIX param.cgi: group=<group>[,<group>...]): one request instead of
        one per group. None when the camera answered the list with an error (a group it does not have), a refusal or
        something unreadable: the caller then asks for each group alone and gets each group's own answer."""
        if len(groups) < 2:
            return None
        joined = ",".join(f"root.{g}" for g in groups)
        op = f"param.cgi list {joined}"
        try:
            raw = await self._post(http, {"action": "list", "group": joined}, op)
            if m.error_message(raw) is not None:
                return None
            return m.ParamList.decode(raw, operation=op)
        except (Unsupported, ProtocolError):
            return None

    async def read_identity(self, http: CameraHttpLike) -> dict[str, str]:
        """Brand.* and Properties.* (Properties.Firmware.Version, Properties.System.SerialNumber ...)."""
        together = await self._list_together(http, _IDENTITY_GROUPS)
        if together is not None:
            return {k: v for group in _IDENTITY_GROUPS for k, v in together.group(group).items()}
        out: dict[str, str] = {}
        for group in _IDENTITY_GROUPS:
            try:
                params = await self.list_group(http, group)
            except Unsupported:
                if group == "Brand":
                    raise
                continue
            out.update(params.group(group))
        return out

    async def read_settings(
        self, http: CameraHttpLike, names: Collection[str] | None = None
    ) -> dict[str, Setting]:
        out: dict[str, Setting] = {}
        wanted = [n for n in SETTINGS if names is None or n in names]
        together = await self._list_together(http, [SETTINGS[n] for n in wanted])
        for name in wanted:
            try:
                out[name] = (
                    self._setting(http, name, together)
                    if together is not None
                    else await self.read_setting(http, name)
                )
            except Unsupported as exc:
                out[name] = Setting.unsupported(name, exc.message)
        return out

    async def read_inventory(
        self, http: CameraHttpLike, names: Collection[str]
    ) -> tuple[dict[str, str], dict[str, Setting]]:
        """Identity and the settings asked for in one listing (4 groups, 1 request instead of 2); a camera that
        answers the joint list with an error (a group it lacks) is read as read_identity + read_settings do."""
        wanted = [n for n in SETTINGS if n in names]
        together = await self._list_together(http, _IDENTITY_GROUPS + tuple(SETTINGS[n] for n in wanted))
        if together is None or together.get("Brand.Brand") is None:
            return await self.read_identity(http), await self.read_settings(http, names)
        identity = {k: v for group in _IDENTITY_GROUPS for k, v in together.group(group).items()}
        out: dict[str, Setting] = {}
        for name in wanted:
            try:
                out[name] = self._setting(http, name, together)
            except Unsupported as exc:
                out[name] = Setting.unsupported(name, exc.message)
        return identity, out

    async def read_setting(self, http: CameraHttpLike, name: str) -> Setting:
        group = SETTINGS.get(name)
        if group is None:
            raise Unsupported(f"axis driver has no setting {name!r}", operation="read_setting")
        return self._setting(http, name, await self.list_group(http, group))

    def _setting(self, http: CameraHttpLike, name: str, params: m.ParamList) -> Setting:
        """One setting from a listing that holds its group (alone, or with others: the keys are the same)."""
        op = f"param.cgi list root.{SETTINGS[name]}"
        if name == "ip_filter":
            return Setting(name=name, value=m.decode_ip_filter(params, operation=op))
        key = REMOTE_SERVICE if name == "remote_service" else UPNP
        text = params.get(key)
        if text is None:
            raise Unsupported(f"no {key}", host=host_of(http), operation=op)
        if name == "remote_service":
            return Setting(name=name, value=text.strip().lower())
        return Setting(name=name, value=parse_bool(text, operation=op))

    async def write_setting(self, http: CameraHttpLike, name: str, value: SettingValue) -> WriteResult:
        """Read first ('already' writes nothing), then `action=update&<Param>=<v>`, which answers `OK`."""
        if name == "remote_service" and isinstance(value, bool):
            # disable_cloud asks for False; O3C off is 'no'. Normalised first so a re-run compares equal.
            value = "yes" if value else "no"
        current = await self.read_setting(http, name)
        assert current.value is not None
        if setting_matches(current, value):
            return WriteResult(name=name, outcome="already", previous=current.value, value=current.value)
        form = {"action": "update", **_encode(name, value)}
        op = f"param.cgi update {SETTINGS[name]}"
        raw = await self._post(http, form, op)
        if m.error_message(raw) is not None:
            raise WriteRejected("VAPIX refused update", host=host_of(http), operation=op, raw=raw)
        if not m.is_ok_reply(raw):
            raise ProtocolError("param.cgi update reply is not OK", host=host_of(http), operation=op, raw=raw)
        return WriteResult(name=name, outcome="changed", previous=current.value, value=value)


def _encode(name: str, value: SettingValue) -> dict[str, str]:
    if name == "ip_filter" and isinstance(value, IPFilterConfig):
        return m.encode_ip_filter(value)
    if name == "remote_service" and isinstance(value, str) and value in ("oneclick", "yes", "no"):
        return {REMOTE_SERVICE: value}
    if name == "upnp" and isinstance(value, bool):
        return {UPNP: "yes" if value else "no"}
    raise TypeError(f"wrong value {value!r} for axis setting {name}")
