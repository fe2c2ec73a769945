"""Axis VAPIX personality: param.cgi list/update for Brand, Properties, RemoteService, UPnP and Filter."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from camsim import catalog
from camsim.model import Camera, IPFilter
from camsim.vendors.common import (
    BodyTooLarge,
    form_params,
    parse_cidr,
    set_feature_if_changed,
    set_ip_filter,
)

# Parameter names and static values follow the AXIS M1065-LW param.cgi dump (fixtures/
# axis_M1065-LW_param_list.txt, from Kane610/axis, MIT); a subset of groups is served, with the
# camera's own identity and live state substituted.


def _yn(v: bool) -> str:
    return "yes" if v else "no"


def params(cam: Camera) -> list[tuple[str, str]]:
    """Every parameter this simulated camera exposes, in param.cgi order."""
    ident = cam.identity
    n = cam.network
    f = cam.features
    d = cam.feature_detail
    serial = ident.serial
    friendly = f"AXIS {ident.model} - {serial}"
    mac = ident.mac.upper()
    flt = n.ip_filter
    accept = " ".join(f"{a}/{p}" if p != 32 else a for a, p in flt.ipv4) or d.get("filter.accept", "")
    policy = flt.type.lower() if flt.ipv4 else d.get("filter.policy", "allow")
    proto = {p.name: p for p in n.protocols}
    https = proto.get("HTTPS")
    rtsp = proto.get("RTSP")
    remote = d.get("remote_service.mode", "oneclick") if f.get("remote_service") else "no"
    gw = n.gateway[0] if n.gateway else ""
    return [
        ("root.Brand.Brand", "AXIS"),
        ("root.Brand.ProdFullName", f"AXIS {ident.model} Network Camera"),
        ("root.Brand.ProdNbr", ident.model),
        ("root.Brand.ProdShortName", f"AXIS {ident.model}"),
        ("root.Brand.ProdType", "Network Camera"),
        ("root.Brand.ProdVariant", ""),
        ("root.Brand.WebURL", "http://www.axis.com"),
        ("root.HTTPS.Enabled", _yn(bool(https and https.enabled))),
        ("root.HTTPS.Port", str(https.port if https else 443)),
        ("root.Network.DefaultRouter", gw),
        ("root.Network.HostName", n.hostname),
        ("root.Network.IPAddress", n.address),
        ("root.Network.Bonjour.Enabled", "yes"),
        ("root.Network.Bonjour.FriendlyName", friendly),
        ("root.Network.DNSUpdate.DNSName", n.dyndns_name or ""),
        ("root.Network.DNSUpdate.Enabled", _yn(n.dyndns_type != "NoUpdate")),
        ("root.Network.DNSUpdate.TTL", "30"),
        ("root.Network.eth0.IPAddress", n.address),
        ("root.Network.eth0.MACAddress", mac),
        ("root.Network.eth0.SubnetMask", str(ipaddress.IPv4Network(f"0.0.0.0/{n.prefix_length}").netmask)),
        ("root.Network.Filter.Enabled", _yn(bool(flt.ipv4))),
        ("root.Network.Filter.Input.AcceptAddresses", accept),
        ("root.Network.Filter.Input.Policy", policy),
        ("root.Network.Filter.Log.Enabled", "no"),
        ("root.Network.FTP.Enabled", "no"),
        ("root.Network.HTTP.AuthenticationPolicy", "digest"),
        ("root.Network.HTTP.AuthenticationPolicySet", "yes"),
        ("root.Network.HTTP.AuthenticationWithQop", "no"),
        ("root.Network.RTSP.Enabled", _yn(bool(rtsp and rtsp.enabled))),
        ("root.Network.RTSP.Port", str(rtsp.port if rtsp else 554)),
        ("root.Network.SSH.Enabled", "no"),
        ("root.Network.UPnP.Enabled", _yn(bool(f.get("upnp")))),
        ("root.Network.UPnP.FriendlyName", friendly),
        ("root.Network.UPnP.NATTraversal.Active", _yn(bool(f.get("upnp") and f.get("upnp_portmap")))),
        ("root.Network.UPnP.NATTraversal.Enabled", _yn(bool(f.get("upnp_portmap")))),
        ("root.Network.UPnP.NATTraversal.MaxPort", "65535"),
        ("root.Network.UPnP.NATTraversal.MinPort", "32768"),
        ("root.Properties.API.HTTP.Version", "3"),
        ("root.Properties.Firmware.BuildDate", catalog.AXIS_BUILD_DATES.get(ident.firmware, "")),
        ("root.Properties.Firmware.Version", ident.firmware),
        ("root.Properties.HTTPS.HTTPS", "yes"),
        ("root.Properties.RemoteService.RemoteService", "no"),
        ("root.Properties.System.Architecture", "armv7hf"),
        ("root.Properties.System.HardwareID", ident.hardware_id),
        ("root.Properties.System.Language", "English"),
        ("root.Properties.System.SerialNumber", serial),
        ("root.RemoteService.Enabled", remote),
        ("root.RemoteService.ProxyPort", "3128"),
        ("root.RemoteService.ProxyServer", ""),
        ("root.RemoteService.ServerList", d.get("remote_service.servers", "")),
    ]


def _text(body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, text=body, content_type="text/plain")


def _error(message: str) -> web.Response:
    # VAPIX reports parameter errors in the body with HTTP 200, prefixed "# Error:".
    return _text(f"# Error: {message}\n")


def _full(name: str) -> str:
    return name if name.startswith("root.") or name == "root" else f"root.{name}"


def _list(cam: Camera, groups: str | None) -> web.Response:
    allp = params(cam)
    if not groups:
        return _text("".join(f"{k}={v}\n" for k, v in allp))
    out: list[str] = []
    for g in (x.strip() for x in groups.split(",")):
        full = _full(g)
        hits = [(k, v) for k, v in allp if k == full or k.startswith(full + ".") or full == "root"]
        if not hits:
            return _error(f"Error -1 getting param in group '{full}'")
        out += [f"{k}={v}\n" for k, v in hits]
    return _text("".join(out))


_WRITABLE = {
    "root.RemoteService.Enabled",
    "root.Network.UPnP.Enabled",
    "root.Network.UPnP.NATTraversal.Enabled",
    "root.Network.Filter.Enabled",
    "root.Network.Filter.Input.AcceptAddresses",
    "root.Network.Filter.Input.Policy",
}


def _update(cam: Camera, items: list[tuple[str, str]]) -> web.Response:
    known = {k for k, _ in params(cam)}
    updates: dict[str, str] = {}
    for key, value in items:
        if key == "action":
            continue
        full = _full(key)
        if full not in known or full not in _WRITABLE:
            return _error(f"Error setting '{full}' to '{value}'!")
        updates[full] = value
    if not updates:
        return _error("No parameters to update")
    # Validate all values before touching state: a rejected update changes nothing.
    for full, value in updates.items():
        if full == "root.RemoteService.Enabled":
            ok = value in ("oneclick", "yes", "no")
        elif full == "root.Network.Filter.Input.Policy":
            ok = value in ("allow", "deny")
        elif full == "root.Network.Filter.Input.AcceptAddresses":
            try:
                _accept(value)
                ok = True
            except ValueError:
                ok = False
        else:
            ok = value in ("yes", "no")
        if not ok:
            return _error(f"Error setting '{full}' to '{value}'!")
    if "root.RemoteService.Enabled" in updates:
        mode = updates["root.RemoteService.Enabled"]
        if mode != "no" and cam.feature_detail.get("remote_service.mode") != mode:
            cam.feature_detail["remote_service.mode"] = mode
        set_feature_if_changed(cam, "remote_service", mode != "no")
    if "root.Network.UPnP.Enabled" in updates:
        set_feature_if_changed(cam, "upnp", updates["root.Network.UPnP.Enabled"] == "yes")
    if "root.Network.UPnP.NATTraversal.Enabled" in updates:
        set_feature_if_changed(
            cam, "upnp_portmap", updates["root.Network.UPnP.NATTraversal.Enabled"] == "yes"
        )
    _update_filter(cam, updates)
    return _text("OK\n")


def _accept(value: str) -> list[tuple[str, int]]:
    """AcceptAddresses: addresses or networks separated by spaces (commas tolerated)."""
    return [parse_cidr(x) for x in value.replace(",", " ").split() if x]


def _update_filter(cam: Camera, updates: dict[str, str]) -> None:
    keys = (
        "root.Network.Filter.Enabled",
        "root.Network.Filter.Input.AcceptAddresses",
        "root.Network.Filter.Input.Policy",
    )
    if not any(k in updates for k in keys):
        return
    current = {k: v for k, v in params(cam) if k in keys}
    merged = {**current, **{k: v for k, v in updates.items() if k in keys}}
    entries = _accept(merged["root.Network.Filter.Input.AcceptAddresses"])
    policy = merged["root.Network.Filter.Input.Policy"]
    # Keep the list and policy while the filter is off, so re-enabling restores them (as the camera does).
    cam.feature_detail["filter.accept"] = merged["root.Network.Filter.Input.AcceptAddresses"]
    cam.feature_detail["filter.policy"] = policy
    enabled = merged["root.Network.Filter.Enabled"] == "yes"
    new = IPFilter(type="Allow" if policy == "allow" else "Deny", ipv4=entries if enabled else [])
    set_ip_filter(cam, new)


async def handle(camera: Camera, request: web.Request) -> web.Response:
    """Serve one (already authenticated) param.cgi request, GET query or POST form."""
    try:
        items = await form_params(request)
    except BodyTooLarge:
        return _text("# Error: Request too large\n", status=413)
    action = next((v for k, v in items if k == "action"), "")
    if action == "list":
        group = ",".join(v for k, v in items if k == "group") or None
        return _list(camera, group)
    if action == "update":
        return _update(camera, items)
    return _error(f"Invalid action '{action}'" if action else "No action specified")


def server_header(camera: Camera) -> str | None:
    # The contract leaves Axis without a banner; none is recorded in VENDORS.md.
    return None
