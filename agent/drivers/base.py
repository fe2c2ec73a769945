"""Vendor driver interface: the HTTP seam, typed setting values, write results and HTTP status mapping."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias

from agent.errors import AuthFailed, ProtocolError, Unreachable, Unsupported

#: Per-request timeout for vendor API calls (seconds). CameraHttp has its own default; drivers pass this so
#: every network await is bounded even with a stand-in transport.
REQUEST_TIMEOUT_S = 10.0


class HttpReplyLike(Protocol):
    """What the drivers read from a reply (agent.http.HttpReply satisfies it)."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def body(self) -> bytes: ...


class CameraHttpLike(Protocol):
    """The per-camera HTTP seam of the agent contract (agent.http.CameraHttp satisfies it structurally).

    It raises agent.errors classes itself: AuthFailed after a 401 that survives one digest round,
    LockedOut, Unreachable/Timeout on connect errors, timeouts and 503.
    """

    @property
    def base_url(self) -> str: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- the agent.http contract signature
    ) -> HttpReplyLike: ...


class WriteRejected(ProtocolError):
    """The camera understood the request and refused it (ISAPI statusCode 4/5/6, Dahua/Axis 'Error')."""


# ---- setting values ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IPFilterConfig:
    """A vendor IP filter. `addresses` are canonical CIDR strings, sorted, so equal filters compare equal."""

    enabled: bool
    policy: Literal["allow", "deny"]
    addresses: tuple[str, ...] = ()

    @classmethod
    def build(
        cls, enabled: bool, policy: Literal["allow", "deny"], addresses: tuple[str, ...] | list[str]
    ) -> IPFilterConfig:
        """Normalise addresses ('10.0.0.1' -> '10.0.0.1/32', host bits cleared); ValueError on garbage."""
        canon = sorted({str(ipaddress.ip_network(a.strip(), strict=False)) for a in addresses if a.strip()})
        return cls(enabled=enabled, policy=policy, addresses=tuple(canon))


@dataclass(frozen=True)
class AccessProtocol:
    """One entry of Hikvision's adminAccesses list (HTTP, HTTPS, DEV_MANAGE, RTSP, ...)."""

    protocol: str
    enabled: bool
    port: int


SettingValue: TypeAlias = bool | str | IPFilterConfig | tuple[AccessProtocol, ...]


@dataclass(frozen=True)
class Setting:
    """The current state of one cloud/exposure setting as the camera reports it.

    `supported=False` is an answer (404, ISAPI notSupport, a capability flag saying no, Dahua 'Error'):
    `value` is then None and `reason` says why. `detail` carries vendor context (DDNS provider, cloud server).
    """

    name: str
    value: SettingValue | None
    supported: bool = True
    reason: str = ""
    detail: tuple[tuple[str, str], ...] = ()

    @classmethod
    def unsupported(cls, name: str, reason: str) -> Setting:
        return cls(name=name, value=None, supported=False, reason=reason)


@dataclass(frozen=True)
class WriteResult:
    """Outcome of write_setting: 'already' means the camera already had the value and nothing was written."""

    name: str
    outcome: Literal["changed", "already"]
    previous: SettingValue
    value: SettingValue
    reboot_required: bool = False


def setting_matches(current: Setting | SettingValue | None, desired: SettingValue) -> bool:
    """True when writing `desired` would change nothing (the idempotency check before any write).

    adminAccesses compares only the protocols named in `desired`, because a write touches only those.
    """
    if isinstance(current, Setting):
        if not current.supported:
            return False
        current = current.value
    if current is None:
        return False
    if isinstance(desired, tuple) and isinstance(current, tuple):
        have = {p.protocol.upper(): (p.enabled, p.port) for p in current}
        return all(have.get(p.protocol.upper()) == (p.enabled, p.port) for p in desired)
    if isinstance(desired, bool) or isinstance(current, bool):
        return type(desired) is type(current) and desired == current
    return current == desired


Json: TypeAlias = bool | str | dict[str, object] | list[dict[str, object]]


def value_to_json(value: SettingValue) -> Json:
    """JSON form of a setting value, for snapshots sent to the controller and the action engine."""
    if isinstance(value, IPFilterConfig):
        return {"enabled": value.enabled, "policy": value.policy, "addresses": list(value.addresses)}
    if isinstance(value, tuple):
        return [{"protocol": p.protocol, "enabled": p.enabled, "port": p.port} for p in value]
    return value


def value_from_json(value: object) -> SettingValue:
    """Inverse of value_to_json (a snapshot coming back for rollback). ValueError on a corrupt value."""
    if isinstance(value, bool | str):
        return value
    try:
        if isinstance(value, dict):
            policy = value["policy"]
            if policy not in ("allow", "deny"):
                raise ValueError(f"bad policy {policy!r}")
            return IPFilterConfig.build(bool(value["enabled"]), policy, [str(a) for a in value["addresses"]])
        if isinstance(value, list):
            return tuple(
                AccessProtocol(str(p["protocol"]), bool(p["enabled"]), int(p["port"])) for p in value
            )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a setting value: {value!r}") from exc
    raise ValueError(f"not a setting value: {value!r}")


@dataclass(frozen=True)
class ProbeRequest:
    """The one request that shows whether a vendor API is on a camera (agent.vendor_probe sends it, first
    without credentials, then with them only where the evidence points at this vendor)."""

    method: Literal["GET", "POST"]
    path: str
    params: tuple[tuple[str, str], ...] = ()
    form: tuple[tuple[str, str], ...] = ()  # POST body, application/x-www-form-urlencoded


class VendorDriver(Protocol):
    """A small typed driver for one vendor HTTP API. Unsupported is raised (or reported) as an answer."""

    name: str
    setting_names: tuple[str, ...]
    probe_request: ProbeRequest

    def recognises(self, body: bytes) -> bool:
        """Is this reply to `probe_request` in this API's shape? Pure; never raises on any bytes."""
        ...

    async def read_identity(self, http: CameraHttpLike) -> dict[str, str]:
        """Raw vendor identity fields, for attribution."""
        ...

    async def read_settings(
        self, http: CameraHttpLike, names: Collection[str] | None = None
    ) -> dict[str, Setting]:
        """Every setting in `setting_names` (or only those in `names`), each with its value or marked unsupported."""
        ...

    async def read_inventory(
        self, http: CameraHttpLike, names: Collection[str]
    ) -> tuple[dict[str, str], dict[str, Setting]]:
        """read_identity, then read_settings(names), in as few requests as the API allows (the inventory's read)."""
        ...

    async def read_setting(self, http: CameraHttpLike, name: str) -> Setting:
        """One setting; raises Unsupported when the camera (or this driver) has no such setting."""
        ...

    async def write_setting(self, http: CameraHttpLike, name: str, value: SettingValue) -> WriteResult:
        """Write one setting (after reading it: an equal value gives outcome 'already' and no write)."""
        ...


# ---- HTTP status mapping -------------------------------------------------------------------------------


def check_status(reply: HttpReplyLike, *, host: str, operation: str) -> None:
    """Map a non-2xx status to the agent error classes (Kane610/axis raise_error style).

    Only called for an API agent.vendor_probe found on the camera. 404/405/501 mean the optional endpoint is
    absent on this firmware: Unsupported, an answer. 401 should already have been raised by CameraHttp, but a
    stand-in may pass it through; 403 is a missing privilege. 5xx are transient (Hikvision 503 under its
    connection limit, injected 500s). Anything else is a reply we do not understand.
    """
    status = reply.status
    if 200 <= status < 300:
        return
    raw = bytes(reply.body)
    if status in (404, 405, 501):
        raise Unsupported(f"HTTP {status}", host=host, operation=operation, raw=raw)
    if status == 401:
        raise AuthFailed("credentials rejected (HTTP 401)", host=host, operation=operation)
    if status == 403:
        # Logged in but not allowed (a viewer/operator account): only an operator can fix that, so it is
        # reported like an auth problem and never retried.
        raise AuthFailed("HTTP 403: the account lacks the privilege", host=host, operation=operation)
    if status >= 500:
        raise Unreachable(f"HTTP {status}", host=host, operation=operation, raw=raw)
    raise ProtocolError(f"unexpected HTTP {status}", host=host, operation=operation, raw=raw)


def host_of(http: CameraHttpLike) -> str:
    """host[:port] of the camera, for error messages (base_url never carries credentials)."""
    url = http.base_url
    return url.split("://", 1)[-1].rstrip("/")


def parse_bool(text: str, *, operation: str = "", raw: bytes | None = None) -> bool:
    """ISAPI 'true'/'false', VAPIX 'yes'/'no', Dahua 'true'/'false' (case varies by firmware)."""
    t = text.strip().lower()
    if t in ("true", "yes", "1", "on"):
        return True
    if t in ("false", "no", "0", "off"):
        return False
    raise ProtocolError(f"not a boolean: {text[:40]!r}", operation=operation, raw=raw)
