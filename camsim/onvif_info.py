"""ONVIF Device service: identity, time, services and capabilities operations."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from camsim import soap
from camsim.onvif_common import Ctx, Handler, b, child, children, parse_bool, parse_int, req_text, text, x

# Service versions as the gSOAP recording (GetServices.xml) reports them.
_SERVICES = (
    ("device", "http://www.onvif.org/ver10/device/wsdl", "device_service", 2, 42),
    ("media", "http://www.onvif.org/ver10/media/wsdl", "Media", 2, 41),
    ("events", "http://www.onvif.org/ver10/events/wsdl", "Events", 2, 40),
    ("deviceio", "http://www.onvif.org/ver10/deviceIO/wsdl", "DeviceIO", 2, 20),
    ("ptz", "http://www.onvif.org/ver20/ptz/wsdl", "PTZ", 2, 41),
    ("imaging", "http://www.onvif.org/ver20/imaging/wsdl", "Imaging", 2, 30),
    ("recording", "http://www.onvif.org/ver10/recording/wsdl", "Recording", 2, 40),
)


def _xaddr(ctx: Ctx, path: str) -> str:
    # Hikvision serves each service on its own path; gSOAP IPNC firmwares put them all on /onvif/services.
    base = ctx.base_url()
    if ctx.hik:
        return f"{base}/onvif/{path}"
    return f"{base}/onvif/services" if path != "device_service" else f"{base}/onvif/device_service"


def get_system_date_and_time(ctx: Ctx) -> str:
    now = datetime.fromtimestamp(ctx.camera.now(), tz=UTC)
    t = (
        f"<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
        f"<tt:Second>{now.second}</tt:Second></tt:Time>"
        f"<tt:Date><tt:Year>{now.year}</tt:Year><tt:Month>{now.month}</tt:Month>"
        f"<tt:Day>{now.day}</tt:Day></tt:Date>"
    )
    # The model keeps no DateTimeType; a camera whose clock is off is, by definition, not NTP-synced.
    dtt = "NTP" if ctx.camera.clock_skew_s == 0 and ctx.camera.network.ntp else "Manual"
    # Hikvision adds LocalDateTime (the camera runs UTC here, so it equals UTCDateTime); the gSOAP
    # recording omits it, which Core allows.
    local = f"<tt:LocalDateTime>{t}</tt:LocalDateTime>" if ctx.hik else ""
    tz = "CST-0:00:00" if ctx.hik else "UTC0"
    return (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        f"<tt:DateTimeType>{dtt}</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        f"<tt:TimeZone><tt:TZ>{tz}</tt:TZ></tt:TimeZone><tt:UTCDateTime>{t}</tt:UTCDateTime>{local}"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def set_system_date_and_time(ctx: Ctx) -> str:
    op = ctx.op
    kind = req_text(op, "DateTimeType")
    if kind not in ("Manual", "NTP"):
        raise soap.invalid_arg_val(reason="DateTimeType must be Manual or NTP")
    parse_bool(text(op, "DaylightSavings") or "false", "DaylightSavings")
    utc = child(op, "UTCDateTime")
    if kind == "Manual":
        if utc is None:
            raise soap.invalid_arg_val("InvalidDateTime", "UTCDateTime required for Manual")
        d, t = child(utc, "Date"), child(utc, "Time")
        if d is None or t is None:
            raise soap.invalid_arg_val("InvalidDateTime", "UTCDateTime needs Date and Time")
        try:
            when = datetime(
                parse_int(text(d, "Year"), "Year", 1970, 2100, "InvalidDateTime"),
                parse_int(text(d, "Month"), "Month", 1, 12, "InvalidDateTime"),
                parse_int(text(d, "Day"), "Day", 1, 31, "InvalidDateTime"),
                parse_int(text(t, "Hour"), "Hour", 0, 23, "InvalidDateTime"),
                parse_int(text(t, "Minute"), "Minute", 0, 59, "InvalidDateTime"),
                parse_int(text(t, "Second"), "Second", 0, 60, "InvalidDateTime"),
                tzinfo=UTC,
            )
        except ValueError as exc:
            raise soap.invalid_arg_val("InvalidDateTime", "No such date") from exc
        ctx.camera.clock_skew_s = when.timestamp() - time.time()
    # NTP: loopback cameras cannot reach a time server, so the clock (and its skew) stays as it is.
    ctx.camera.record_write("datetime")
    return "<tds:SetSystemDateAndTimeResponse></tds:SetSystemDateAndTimeResponse>"


def get_device_information(ctx: Ctx) -> str:
    i = ctx.camera.identity
    return (
        "<tds:GetDeviceInformationResponse>"
        f"<tds:Manufacturer>{x(i.manufacturer)}</tds:Manufacturer><tds:Model>{x(i.model)}</tds:Model>"
        f"<tds:FirmwareVersion>{x(i.firmware)}</tds:FirmwareVersion>"
        f"<tds:SerialNumber>{x(i.serial) if ctx.camera.onvif_serial else ''}</tds:SerialNumber>"
        f"<tds:HardwareId>{x(i.hardware_id)}</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse>"
    )


def _service_capabilities(ctx: Ctx) -> str:
    caps = ctx.camera.capabilities
    modes = ctx.camera.auth.modes
    ntp = ctx.camera.ntp_count if ctx.camera.ntp_count is not None else (1 if "NTP" in caps else 0)
    return (
        "<tds:Capabilities>"
        f'<tds:Network IPFilter="{b("IPFilter" in caps)}" ZeroConfiguration="{b("ZeroConfiguration" in caps)}"'
        f' IPVersion6="{b("IPVersion6" in caps)}" DynDNS="{b("DynDNS" in caps)}" Dot11Configuration="false"'
        f' Dot1XConfigurations="0" HostnameFromDHCP="false" NTP="{ntp}"'
        ' DHCPv6="false"></tds:Network>'
        '<tds:Security TLS1.0="false" TLS1.1="false" TLS1.2="false" OnboardKeyGeneration="false"'
        ' AccessPolicyConfig="false" DefaultAccessPolicy="false" Dot1X="false" RemoteUserHandling="false"'
        ' X.509Token="false" SAMLToken="false" KerberosToken="false"'
        f' UsernameToken="{b("wsse" in modes)}" HttpDigest="{b("digest" in modes)}" RELToken="false"'
        "></tds:Security>"
        '<tds:System DiscoveryResolve="true" DiscoveryBye="true" RemoteDiscovery="false" SystemBackup="false"'
        ' SystemLogging="false" FirmwareUpgrade="false" HttpFirmwareUpgrade="false" HttpSystemBackup="false"'
        ' HttpSystemLogging="false" HttpSupportInformation="false"></tds:System>'
        "<tds:Misc></tds:Misc>"
        "</tds:Capabilities>"
    )


def get_service_capabilities(ctx: Ctx) -> str:
    return f"<tds:GetServiceCapabilitiesResponse>{_service_capabilities(ctx)}</tds:GetServiceCapabilitiesResponse>"


def get_services(ctx: Ctx) -> str:
    include = parse_bool(text(ctx.op, "IncludeCapability") or "false", "IncludeCapability")
    out = ["<tds:GetServicesResponse>"]
    for key, ns, path, major, minor in _SERVICES:
        if key == "ptz" and "PTZ" not in ctx.camera.capabilities:
            continue
        if key == "recording" and not ctx.camera.is_recorder:
            continue  # Profile G recording control: recorders only
        caps = ""
        if include and key == "device":
            caps = f"<tds:Capabilities>{_service_capabilities(ctx)}</tds:Capabilities>"
        out.append(
            f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{_xaddr(ctx, path)}</tds:XAddr>"
            f"{caps}<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version>"
            "</tds:Service>"
        )
    out.append("</tds:GetServicesResponse>")
    return "".join(out)


_CATEGORIES = ("All", "Analytics", "Device", "Events", "Imaging", "Media", "PTZ")


def get_capabilities(ctx: Ctx) -> str:
    cats = {(c.text or "").strip() for c in ctx.op if isinstance(c.tag, str)} or {"All"}
    caps = ctx.camera.capabilities
    has_ptz = "PTZ" in caps
    for c in cats:
        if c not in _CATEGORIES:
            raise soap.invalid_arg_val(reason=f"Unknown Category {c}")
        if c == "Analytics" or (c == "PTZ" and not has_ptz):
            raise soap.action_not_supported("The requested service is not supported", "NoSuchService")
    every = "All" in cats
    out = ["<tds:GetCapabilitiesResponse><tds:Capabilities>"]
    if every or "Device" in cats:
        out.append(
            f"<tt:Device><tt:XAddr>{_xaddr(ctx, 'device_service')}</tt:XAddr>"
            f"<tt:Network><tt:IPFilter>{b('IPFilter' in caps)}</tt:IPFilter>"
            f"<tt:ZeroConfiguration>{b('ZeroConfiguration' in caps)}</tt:ZeroConfiguration>"
            f"<tt:IPVersion6>{b('IPVersion6' in caps)}</tt:IPVersion6><tt:DynDNS>{b('DynDNS' in caps)}</tt:DynDNS></tt:Network>"
            "<tt:System><tt:DiscoveryResolve>true</tt:DiscoveryResolve><tt:DiscoveryBye>true</tt:DiscoveryBye>"
            "<tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup>"
            "<tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>"
            "<tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>40</tt:Minor></tt:SupportedVersions>"
            "</tt:System>"
            "<tt:IO><tt:InputConnectors>1</tt:InputConnectors><tt:RelayOutputs>1</tt:RelayOutputs></tt:IO>"
            "<tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>false</tt:TLS1.2>"
            "<tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration>"
            "<tt:AccessPolicyConfig>false</tt:AccessPolicyConfig><tt:X.509Token>false</tt:X.509Token>"
            "<tt:SAMLToken>false</tt:SAMLToken><tt:KerberosToken>false</tt:KerberosToken>"
            "<tt:RELToken>false</tt:RELToken></tt:Security></tt:Device>"
        )
    if every or "Events" in cats:
        out.append(
            f"<tt:Events><tt:XAddr>{_xaddr(ctx, 'Events')}</tt:XAddr>"
            "<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>"
            "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
            "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
            "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>"
        )
    if every or "Imaging" in cats:
        out.append(f"<tt:Imaging><tt:XAddr>{_xaddr(ctx, 'Imaging')}</tt:XAddr></tt:Imaging>")
    if every or "Media" in cats:
        out.append(
            f"<tt:Media><tt:XAddr>{_xaddr(ctx, 'Media')}</tt:XAddr><tt:StreamingCapabilities>"
            "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
            "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
        )
    if has_ptz and (every or "PTZ" in cats):
        out.append(f"<tt:PTZ><tt:XAddr>{_xaddr(ctx, 'PTZ')}</tt:XAddr></tt:PTZ>")
    if every:
        out.append(
            f"<tt:Extension><tt:DeviceIO><tt:XAddr>{_xaddr(ctx, 'DeviceIO')}</tt:XAddr>"
            "<tt:VideoSources>1</tt:VideoSources><tt:VideoOutputs>0</tt:VideoOutputs>"
            "<tt:AudioSources>1</tt:AudioSources><tt:AudioOutputs>0</tt:AudioOutputs>"
            "<tt:RelayOutputs>1</tt:RelayOutputs></tt:DeviceIO></tt:Extension>"
        )
    out.append("</tds:Capabilities></tds:GetCapabilitiesResponse>")
    return "".join(out)


def get_scopes(ctx: Ctx) -> str:
    scopes = ctx.camera.scopes
    if not scopes:
        raise soap.SoapError("Receiver", ["Action", "EmptyScope"], "Scope list is empty")
    out = ["<tds:GetScopesResponse>"]
    for s in scopes:
        # name/location are the scopes an operator may change; the rest are fixed by firmware.
        kind = "Configurable" if _configurable(s) else "Fixed"
        out.append(
            f"<tds:Scopes><tt:ScopeDef>{kind}</tt:ScopeDef><tt:ScopeItem>{x(s)}</tt:ScopeItem></tds:Scopes>"
        )
    out.append("</tds:GetScopesResponse>")
    return "".join(out)


def _configurable(scope: str) -> bool:
    return "/name/" in scope or "/location/" in scope


def set_scopes(ctx: Ctx) -> str:
    """Core: SetScopes replaces every Configurable scope; Fixed ones stay."""
    new = [(el.text or "").strip() for el in children(ctx.op, "Scopes")]
    if not new or any(not s.startswith("onvif://www.onvif.org/") for s in new):
        raise soap.invalid_arg_val(reason="Scopes must be onvif://www.onvif.org/ URIs")
    if any(not _configurable(s) for s in new):
        raise soap.operation_prohibited("ScopeOverwrite", "Fixed scopes cannot be overwritten")
    if len(new) > 16:
        raise soap.SoapError("Receiver", ["Action", "TooManyScopes"], "Too many scopes")
    ctx.camera.scopes = [s for s in ctx.camera.scopes if not _configurable(s)] + new
    ctx.camera.record_write("scopes")
    return "<tds:SetScopesResponse></tds:SetScopesResponse>"


def get_hostname(ctx: Ctx) -> str:
    return (
        "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>"
        f"<tt:Name>{x(ctx.camera.network.hostname)}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>"
    )


def set_hostname(ctx: Ctx) -> str:
    name = req_text(ctx.op, "Name")
    if not name or len(name) > 63 or not all(c.isalnum() or c in "-." for c in name) or name[0] == "-":
        raise soap.invalid_arg_val("InvalidHostname", "Invalid hostname")
    ctx.camera.network.hostname = name
    ctx.camera.record_write("hostname")
    return "<tds:SetHostnameResponse></tds:SetHostnameResponse>"


HANDLERS: dict[str, Handler] = {
    "GetSystemDateAndTime": get_system_date_and_time,
    "SetSystemDateAndTime": set_system_date_and_time,
    "GetDeviceInformation": get_device_information,
    "GetServiceCapabilities": get_service_capabilities,
    "GetServices": get_services,
    "GetCapabilities": get_capabilities,
    "GetScopes": get_scopes,
    "SetScopes": set_scopes,
    "GetHostname": get_hostname,
    "SetHostname": set_hostname,
}
