"""restrict_network: IP filter (agent always allowed), gateway/DNS cleared, local NTP, protocols; every change that
could cut the agent off under commit-confirm, and a gateway kept where clearing it would strand the agent."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from agent.actions import engine
from agent.actions.cloud import onvif_setting
from agent.actions.conn import CameraConn, probe_from, vendor_setting
from agent.actions.goal import GoalSpec, Part, vendor_rows
from agent.actions.onvif_settings import canonical_networks, field, items, text
from agent.drivers import DRIVERS
from agent.errors import AuthFailed, CameraError, Refused, Unreachable

log = logging.getLogger(__name__)

#: Never switched off whatever the keep-list says: the agent manages the camera over HTTP (ONVIF + vendor APIs).
MANAGEMENT_PROTOCOLS = frozenset({"HTTP"})
#: Vendor shells switched off by restrict_network (VENDORS.md: telnetd/ssh on old Hikvision, Dahua Telnet).
VENDOR_SHELLS: dict[str, tuple[str, ...]] = {"hikvision": ("telnet", "ssh"), "dahua": ("telnet",)}
#: Settings whose change can cut the agent (or the recorder) off: each goes through commit-confirm, in an apply
#: and in a rollback alike.
GUARDED = frozenset({"onvif.ip_filter", "hikvision.ip_filter", "axis.ip_filter", "onvif.gateway", "onvif.dns",
                     "onvif.protocols", "hikvision.admin_accesses"})  # fmt: skip
FILTER = Part("IP filter (only the allow list may reach the camera)", essential=True)
# A camera that cannot say its DNS servers or list its protocols still has them (an ONVIF-minimal server faults
# GetDNS "Action not supported"; ipycam faults the protocol read): unknown exposure, not an absent feature.
DNS = Part("DNS servers", absent_ok=False)
PROTOCOLS = Part("network protocols the recorder does not need", absent_ok=False)


class AllowListMissing(Refused):
    """restrict_network without an allow list: refused before anything is read."""


@dataclass(frozen=True)
class RestrictSpec:
    allow: tuple[str, ...] = ()
    ntp_server: str = ""
    keep_protocols: tuple[str, ...] = ()
    clear_gateway: bool = True
    clear_dns: bool = True
    agent_only: bool = False  # explicitly: a filter that lets only the agent in (no recorder)


def require_allow(allow: Sequence[str], agent_only: bool) -> None:
    """An IP filter that allows only the agent cuts the recorder off the camera: refuse unless asked for."""
    if not allow and not agent_only:
        raise AllowListMissing(
            "restrict_network needs an allow list (--allow ADDRESS, e.g. the recorder); a filter that lets only "
            "the agent in would cut the recorder off. Ask for that explicitly (--agent-only) if it is meant",
            operation="restrict_network",
        )


def allow_list(conn: CameraConn, allow: Sequence[str]) -> list[str]:
    """The requested allow list plus the agent's own source address, ALWAYS (never lock the agent out)."""
    return canonical_networks([*allow, conn.own_address()])


def confirm_reach(conn: CameraConn, what: str = "the change") -> Callable[[], Awaitable[bool]]:
    async def confirm() -> bool:
        # Commit-confirm: the camera must still answer us right after the write, else it is reverted.
        ok = await conn.answers()
        if not ok:
            log.warning("%s: lost access after %s; reverting", conn.host, what)
        return ok

    return confirm


def guarded(conn: CameraConn, setting: engine.Setting) -> engine.Setting:
    """The setting under commit-confirm when its change could cut the agent off (GUARDED)."""
    if setting.name not in GUARDED:
        return setting
    return replace(setting, confirm=confirm_reach(conn, setting.name))


async def camera_subnets(conn: CameraConn) -> list[ipaddress.IPv4Network]:
    """The IPv4 networks the camera's interfaces are on (GetNetworkInterfaces); [] when it does not say."""
    try:
        ifaces = await conn.session.call("GetNetworkInterfaces", optional=True)
    except (AuthFailed, Unreachable):
        raise
    except CameraError:
        return []
    out = []
    for iface in items(ifaces):
        cfg = field(field(iface, "IPv4"), "Config")
        for entry in items(field(cfg, "Manual")) + items(field(cfg, "FromDHCP")):
            addr, plen = text(field(entry, "Address")), field(entry, "PrefixLength")
            try:
                out.append(ipaddress.IPv4Network(f"{addr}/{int(plen)}", strict=False))
            except (TypeError, ValueError):
                continue
    return out


async def gateway_hold(conn: CameraConn, allowed: Sequence[str]) -> str:
    """Why the default gateway must stay ("" when clearing it strands nobody).

    Without a gateway the camera answers only its own subnet: an agent or a recorder outside it would lose the
    camera, and nothing could reach it to put the gateway back (a revert is sent blind, ONVIF has no
    confirm-timer of its own). So the route is checked first; commit-confirm is the second line.
    """
    subnets = await camera_subnets(conn)
    if not subnets:
        return "kept: the camera does not say which subnet it is on, so clearing the gateway could strand it"
    outside = []
    for a in allowed:
        try:
            net = ipaddress.ip_network(a, strict=False)
        except ValueError:
            continue
        if not any(net.version == s.version and net.subnet_of(s) for s in subnets):
            outside.append(a)
    if outside:
        where = ", ".join(str(s) for s in subnets)
        return f"kept: {', '.join(outside)} reach the camera ({where}) only through its gateway"
    return ""


async def restrict_network(conn: CameraConn, spec: RestrictSpec) -> tuple[list[engine.Setting], GoalSpec]:
    """The settings of restrict_network on this camera, and what its goal means here."""
    require_allow(spec.allow, spec.agent_only)
    allowed = allow_list(conn, spec.allow)
    keep = {p.strip().upper() for p in spec.keep_protocols if p.strip()} | MANAGEMENT_PROTOCOLS
    probes = await conn.vendor_probes()
    drivers = probes.present
    goal = GoalSpec()
    out: list[engine.Setting] = []

    caps = await conn.session.capabilities()
    onvif_filter = caps.supports("Network.IPFilter")
    vendor_filter = next((d for d in drivers if "ip_filter" in DRIVERS[d].setting_names), None)
    if onvif_filter or (onvif_filter is None and vendor_filter is None):
        out.append(
            onvif_setting(conn, "onvif.ip_filter", lambda _cur: {"type": "Allow", "addresses": allowed})
        )
        goal.parts["onvif.ip_filter"] = FILTER
    elif vendor_filter is not None:
        # Cameras without the ONVIF IPFilter capability: the vendor filter (Hikvision ipFilter, Axis Network.Filter).
        out.append(vendor_setting(conn, vendor_filter, "ip_filter",
                                  lambda _cur: {"enabled": True, "policy": "allow", "addresses": allowed}))  # fmt: skip
        goal.parts[f"{vendor_filter}.ip_filter"] = FILTER
    else:
        # Never a silent skip: the filter is the heart of the goal, and this device has none.
        reason = (
            "neither ONVIF (IPFilter capability false) nor a vendor API of this camera offers an IP filter"
        )
        goal.rows.append(engine.SettingResult("ip_filter", engine.Outcome.UNSUPPORTED, reason=reason))
        goal.impossible.append(f"{FILTER.what}: {reason}; anyone on the network can reach the camera")
    if spec.clear_gateway:
        hold = await gateway_hold(conn, allowed)
        out.append(replace(onvif_setting(conn, "onvif.gateway", lambda _cur: []), hold=hold))
        goal.parts["onvif.gateway"] = Part("default gateway (a way out of the site network)", absent_ok=False)
    else:
        goal.remaining.append("default gateway kept on request: the camera still has a way out")
    if spec.clear_dns:
        out.append(onvif_setting(conn, "onvif.dns", lambda _cur: {"from_dhcp": False, "servers": []}))
        goal.parts["onvif.dns"] = DNS
    else:
        goal.remaining.append("DNS servers kept on request")
    if spec.ntp_server:
        server = spec.ntp_server
        out.append(onvif_setting(conn, "onvif.ntp", lambda _cur: {"from_dhcp": False, "servers": [server]}))
    if spec.keep_protocols:

        def want_protocols(cur: engine.Json) -> engine.Json:
            return {n: {**v, "enabled": bool(v["enabled"]) and n.upper() in keep} for n, v in cur.items()}

        out.append(onvif_setting(conn, "onvif.protocols", want_protocols))
        goal.parts["onvif.protocols"] = PROTOCOLS
        if "hikvision" in drivers:

            def want_access(cur: engine.Json) -> engine.Json:
                # Same keep rule as the ONVIF call (both edit one protocol table on Hikvision), so the two
                # settings agree and the second one finds HTTP/HTTPS/RTSP already as wanted.
                return [
                    {**p, "enabled": bool(p["enabled"]) and str(p["protocol"]).upper() in keep} for p in cur
                ]

            out.append(vendor_setting(conn, "hikvision", "admin_accesses", want_access))
            goal.parts["hikvision.admin_accesses"] = Part("Hikvision service ports (SDK 8000 ...)")
    for d in drivers:
        for n in VENDOR_SHELLS.get(d, ()):
            out.append(vendor_setting(conn, d, n, lambda cur: "no" if isinstance(cur, str) else False))
            goal.parts[f"{d}.{n}"] = Part(f"{d} {n}")
    for p in probes.expected_but_unusable():
        vendor_rows(goal, p, {n: n for n in VENDOR_SHELLS.get(p.api, ())})
    return [guarded(conn, s) for s in out], goal


@dataclass(frozen=True)
class IsolationProof:
    source: str
    result: str  # refused | answered | unreachable | skipped

    @property
    def proven(self) -> bool:
        return self.result == "refused"


async def prove_isolation(conn: CameraConn) -> IsolationProof | None:
    """From the configured second local address, the camera must refuse us (camsim/real filters by source)."""
    if not conn.second_source:
        return None
    try:
        result = await probe_from(conn.second_source, conn.host, conn.port)
    except CameraError:
        result = "unreachable"
    return IsolationProof(conn.second_source, result)
