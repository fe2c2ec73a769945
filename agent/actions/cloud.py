"""disable_cloud: the per-vendor list of settings that switch off cloud/P2P/DDNS/UPnP (DESIGN §4 table)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agent.actions import engine
from agent.actions.conn import CameraConn, vendor_setting
from agent.actions.goal import GoalSpec, Part, vendor_rows
from agent.actions.onvif_settings import ONVIF_SETTINGS

# Vendor switches per driver (VENDORS.md §3-5): Hikvision EZVIZ/Hik-Connect, Ehome (ISUP), UPnP and its port
# mappings, DDNS; Dahua T2UServer (P2P/Easy4ip/DMSS), UPnP, DDNS; Axis RemoteService (O3C) and UPnP.
VENDOR_CLOUD: dict[str, tuple[str, ...]] = {
    "hikvision": ("ezviz", "ehome", "upnp_portmap", "upnp", "ddns"),
    "dahua": ("t2u", "upnp", "ddns"),
    "axis": ("remote_service", "upnp"),
}
# ONVIF part, for every vendor: DynDNS NoUpdate, zero-configuration off, WS-Discovery off.
ONVIF_CLOUD: tuple[str, ...] = ("onvif.dyndns", "onvif.zero_configuration", "onvif.discovery_mode")
#: Every feature name a DisableCloud command may select.
FEATURES: frozenset[str] = frozenset(
    {n for names in VENDOR_CLOUD.values() for n in names} | {n.split(".", 1)[1] for n in ONVIF_CLOUD}
)


def off(current: engine.Json) -> engine.Json:
    """The 'off' value in the camera's own vocabulary: False, or 'no' for VAPIX yes/no/oneclick strings."""
    return "no" if isinstance(current, str) else False


def _want_dyndns(current: engine.Json) -> engine.Json:
    return {**current, "type": "NoUpdate"}


def _want_zero_conf(current: engine.Json) -> engine.Json:
    return {**current, "enabled": False}


def _want_non_discoverable(_current: engine.Json) -> engine.Json:
    return "NonDiscoverable"


# What each one leaves exposed while on. A camera without DynDNS or zero-configuration simply has none (an
# answer); WS-Discovery is mandatory in ONVIF (unless DiscoveryNotSupported), so an unreadable mode is unknown.
ONVIF_PARTS = {
    "onvif.dyndns": Part("ONVIF dynamic DNS updates"),
    "onvif.zero_configuration": Part("zero-configuration (link-local) address"),
    "onvif.discovery_mode": Part("WS-Discovery (the camera answers probes)", absent_ok=False),
}
VENDOR_WHAT = {
    "ezviz": "Hik-Connect/EZVIZ cloud", "ehome": "ISUP/EHome platform", "upnp_portmap": "UPnP port mappings",
    "upnp": "UPnP", "ddns": "vendor DDNS", "t2u": "P2P (Easy4ip/DMSS)", "remote_service": "O3C remote service",
}  # fmt: skip

_ONVIF_WANT = {
    "onvif.dyndns": _want_dyndns,
    "onvif.zero_configuration": _want_zero_conf,
    "onvif.discovery_mode": _want_non_discoverable,
}


def onvif_setting(conn: CameraConn, name: str, want: Callable[[engine.Json], engine.Json]) -> engine.Setting:
    spec = ONVIF_SETTINGS[name]

    async def read() -> engine.Json:
        return await spec.read(conn.session)

    async def write(value: engine.Json) -> None:
        await spec.write(conn.session, value)

    return engine.Setting(name, read, write, want)


async def disable_cloud(
    conn: CameraConn, features: Sequence[str] = ()
) -> tuple[list[engine.Setting], GoalSpec]:
    """Settings for disable_cloud on this camera, and its goal here (no vendor cloud, P2P, UPnP, DDNS or
    discovery left on); `features` (empty = all) selects by short name."""
    wanted = {f.strip().lower() for f in features if f.strip()}

    def selected(short: str) -> bool:
        return not wanted or short in wanted

    goal = GoalSpec()
    out = [onvif_setting(conn, n, _ONVIF_WANT[n]) for n in ONVIF_CLOUD if selected(n.split(".", 1)[1])]
    goal.parts.update({s.name: ONVIF_PARTS[s.name] for s in out})
    probes = await conn.vendor_probes()
    for driver in probes.present:
        for n in VENDOR_CLOUD.get(driver, ()):
            if selected(n):
                out.append(vendor_setting(conn, driver, n, off))
                goal.parts[f"{driver}.{n}"] = Part(f"{driver} {VENDOR_WHAT[n]}")
    for p in probes.expected_but_unusable():
        # The evidence names this maker, but its API could not be used: its cloud switches are unknown.
        vendor_rows(goal, p, {n: VENDOR_WHAT[n] for n in VENDOR_CLOUD.get(p.api, ()) if selected(n)})
    return out, goal
