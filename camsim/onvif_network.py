"""ONVIF Device service: network configuration operations (interfaces, DNS, NTP, gateway, filters ...)."""

from __future__ import annotations

import functools
import ipaddress

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from camsim import soap
from camsim.model import Protocol
from camsim.onvif_common import (
    Ctx,
    Handler,
    b,
    child,
    children,
    ipv4,
    is_ipv4,
    is_ipv6,
    parse_bool,
    parse_int,
    req_text,
    text,
    x,
)

IFACE = "eth0"
ONVIF_PROTOCOLS = ("HTTP", "HTTPS", "RTSP")
MAX_IP_FILTERS = 16  # Hikvision ISAPI ipFilter also caps the list; a fuller list is refused


@functools.lru_cache(maxsize=4096)
def _mac_bytes(mac: str) -> tuple[int, ...]:
    try:
        b6 = tuple(int(p, 16) for p in mac.split(":"))[:6]
    except ValueError:
        return (0, 0, 0, 0, 0, 0)
    return b6 if len(b6) == 6 else (0, 0, 0, 0, 0, 0)


@functools.lru_cache(maxsize=4096)
def _link_local_for(mac: str) -> str:
    """EUI-64 link-local address, as the Hikvision recording shows (fe80::2a57:beff:fe65:7dd5)."""
    m = _mac_bytes(mac)
    eui = [m[0] ^ 0x02, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]]
    groups = [(eui[i] << 8) | eui[i + 1] for i in range(0, 8, 2)]
    return str(ipaddress.IPv6Address("fe80::" + ":".join(f"{g:x}" for g in groups)))


def _link_local(ctx: Ctx) -> str:
    return _link_local_for(ctx.camera.identity.mac.lower())


def _zeroconf_address(ctx: Ctx) -> str:
    m = _mac_bytes(ctx.camera.identity.mac)
    return f"169.254.{max(1, min(254, m[4]))}.{max(1, min(254, m[5]))}"


def get_network_interfaces(ctx: Ctx) -> str:
    n = ctx.camera.network
    ll = _link_local(ctx)
    return (
        f'<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="{IFACE}">'
        "<tt:Enabled>true</tt:Enabled>"
        f"<tt:Info><tt:Name>{IFACE}</tt:Name><tt:HwAddress>{x(ctx.camera.identity.mac.lower())}</tt:HwAddress>"
        "<tt:MTU>1500</tt:MTU></tt:Info>"
        "<tt:Link><tt:AdminSettings><tt:AutoNegotiation>true</tt:AutoNegotiation><tt:Speed>100</tt:Speed>"
        "<tt:Duplex>Full</tt:Duplex></tt:AdminSettings><tt:OperSettings><tt:AutoNegotiation>true"
        "</tt:AutoNegotiation><tt:Speed>100</tt:Speed><tt:Duplex>Full</tt:Duplex></tt:OperSettings>"
        "<tt:InterfaceType>0</tt:InterfaceType></tt:Link>"
        f"<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config><tt:Manual><tt:Address>{x(n.address)}</tt:Address>"
        f"<tt:PrefixLength>{n.prefix_length}</tt:PrefixLength></tt:Manual><tt:DHCP>false</tt:DHCP>"
        "</tt:Config></tt:IPv4>"
        "<tt:IPv6><tt:Enabled>true</tt:Enabled><tt:Config><tt:AcceptRouterAdvert>false</tt:AcceptRouterAdvert>"
        f"<tt:DHCP>Off</tt:DHCP><tt:LinkLocal><tt:Address>{ll}</tt:Address><tt:PrefixLength>64"
        f"</tt:PrefixLength></tt:LinkLocal><tt:FromDHCP><tt:Address>{ll}</tt:Address>"
        "<tt:PrefixLength>64</tt:PrefixLength></tt:FromDHCP></tt:Config></tt:IPv6>"
        "</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>"
    )


# ---- protocols ----------------------------------------------------------------------------------------
def get_network_protocols(ctx: Ctx) -> str:
    out = ["<tds:GetNetworkProtocolsResponse>"]
    for p in ctx.camera.network.protocols:
        if p.name in ONVIF_PROTOCOLS:  # ONVIF only knows these three; SDK/telnet ports stay invisible
            out.append(
                f"<tds:NetworkProtocols><tt:Name>{p.name}</tt:Name><tt:Enabled>{b(p.enabled)}</tt:Enabled>"
                f"<tt:Port>{p.port}</tt:Port></tds:NetworkProtocols>"
            )
    out.append("</tds:GetNetworkProtocolsResponse>")
    return "".join(out)


def set_network_protocols(ctx: Ctx) -> str:
    cam = ctx.camera
    items = children(ctx.op, "NetworkProtocols")
    if not items:
        raise soap.SoapError("Sender", ["InvalidArgs"], "NetworkProtocols required")
    current = {p.name: p for p in cam.network.protocols}
    planned: dict[str, tuple[bool, int]] = {}
    for it in items:
        name = req_text(it, "Name")
        if name not in ONVIF_PROTOCOLS or name not in current:
            raise soap.invalid_arg_val("ServiceNotSupported", f"Protocol {name} not supported")
        enabled = parse_bool(text(it, "Enabled"), "Enabled")
        ports = [parse_int(p.text, "Port", 1, 65535) for p in children(it, "Port")]
        planned[name] = (enabled, ports[0] if ports else current[name].port)
    # All-or-nothing: check port clashes against the resulting table before touching anything.
    final = {n: planned.get(n, (p.enabled, p.port)) for n, p in current.items()}
    used: dict[int, str] = {}
    for n, (en, port) in final.items():
        if en and port in used:
            raise soap.invalid_arg_val("PortAlreadyInUse", f"Port {port} already used by {used[port]}")
        if en:
            used[port] = n
    for name, (enabled, port) in planned.items():
        idx = next(i for i, p in enumerate(cam.network.protocols) if p.name == name)
        cam.network.protocols[idx] = Protocol(name, enabled, port)
        cam.record_write(f"protocol.{name.lower()}")
    return "<tds:SetNetworkProtocolsResponse></tds:SetNetworkProtocolsResponse>"


# ---- DNS / NTP / gateway ----------------------------------------------------------------------------
def _ip_item(tag: str, value: str) -> str:
    if is_ipv4(value):
        return f"<tt:{tag}><tt:Type>IPv4</tt:Type><tt:IPv4Address>{value}</tt:IPv4Address></tt:{tag}>"
    if is_ipv6(value):
        return f"<tt:{tag}><tt:Type>IPv6</tt:Type><tt:IPv6Address>{value}</tt:IPv6Address></tt:{tag}>"
    return f"<tt:{tag}><tt:Type>DNS</tt:Type><tt:DNSname>{x(value)}</tt:DNSname></tt:{tag}>"


def _read_ip_items(ctx: Ctx, tag: str, allow_dns: bool) -> list[str]:
    out: list[str] = []
    for it in children(ctx.op, tag):
        kind = text(it, "Type") or "IPv4"
        if kind == "IPv4":
            out.append(ipv4(text(it, "IPv4Address")))
        elif kind == "IPv6":
            v = text(it, "IPv6Address") or ""
            if not is_ipv6(v):
                raise soap.invalid_arg_val("InvalidIPv6Address", "Invalid IPv6 address")
            out.append(v)
        elif kind == "DNS" and allow_dns:
            name = text(it, "DNSname") or ""
            labels = name.rstrip(".").split(".")
            if (
                not name
                or len(name) > 253
                or not all(
                    lab and len(lab) <= 63 and all(c.isalnum() or c == "-" for c in lab) for lab in labels
                )
            ):
                raise soap.invalid_arg_val("InvalidDnsName", "Invalid DNS name")
            out.append(name)
        else:
            raise soap.invalid_arg_val(reason=f"Unsupported address type {kind}")
    return out


def get_dns(ctx: Ctx) -> str:
    n = ctx.camera.network
    sd = "".join(f"<tt:SearchDomain>{x(d)}</tt:SearchDomain>" for d in n.search_domain)
    manual = "".join(_ip_item("DNSManual", d) for d in n.dns)
    return (
        f"<tds:GetDNSResponse><tds:DNSInformation><tt:FromDHCP>{b(n.dns_from_dhcp)}</tt:FromDHCP>{sd}{manual}"
        "</tds:DNSInformation></tds:GetDNSResponse>"
    )


def set_dns(ctx: Ctx) -> str:
    from_dhcp = parse_bool(req_text(ctx.op, "FromDHCP"), "FromDHCP")
    servers = _read_ip_items(ctx, "DNSManual", allow_dns=False)
    domains = [(d.text or "").strip() for d in children(ctx.op, "SearchDomain") if (d.text or "").strip()]
    n = ctx.camera.network
    n.dns_from_dhcp, n.dns, n.search_domain = from_dhcp, servers, domains
    ctx.camera.record_write("dns")
    return "<tds:SetDNSResponse></tds:SetDNSResponse>"


def get_ntp(ctx: Ctx) -> str:
    ctx.require("NTP")
    n = ctx.camera.network
    manual = "".join(_ip_item("NTPManual", s) for s in n.ntp)
    return (
        f"<tds:GetNTPResponse><tds:NTPInformation><tt:FromDHCP>{b(n.ntp_from_dhcp)}</tt:FromDHCP>{manual}"
        "</tds:NTPInformation></tds:GetNTPResponse>"
    )


def set_ntp(ctx: Ctx) -> str:
    ctx.require("NTP")
    from_dhcp = parse_bool(req_text(ctx.op, "FromDHCP"), "FromDHCP")
    servers = _read_ip_items(ctx, "NTPManual", allow_dns=True)
    n = ctx.camera.network
    n.ntp_from_dhcp, n.ntp = from_dhcp, servers
    ctx.camera.record_write("ntp")
    return "<tds:SetNTPResponse></tds:SetNTPResponse>"


def get_network_default_gateway(ctx: Ctx) -> str:
    # The Hikvision recording (device.GetNetworkDefaultGateway.xml) puts the addresses in the tds
    # namespace, not tt as the schema says, and always sends an empty IPv6Address; zeep copes.
    p = "tds" if ctx.hik else "tt"
    v4 = "".join(f"<{p}:IPv4Address>{x(g)}</{p}:IPv4Address>" for g in ctx.camera.network.gateway if g)
    v6 = "<tds:IPv6Address></tds:IPv6Address>" if ctx.hik else ""
    return (
        f"<tds:GetNetworkDefaultGatewayResponse><tds:NetworkGateway>{v4}{v6}</tds:NetworkGateway>"
        "</tds:GetNetworkDefaultGatewayResponse>"
    )


def set_network_default_gateway(ctx: Ctx) -> str:
    gws: list[str] = []
    for el in children(ctx.op, "IPv4Address"):
        gw = ipv4(el.text, "InvalidGatewayAddress")
        addr = ipaddress.IPv4Address(gw)
        if addr.is_multicast or addr.is_unspecified or gw == "255.255.255.255":
            raise soap.invalid_arg_val("InvalidGatewayAddress", "Invalid gateway address")
        gws.append(gw)
    for el in children(ctx.op, "IPv6Address"):
        if not is_ipv6((el.text or "").strip()):
            raise soap.invalid_arg_val("InvalidGatewayAddress", "Invalid gateway address")
    ctx.camera.network.gateway = gws  # an empty list removes the default route: the "cut WAN" lever
    ctx.camera.record_write("gateway")
    return "<tds:SetNetworkDefaultGatewayResponse></tds:SetNetworkDefaultGatewayResponse>"


# ---- zero-conf / discovery / dyndns -----------------------------------------------------------------
def get_zero_configuration(ctx: Ctx) -> str:
    ctx.require("ZeroConfiguration")
    on = ctx.camera.network.zero_configuration
    addr = f"<tt:Addresses>{_zeroconf_address(ctx)}</tt:Addresses>" if on else ""
    return (
        "<tds:GetZeroConfigurationResponse><tds:ZeroConfiguration>"
        f"<tt:InterfaceToken>{IFACE}</tt:InterfaceToken><tt:Enabled>{b(on)}</tt:Enabled>{addr}"
        "</tds:ZeroConfiguration></tds:GetZeroConfigurationResponse>"
    )


def set_zero_configuration(ctx: Ctx) -> str:
    ctx.require("ZeroConfiguration")
    if req_text(ctx.op, "InterfaceToken") != IFACE:
        raise soap.invalid_arg_val("InvalidNetworkInterface", "No such network interface")
    ctx.camera.network.zero_configuration = parse_bool(text(ctx.op, "Enabled"), "Enabled")
    ctx.camera.record_write("zero_configuration")
    return "<tds:SetZeroConfigurationResponse></tds:SetZeroConfigurationResponse>"


def get_discovery_mode(ctx: Ctx) -> str:
    mode = ctx.camera.network.discovery_mode
    return f"<tds:GetDiscoveryModeResponse><tds:DiscoveryMode>{mode}</tds:DiscoveryMode></tds:GetDiscoveryModeResponse>"


def set_discovery_mode(ctx: Ctx) -> str:
    mode = req_text(ctx.op, "DiscoveryMode")
    if mode == "Discoverable":
        ctx.camera.network.discovery_mode = "Discoverable"
    elif mode == "NonDiscoverable":
        ctx.camera.network.discovery_mode = "NonDiscoverable"
    else:
        raise soap.invalid_arg_val(reason="DiscoveryMode must be Discoverable or NonDiscoverable")
    ctx.camera.record_write("discovery_mode")
    return "<tds:SetDiscoveryModeResponse></tds:SetDiscoveryModeResponse>"


def get_dynamic_dns(ctx: Ctx) -> str:
    ctx.require("DynDNS")
    n = ctx.camera.network
    name = f"<tt:Name>{x(n.dyndns_name)}</tt:Name>" if n.dyndns_name else ""
    return (
        f"<tds:GetDynamicDNSResponse><tds:DynamicDNSInformation><tt:Type>{n.dyndns_type}</tt:Type>{name}"
        "</tds:DynamicDNSInformation></tds:GetDynamicDNSResponse>"
    )


def set_dynamic_dns(ctx: Ctx) -> str:
    ctx.require("DynDNS")
    kind = req_text(ctx.op, "Type")
    name = text(ctx.op, "Name") or None
    n = ctx.camera.network
    if kind == "NoUpdate":
        n.dyndns_type = "NoUpdate"
    elif kind == "ClientUpdates":
        n.dyndns_type = "ClientUpdates"
    elif kind == "ServerUpdates":
        n.dyndns_type = "ServerUpdates"
    else:
        raise soap.invalid_arg_val(reason="Type must be NoUpdate, ClientUpdates or ServerUpdates")
    n.dyndns_name = name
    ctx.camera.record_write("dyndns")
    return "<tds:SetDynamicDNSResponse></tds:SetDynamicDNSResponse>"


# ---- IP address filter ------------------------------------------------------------------------------
def _read_filter_entries(el: etree._Element) -> list[tuple[str, int]]:
    if children(el, "IPv6Address"):
        # IPVersion6 is false in our capabilities; IPv6 filters cannot be honoured.
        raise soap.invalid_arg_val("InvalidIPv6Address", "IPv6 filtering not supported")
    out: list[tuple[str, int]] = []
    for a in children(el, "IPv4Address"):
        addr = ipv4(text(a, "Address"))
        plen = parse_int(text(a, "PrefixLength"), "PrefixLength", 0, 32, "InvalidIPv4Address")
        out.append((addr, plen))
    return out


def get_ip_address_filter(ctx: Ctx) -> str:
    ctx.require("IPFilter")
    f = ctx.camera.network.ip_filter
    entries = "".join(
        f"<tt:IPv4Address><tt:Address>{a}</tt:Address><tt:PrefixLength>{p}</tt:PrefixLength></tt:IPv4Address>"
        for a, p in f.ipv4
    )
    return (
        f"<tds:GetIPAddressFilterResponse><tds:IPAddressFilter><tt:Type>{f.type}</tt:Type>{entries}"
        "</tds:IPAddressFilter></tds:GetIPAddressFilterResponse>"
    )


def _filter_arg(ctx: Ctx) -> tuple[str | None, list[tuple[str, int]]]:
    el = child(ctx.op, "IPAddressFilter")
    if el is None:
        raise soap.SoapError("Sender", ["InvalidArgs"], "IPAddressFilter required")
    kind = text(el, "Type")
    if kind is not None and kind not in ("Allow", "Deny"):
        raise soap.invalid_arg_val(reason="Type must be Allow or Deny")
    return kind, _read_filter_entries(el)


def set_ip_address_filter(ctx: Ctx) -> str:
    ctx.require("IPFilter")
    kind, entries = _filter_arg(ctx)
    if kind is None:
        raise soap.SoapError("Sender", ["InvalidArgs"], "Type required")
    if len(entries) > MAX_IP_FILTERS:
        raise soap.operation_prohibited("IPFilterListIsFull", "IP filter list is full")
    f = ctx.camera.network.ip_filter
    f.type = "Allow" if kind == "Allow" else "Deny"
    f.ipv4 = entries
    ctx.camera.record_write("ip_filter")
    return "<tds:SetIPAddressFilterResponse></tds:SetIPAddressFilterResponse>"


def add_ip_address_filter(ctx: Ctx) -> str:
    ctx.require("IPFilter")
    _, entries = _filter_arg(ctx)  # Core: Add ignores Type
    f = ctx.camera.network.ip_filter
    new = [e for e in entries if e not in f.ipv4]
    if len(f.ipv4) + len(new) > MAX_IP_FILTERS:
        raise soap.operation_prohibited("IPFilterListIsFull", "IP filter list is full")
    f.ipv4 = [*f.ipv4, *new]
    ctx.camera.record_write("ip_filter")
    return "<tds:AddIPAddressFilterResponse></tds:AddIPAddressFilterResponse>"


def remove_ip_address_filter(ctx: Ctx) -> str:
    ctx.require("IPFilter")
    _, entries = _filter_arg(ctx)
    f = ctx.camera.network.ip_filter
    missing = [e for e in entries if e not in f.ipv4]
    if missing:
        raise soap.invalid_arg_val("NoIPv4Address", "No such IPv4 address in the filter")
    f.ipv4 = [e for e in f.ipv4 if e not in entries]
    ctx.camera.record_write("ip_filter")
    return "<tds:RemoveIPAddressFilterResponse></tds:RemoveIPAddressFilterResponse>"


HANDLERS: dict[str, Handler] = {
    "GetNetworkInterfaces": get_network_interfaces,
    "GetNetworkProtocols": get_network_protocols,
    "SetNetworkProtocols": set_network_protocols,
    "GetDNS": get_dns,
    "SetDNS": set_dns,
    "GetNTP": get_ntp,
    "SetNTP": set_ntp,
    "GetNetworkDefaultGateway": get_network_default_gateway,
    "SetNetworkDefaultGateway": set_network_default_gateway,
    "GetZeroConfiguration": get_zero_configuration,
    "SetZeroConfiguration": set_zero_configuration,
    "GetDiscoveryMode": get_discovery_mode,
    "SetDiscoveryMode": set_discovery_mode,
    "GetDynamicDNS": get_dynamic_dns,
    "SetDynamicDNS": set_dynamic_dns,
    "GetIPAddressFilter": get_ip_address_filter,
    "SetIPAddressFilter": set_ip_address_filter,
    "AddIPAddressFilter": add_ip_address_filter,
    "RemoveIPAddressFilter": remove_ip_address_filter,
}
