"""The state of one simulated camera: what it reports, how it is configured, and what it really exposes."""

from __future__ import annotations

import copy
import ipaddress
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Personality = Literal["hikvision", "dahua", "axis", "generic"]
AuthMode = Literal["digest", "wsse"]
# How the web server answers a path that is neither its ONVIF service nor its own vendor API. Independent
# ONVIF servers differ here, and an agent that probes vendor APIs meets every one of these (catalog.FOREIGN).
WebBehaviour = Literal["not_found", "cgi_forbidden", "basic_only", "drop_post", "method_not_allowed"]
UserLevel = Literal["Administrator", "Operator", "User", "Anonymous", "Extended"]

# Vendor cloud/P2P features. A camera only carries the keys its personality has.
CLOUD_FEATURES = ("ezviz", "ehome", "t2u", "remote_service", "ddns", "upnp", "upnp_portmap")
# ISAPI deviceType / Dahua device classes of recorders.
RECORDER_TYPES = frozenset({"NVR", "DVR", "XVR", "HVR"})
# Remote-shell services that count as exposure, not as cloud.
SHELL_FEATURES = ("telnet", "ssh")


@dataclass
class Identity:
    """What the camera says about itself, and the truth behind it (truth is for tests only)."""

    personality: Personality
    manufacturer: str  # reported (ONVIF Manufacturer, vendor API vendor/brand)
    true_manufacturer: str  # maker of origin, lower-case: hikvision, dahua, axis, generic
    model: str
    firmware: str  # as ONVIF FirmwareVersion reports it, e.g. "V5.5.0 build 170725"
    serial: str
    hardware_id: str
    mac: str  # "28:57:be:12:34:56"
    oem_brand: str | None = None  # e.g. "LTS" when a Hikvision-made camera is rebranded
    base_model: str | None = None  # the maker's own model behind an OEM model name (Dahua updateSerial)
    device_type: str = "IPCamera"


@dataclass
class Protocol:
    name: str  # HTTP, HTTPS, RTSP (ONVIF-visible) or vendor ones: DEV_MANAGE, SDK, SSH, TELNET ...
    enabled: bool
    port: int


@dataclass
class IPFilter:
    type: Literal["Allow", "Deny"] = "Allow"
    ipv4: list[tuple[str, int]] = field(default_factory=list)  # (address, prefix length)

    def permits(self, client_ip: str) -> bool:
        """Enforce the filter as a real camera does: an empty list means no filtering."""
        if not self.ipv4:
            return True
        try:
            ip = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        hit = any(ip in ipaddress.ip_network(f"{addr}/{plen}", strict=False) for addr, plen in self.ipv4)
        return hit if self.type == "Allow" else not hit

    def blocks_wan(self) -> bool:
        """True when an Allow list without a default route keeps the camera off the internet."""
        if self.type != "Allow" or not self.ipv4:
            return False
        return not any(plen == 0 for _, plen in self.ipv4)


@dataclass
class Network:
    address: str  # the loopback address the camera listens on
    prefix_length: int = 24  # camsim.fleet gives loopback cameras 8: lo is 127.0.0.0/8
    hostname: str = "camera"
    gateway: list[str] = field(default_factory=lambda: ["192.0.2.1"])  # TEST-NET; never contacted
    dns_from_dhcp: bool = False
    dns: list[str] = field(default_factory=lambda: ["192.0.2.53"])
    search_domain: list[str] = field(default_factory=list)
    ntp_from_dhcp: bool = False
    ntp: list[str] = field(default_factory=lambda: ["pool.ntp.org"])
    protocols: list[Protocol] = field(default_factory=list)
    zero_configuration: bool = True
    discovery_mode: Literal["Discoverable", "NonDiscoverable"] = "Discoverable"
    dyndns_type: Literal["NoUpdate", "ClientUpdates", "ServerUpdates"] = "NoUpdate"
    dyndns_name: str | None = None
    ip_filter: IPFilter = field(default_factory=IPFilter)


@dataclass
class User:
    username: str
    password: str
    level: UserLevel = "Administrator"


@dataclass
class Channel:
    """One input channel of a recorder and the camera that feeds it. The recorder's APIs show a view of this;
    whether the channel records right now is derived (Camera.channel_online), not stored."""

    number: int  # 1-based, as the recorder's UI, ISAPI ids and RTSP paths count
    camera_id: str
    address: str  # the camera as the recorder reaches it: its site address, or one on the PoE subnet
    # How the recorder pulls the stream: HIKVISION (SDK port 8000), ONVIF (HTTP + RTSP), Private (Dahua 37777).
    protocol: str
    name: str = ""


@dataclass
class Faults:
    """Misbehaviour injected per camera; rates are probabilities per request in [0, 1]."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    hang: bool = False  # accept the connection and never answer
    http500_rate: float = 0.0
    malformed_rate: float = 0.0  # well-formed HTTP, broken XML/body
    truncated_rate: float = 0.0  # body cut mid-document
    drop_rate: float = 0.0  # connection closed without a reply
    # A request that carried a credential is processed (a wrong one counts as a failed login, a write lands), and
    # then its reply is lost (the connection dies) or comes this late: the client cannot know what happened.
    lost_login_reply_rate: float = 0.0
    login_reply_delay_ms: float = 0.0
    login_fault_path: str = ""  # the two above only for paths starting with this ("": every path)
    reboot_seconds: float = 5.0  # downtime after SystemReboot or a factory reset


@dataclass
class AuthPolicy:
    modes: list[AuthMode] = field(default_factory=lambda: ["digest", "wsse"])
    realm: str = "IP Camera"
    freshness_s: float = 300.0  # UsernameToken Created must lie within this of the camera clock
    lockout_threshold: int = 7  # failures per client IP before it is locked
    lockout_seconds: float = 1800.0
    connection_limit: int = 20  # concurrent requests; past it Hikvision 503s and Dahua 401s


@dataclass
class Camera:
    """One simulated camera. Mutate it only through its methods so writes are counted."""

    id: str  # stable, e.g. "cam-0001"
    port: int
    identity: Identity
    network: Network
    users: list[User]
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    faults: Faults = field(default_factory=Faults)
    clock_skew_s: float = 0.0
    features: dict[str, bool] = field(default_factory=dict)  # vendor cloud/shell features
    # Vendor detail that rides along with features (ddns provider, ezviz server, upnp map table ...).
    feature_detail: dict[str, str] = field(default_factory=dict)
    # Optional ONVIF capabilities this personality implements: IPFilter, ZeroConfiguration, DynDNS, NTP ...
    capabilities: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    # An unactivated Hikvision device has no password at all: it answers SADP (Activated=false) and serves its
    # activation page, but no ONVIF and no WS-Discovery, and no credential opens it.
    activated: bool = True
    # False for a camera that lives only behind a recorder (on its PoE ports): nothing is bound for it.
    reachable: bool = True
    # Recorders: their channels, and the recorder's own address on its PoE subnet (what PoE cameras see).
    channels: list[Channel] = field(default_factory=list)
    poe_address: str | None = None
    # Foreign server behaviour (catalog.FOREIGN); the defaults are camsim's own ONVIF server.
    web: WebBehaviour = "not_found"
    server_banner: str | None = None  # Server header of a generic camera's web server (vendors set their own)
    soap_reply_version: Literal["", "1.1"] = ""  # "1.1": every reply in a SOAP 1.1 envelope (older firmware)
    onvif_ops: list[str] | None = None  # None: every operation camsim has; else only these, the rest fault
    preauth_open: bool = True  # False: even GetSystemDateAndTime wants credentials (ipycam does this)
    # False: GetDeviceInformation answers an empty SerialNumber, as some OEM firmware does; the vendor API still
    # tells it (the identity the controller keys cameras on then comes from there).
    onvif_serial: bool = True
    ntp_count: int | None = None  # Network@NTP of GetServiceCapabilities (a count; None: 1 with NTP, else 0)
    # Client networks (CIDR) that reach the camera only through its default gateway (another subnet): without
    # a gateway the camera cannot answer them (see SimServer._pipeline).
    routed_sources: list[str] = field(default_factory=list)
    # Accounts of the vendor web API when they differ from the ONVIF ones (Hikvision keeps ONVIF users in a
    # list of their own, VENDORS.md §3): None means the same accounts everywhere.
    web_users: list[User] | None = None
    # Runtime state (persisted with --state, reset by factory default where noted).
    writes: dict[str, int] = field(default_factory=dict)  # setting -> number of writes that reached it
    auth_failures: dict[str, int] = field(default_factory=dict)  # client ip -> consecutive failures
    failed_logins: int = 0  # every refused credential since start (a success resets auth_failures, not this)
    locked_until: dict[str, float] = field(default_factory=dict)  # client ip -> unix time
    down_until: float = 0.0  # unix time; the camera is rebooting until then
    boots: int = 1
    seen_nonces: list[str] = field(default_factory=list)  # recent WS-Security nonces (bounded)
    defaults: dict[str, Any] | None = None  # factory state, captured at creation

    def __post_init__(self) -> None:
        if self.defaults is None:
            self.defaults = self._config_dict()

    @property
    def is_recorder(self) -> bool:
        return self.identity.device_type in RECORDER_TYPES

    # ---- clock -------------------------------------------------------------------------
    def now(self) -> float:
        """The camera's own idea of the time (unix seconds), skew included."""
        return time.time() + self.clock_skew_s

    # ---- writes ------------------------------------------------------------------------
    def record_write(self, setting: str) -> None:
        """Count one write that reached the camera, so tests can prove nothing was applied twice."""
        self.writes[setting] = self.writes.get(setting, 0) + 1

    def set_feature(self, name: str, enabled: bool) -> None:
        self.features[name] = enabled
        self.record_write(f"feature.{name}")

    # ---- lifecycle ---------------------------------------------------------------------
    def is_down(self) -> bool:
        return time.time() < self.down_until

    def reboot(self) -> None:
        self.down_until = time.time() + self.faults.reboot_seconds
        self.boots += 1

    def factory_reset(self, mode: Literal["Hard", "Soft"]) -> None:
        """Back to factory settings; Soft keeps address, prefix and gateway as ONVIF Core says."""
        assert self.defaults is not None
        keep_gateway = list(self.network.gateway)
        restored = _config_from_dict(copy.deepcopy(self.defaults))
        self.network = restored["network"]
        self.users = restored["users"]
        self.features = restored["features"]
        self.feature_detail = restored["feature_detail"]
        self.scopes = restored["scopes"]
        # A recorder's channel list is configuration: any factory reset forgets its cameras [U: Hikvision
        # "basic" restore keeps network and users; that it drops the channels is an assumption].
        self.channels = []
        if mode == "Soft":
            self.network.gateway = keep_gateway
        self.record_write(f"factory_default.{mode.lower()}")
        self.reboot()

    # ---- auth bookkeeping --------------------------------------------------------------
    def is_locked(self, client_ip: str) -> bool:
        return time.time() < self.locked_until.get(client_ip, 0.0)

    def note_auth_failure(self, client_ip: str) -> None:
        self.failed_logins += 1
        n = self.auth_failures.get(client_ip, 0) + 1
        self.auth_failures[client_ip] = n
        if n >= self.auth.lockout_threshold:
            self.locked_until[client_ip] = time.time() + self.auth.lockout_seconds

    def note_auth_success(self, client_ip: str) -> None:
        self.auth_failures.pop(client_ip, None)

    def needs_route(self, client_ip: str) -> bool:
        """This client is on another subnet: the camera answers it only through its default gateway."""
        try:
            ip = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(n, strict=False) for n in self.routed_sources)

    def has_route_out(self) -> bool:
        return any(g for g in self.network.gateway)

    def check_password(self, username: str, *, web: bool = False) -> str | None:
        users = self.web_users if web and self.web_users is not None else self.users
        for u in users:
            if u.username == username:
                return u.password
        return None

    # ---- derived exposure --------------------------------------------------------------
    def portmap_active(self) -> bool:
        """Port mappings are made by the UPnP client, so with UPnP switched off none are made (Hikvision
        UPnP/ports, Dahua UPnP.MapTable and Axis NATTraversal all sit under the UPnP switch)."""
        return bool(self.features.get("upnp_portmap")) and self.features.get("upnp", True) is not False

    def cloud_features_on(self) -> list[str]:
        on = [f for f in CLOUD_FEATURES if self.features.get(f)]
        return [f for f in on if f != "upnp_portmap" or self.portmap_active()]

    def cloud_reachable(self) -> bool:
        """Vendor cloud on AND a gateway AND DNS AND an IP filter that does not fence it in."""
        n = self.network
        has_gateway = any(g for g in n.gateway)
        has_dns = n.dns_from_dhcp or any(d for d in n.dns)
        return bool(self.cloud_features_on()) and has_gateway and has_dns and not n.ip_filter.blocks_wan()

    def exposed_services(self) -> list[str]:
        out = [f"{p.name.lower()}/{p.port}" for p in self.network.protocols if p.enabled]
        out += [f for f in SHELL_FEATURES if self.features.get(f)]
        if self.portmap_active():
            out.append("upnp_port_mapping")
        if self.network.discovery_mode == "Discoverable":
            out.append("ws-discovery")
        return sorted(out)

    # ---- serialisation -----------------------------------------------------------------
    def _config_dict(self) -> dict[str, Any]:
        return copy.deepcopy(
            {
                "network": asdict(self.network),
                "users": [asdict(u) for u in self.users],
                "features": dict(self.features),
                "feature_detail": dict(self.feature_detail),
                "scopes": list(self.scopes),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Camera:
        d = copy.deepcopy(d)
        cfg = _config_from_dict(
            {
                "network": d.pop("network"),
                "users": d.pop("users"),
                "features": d.pop("features"),
                "feature_detail": d.pop("feature_detail"),
                "scopes": d.pop("scopes"),
            }
        )
        channels = [Channel(**c) for c in d.pop("channels", [])]
        web_users = d.pop("web_users", None)
        return cls(
            identity=Identity(**d.pop("identity")),
            channels=channels,
            web_users=[User(**u) for u in web_users] if web_users is not None else None,
            auth=AuthPolicy(**d.pop("auth")),
            faults=Faults(**d.pop("faults")),
            **cfg,
            **d,
        )

    def live_state(self) -> dict[str, Any]:
        """What the control API reports: settings, derived exposure, auth and lock status."""
        return {
            "id": self.id,
            "host": self.network.address,
            "port": self.port,
            "personality": self.identity.personality,
            "capabilities": list(self.capabilities),
            "device_type": self.identity.device_type,
            "activated": self.activated,
            "reachable": self.reachable,
            "network": asdict(self.network),
            "features": dict(self.features),
            "users": [{"username": u.username, "level": u.level} for u in self.users],
            "cloud_reachable": self.cloud_reachable(),
            "exposed_services": self.exposed_services(),
            "auth_failures": dict(self.auth_failures),
            "failed_logins": self.failed_logins,
            "locked": {ip: until for ip, until in self.locked_until.items() if until > time.time()},
            "down": self.is_down(),
            "boots": self.boots,
            "writes": dict(self.writes),
            "clock_skew_s": self.clock_skew_s,
            "faults": asdict(self.faults),
        }


def _config_from_dict(d: dict[str, Any]) -> dict[str, Any]:
    net = dict(d["network"])
    net["protocols"] = [Protocol(**p) for p in net["protocols"]]
    filt = dict(net["ip_filter"])
    filt["ipv4"] = [(str(a), int(p)) for a, p in filt["ipv4"]]
    net["ip_filter"] = IPFilter(**filt)
    return {
        "network": Network(**net),
        "users": [User(**u) for u in d["users"]],
        "features": dict(d["features"]),
        "feature_detail": dict(d["feature_detail"]),
        "scopes": list(d["scopes"]),
    }
