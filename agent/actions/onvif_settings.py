"""ONVIF device-management settings as plain JSON values: readers, writers and capability gates."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agent.errors import Unsupported
from agent.onvif_session import OnvifSession

Json = Any


def field(obj: Any, name: str) -> Any:
    """zeep is lenient (DESIGN §4): any element may be missing, so every access goes through here."""
    if obj is None:
        return None
    try:
        return getattr(obj, name, None)
    except (AttributeError, KeyError, TypeError):
        return None


def items(obj: Any) -> list[Any]:
    if obj is None:
        return []
    if isinstance(obj, list | tuple):
        return list(obj)
    return [obj]


def text(obj: Any) -> str:
    return "" if obj is None else str(obj).strip()


def flag(obj: Any) -> bool:
    if isinstance(obj, bool):
        return obj
    return text(obj).lower() in ("true", "1")


# Writes pass idempotent=False: a Set* whose reply was lost may still have reached the camera, so it is only
# retried when the connection never opened (never a duplicate write; the engine's verify reads it back).


async def gate(session: OnvifSession, capability: str) -> None:
    """Raise Unsupported when GetServiceCapabilities said the camera lacks `capability` (Network.IPFilter...).

    A camera that did not say is tried: the call itself answers ActionNotSupported then (optional=True).
    """
    caps = await session.capabilities()
    if caps.supports(capability) is False:
        raise Unsupported(f"capabilities {capability}=false", host=session.host, operation=capability)


# ---- readers (JSON values that compare with engine.same) ----------------------------------------------
async def read_dyndns(s: OnvifSession) -> Json:
    await gate(s, "Network.DynDNS")
    r = await s.call("GetDynamicDNS", optional=True)
    return {"type": text(field(r, "Type")) or "NoUpdate", "name": text(field(r, "Name"))}


async def write_dyndns(s: OnvifSession, v: Json) -> None:
    params: dict[str, Any] = {"Type": v["type"]}
    if v.get("name"):
        # Send the name even for NoUpdate: cameras clear an omitted Name, and a rollback must restore it.
        params["Name"] = v["name"]
    await s.call("SetDynamicDNS", optional=True, idempotent=False, **params)


async def read_zero_configuration(s: OnvifSession) -> Json:
    await gate(s, "Network.ZeroConfiguration")
    r = await s.call("GetZeroConfiguration", optional=True)
    return {"enabled": flag(field(r, "Enabled")), "interface": text(field(r, "InterfaceToken"))}


async def write_zero_configuration(s: OnvifSession, v: Json) -> None:
    await s.call(
        "SetZeroConfiguration",
        optional=True,
        idempotent=False,
        InterfaceToken=v["interface"],
        Enabled=bool(v["enabled"]),
    )


async def read_discovery_mode(s: OnvifSession) -> Json:
    return text(await s.call("GetDiscoveryMode", optional=True)) or "Discoverable"


async def write_discovery_mode(s: OnvifSession, v: Json) -> None:
    await s.call("SetDiscoveryMode", optional=True, idempotent=False, DiscoveryMode=str(v))


def canonical_networks(addresses: list[str]) -> list[str]:
    """'10.0.0.1' -> '10.0.0.1/32', sorted and unique (so equal filters compare equal)."""
    return sorted({str(ipaddress.ip_network(a.strip(), strict=False)) for a in addresses if a.strip()})


async def read_ip_filter(s: OnvifSession) -> Json:
    await gate(s, "Network.IPFilter")
    r = await s.call("GetIPAddressFilter", optional=True)
    nets = []
    for a in items(field(r, "IPv4Address")):
        addr, plen = text(field(a, "Address")), field(a, "PrefixLength")
        if addr:
            nets.append(f"{addr}/{int(plen) if plen is not None else 32}")
    return {"type": text(field(r, "Type")) or "Allow", "addresses": canonical_networks(nets)}


async def write_ip_filter(s: OnvifSession, v: Json) -> None:
    entries = []
    for net in v["addresses"]:
        n = ipaddress.ip_network(net, strict=False)
        entries.append({"Address": str(n.network_address), "PrefixLength": n.prefixlen})
    await s.call(
        "SetIPAddressFilter",
        optional=True,
        idempotent=False,
        IPAddressFilter={"Type": v["type"], "IPv4Address": entries},
    )


async def read_gateway(s: OnvifSession) -> Json:
    r = await s.call("GetNetworkDefaultGateway", optional=True)
    return sorted(text(g) for g in items(field(r, "IPv4Address")) if text(g))


async def write_gateway(s: OnvifSession, v: Json) -> None:
    await s.call("SetNetworkDefaultGateway", optional=True, idempotent=False, IPv4Address=list(v))


def _host_entry(value: str) -> dict[str, str]:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return {"Type": "DNS", "DNSname": value}
    return (
        {"Type": "IPv6", "IPv6Address": value} if ip.version == 6 else {"Type": "IPv4", "IPv4Address": value}
    )


def _host_value(entry: Any) -> str:
    return (
        text(field(entry, "IPv4Address"))
        or text(field(entry, "IPv6Address"))
        or text(field(entry, "DNSname"))
    )


async def read_dns(s: OnvifSession) -> Json:
    r = await s.call("GetDNS", optional=True)
    servers = [_host_value(e) for e in items(field(r, "DNSManual"))]
    return {"from_dhcp": flag(field(r, "FromDHCP")), "servers": [x for x in servers if x]}


async def write_dns(s: OnvifSession, v: Json) -> None:
    manual = [_host_entry(x) for x in v["servers"] if _is_ip(x)]  # DNSManual holds addresses only
    await s.call("SetDNS", optional=True, idempotent=False, FromDHCP=bool(v["from_dhcp"]), DNSManual=manual)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


async def read_ntp(s: OnvifSession) -> Json:
    await gate(s, "Network.NTP")
    r = await s.call("GetNTP", optional=True)
    servers = [_host_value(e) for e in items(field(r, "NTPManual"))]
    return {"from_dhcp": flag(field(r, "FromDHCP")), "servers": [x for x in servers if x]}


async def write_ntp(s: OnvifSession, v: Json) -> None:
    manual = [_host_entry(x) for x in v["servers"]]
    await s.call("SetNTP", optional=True, idempotent=False, FromDHCP=bool(v["from_dhcp"]), NTPManual=manual)


async def read_protocols(s: OnvifSession) -> Json:
    out: dict[str, Json] = {}
    for p in items(await s.call("GetNetworkProtocols", optional=True)):
        name = text(field(p, "Name"))
        if name:
            ports = [int(x) for x in items(field(p, "Port")) if x is not None]
            out[name] = {"enabled": flag(field(p, "Enabled")), "ports": ports}
    return out


async def write_protocols(s: OnvifSession, v: Json) -> None:
    # Only the protocols that differ are sent: a camera rejects the whole call on any unknown name.
    current = await read_protocols(s)
    changed = [
        {"Name": name, "Enabled": bool(want["enabled"]), "Port": list(want["ports"])}
        for name, want in v.items()
        if current.get(name) != want
    ]
    if changed:
        await s.call("SetNetworkProtocols", optional=True, idempotent=False, NetworkProtocols=changed)


@dataclass(frozen=True)
class OnvifSetting:
    """Reader/writer pair of one ONVIF setting."""

    name: str
    read: Callable[[OnvifSession], Awaitable[Json]]
    write: Callable[[OnvifSession, Json], Awaitable[None]]


ONVIF_SETTINGS: dict[str, OnvifSetting] = {
    s.name: s
    for s in (
        OnvifSetting("onvif.dyndns", read_dyndns, write_dyndns),
        OnvifSetting("onvif.zero_configuration", read_zero_configuration, write_zero_configuration),
        OnvifSetting("onvif.discovery_mode", read_discovery_mode, write_discovery_mode),
        OnvifSetting("onvif.ip_filter", read_ip_filter, write_ip_filter),
        OnvifSetting("onvif.gateway", read_gateway, write_gateway),
        OnvifSetting("onvif.dns", read_dns, write_dns),
        OnvifSetting("onvif.ntp", read_ntp, write_ntp),
        OnvifSetting("onvif.protocols", read_protocols, write_protocols),
    )
}
