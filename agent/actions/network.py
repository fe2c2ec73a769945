"""restrict_network: IP filter (agent always allowed, commit-confirm), gateway/DNS cleared, local NTP, protocols."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from agent.actions import engine
from agent.actions.cloud import onvif_setting
from agent.actions.conn import CameraConn, probe_from, vendor_setting
from agent.actions.onvif_settings import canonical_networks, gate
from agent.drivers import DRIVERS
from agent.errors import CameraError, Unsupported

log = logging.getLogger(__name__)

#: Never switched off whatever the keep-list says: the agent manages the camera over HTTP (ONVIF + vendor APIs).
MANAGEMENT_PROTOCOLS = frozenset({"HTTP"})
#: Vendor shells switched off by restrict_network (VENDORS.md: telnetd/ssh on old Hikvision, Dahua Telnet).
VENDOR_SHELLS: dict[str, tuple[str, ...]] = {"hikvision": ("telnet", "ssh"), "dahua": ("telnet",)}


@dataclass(frozen=True)
class RestrictSpec:
    allow: tuple[str, ...] = ()
    ntp_server: str = ""
    keep_protocols: tuple[str, ...] = ()
    clear_gateway: bool = True
    clear_dns: bool = True


def allow_list(conn: CameraConn, allow: Sequence[str]) -> list[str]:
    """The requested allow list plus the agent's own source address, ALWAYS (never lock the agent out)."""
    return canonical_networks([*allow, conn.own_address()])


def _confirm(conn: CameraConn) -> Callable[[], Awaitable[bool]]:
    async def confirm() -> bool:
        # Commit-confirm: the camera must still answer us right after the filter write, else it is reverted.
        ok = await conn.reachable()
        if not ok:
            log.warning("%s: lost access after the IP filter change; reverting", conn.host)
        return ok

    return confirm


async def _onvif_filter_supported(conn: CameraConn) -> bool:
    try:
        await gate(conn.session, "Network.IPFilter")
    except Unsupported:
        return False
    return True


async def restrict_network(conn: CameraConn, spec: RestrictSpec) -> list[engine.Setting]:
    allowed = allow_list(conn, spec.allow)
    keep = {p.strip().upper() for p in spec.keep_protocols if p.strip()} | MANAGEMENT_PROTOCOLS
    drivers = await conn.vendor_drivers()
    out: list[engine.Setting] = []

    if await _onvif_filter_supported(conn):
        s = onvif_setting(conn, "onvif.ip_filter", lambda _cur: {"type": "Allow", "addresses": allowed})
        out.append(replace(s, confirm=_confirm(conn)))
    else:
        # Cameras without the ONVIF IPFilter capability: the vendor filter (Hikvision ipFilter, Axis Network.Filter).
        for d in drivers:
            if "ip_filter" in DRIVERS[d].setting_names:
                out.append(
                    vendor_setting(
                        conn,
                        d,
                        "ip_filter",
                        lambda _cur: {"enabled": True, "policy": "allow", "addresses": allowed},
                        _confirm(conn),
                    )
                )
                break
    if spec.clear_gateway:
        out.append(onvif_setting(conn, "onvif.gateway", lambda _cur: []))
    if spec.clear_dns:
        out.append(onvif_setting(conn, "onvif.dns", lambda _cur: {"from_dhcp": False, "servers": []}))
    if spec.ntp_server:
        server = spec.ntp_server
        out.append(onvif_setting(conn, "onvif.ntp", lambda _cur: {"from_dhcp": False, "servers": [server]}))
    if spec.keep_protocols:

        def want_protocols(cur: engine.Json) -> engine.Json:
            return {n: {**v, "enabled": bool(v["enabled"]) and n.upper() in keep} for n, v in cur.items()}

        out.append(onvif_setting(conn, "onvif.protocols", want_protocols))
        if "hikvision" in drivers:

            def want_access(cur: engine.Json) -> engine.Json:
                # Same keep rule as the ONVIF call (both edit one protocol table on Hikvision), so the two
                # settings agree and the second one finds HTTP/HTTPS/RTSP already as wanted.
                return [
                    {**p, "enabled": bool(p["enabled"]) and str(p["protocol"]).upper() in keep} for p in cur
                ]

            out.append(vendor_setting(conn, "hikvision", "admin_accesses", want_access))
    for d in drivers:
        out += [vendor_setting(conn, d, n, lambda cur: "no" if isinstance(cur, str) else False)
                for n in VENDOR_SHELLS.get(d, ())]  # fmt: skip
    return out


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
