"""Hikvision ISAPI XML models and pure parsers (no I/O), for both the hikvision.com and isapi.org namespaces."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from lxml import etree  # type: ignore[import-untyped, unused-ignore]  # no lxml-stubs in the venv

from agent.drivers.base import AccessProtocol, IPFilterConfig, WriteRejected, parse_bool
from agent.errors import ProtocolError, Unreachable, Unsupported
from agent.xmlsafe import SAFE_PARSER

NS_HIKVISION = "http://www.hikvision.com/ver20/XMLSchema"
NS_ISAPI = "http://www.isapi.org/ver20/XMLSchema"  # newer firmware (VENDORS.md §3)

_PARSER = SAFE_PARSER


def parse_xml(raw: bytes, *, operation: str = "") -> etree._Element:
    """Parse an ISAPI body; every malformed input becomes ProtocolError carrying the raw bytes."""
    try:
        root = etree.fromstring(raw, _PARSER)
    except (etree.LxmlError, ValueError, TypeError) as exc:
        raise ProtocolError(f"malformed XML: {exc}", operation=operation, raw=raw) from exc
    if root is None or not isinstance(root.tag, str):
        raise ProtocolError("empty XML document", operation=operation, raw=raw)
    return root


def local(el: etree._Element) -> str:
    """Local name of an element ('{ns}enabled' -> 'enabled'); '' for comments and PIs."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def namespace(el: etree._Element) -> str:
    tag = el.tag
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def children(el: etree._Element, name: str) -> Iterator[etree._Element]:
    """Direct children with this local name, whatever namespace the firmware uses (lxml's `{*}` matches any
    namespace or none, in C: the Python loop over local names was ~4 % of an inventory's CPU)."""
    found: Iterator[etree._Element] = el.iterfind("{*}" + name)
    return found


def child(el: etree._Element, name: str) -> etree._Element | None:
    found: etree._Element | None = el.find("{*}" + name)
    return found


def text_of(el: etree._Element, name: str) -> str | None:
    c = child(el, name)
    if c is None:
        return None
    return (c.text or "").strip()


def find_path(el: etree._Element, *names: str) -> etree._Element | None:
    cur: etree._Element | None = el
    for n in names:
        if cur is None:
            return None
        cur = child(cur, n)
    return cur


def expect_root(root: etree._Element, name: str, raw: bytes, operation: str) -> None:
    if local(root) != name:
        raise ProtocolError(f"expected <{name}>, got <{local(root)}>", operation=operation, raw=raw)


def to_bytes(root: etree._Element) -> bytes:
    """Serialise a (modified) live document back for PUT, keeping its namespace and unknown fields."""
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out


def sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    """A new child in the parent's namespace (PUT bodies must stay in the firmware's namespace)."""
    ns = namespace(parent)
    el = etree.SubElement(parent, f"{{{ns}}}{name}" if ns else name)
    if text is not None:
        el.text = text
    return el


# ---- ResponseStatus ------------------------------------------------------------------------------------

STATUS_OK = 1
STATUS_BUSY = 2
STATUS_DEVICE_ERROR = 3
STATUS_INVALID_OPERATION = 4
STATUS_INVALID_XML_FORMAT = 5
STATUS_INVALID_CONTENT = 6
STATUS_REBOOT_REQUIRED = 7

# subStatusCodes that mean "this firmware does not have it" rather than "you asked wrongly".
_NOT_SUPPORTED_SUB = {"notsupport", "notsupported", "methodnotallowed", "invalidoperation/notsupport"}


@dataclass(frozen=True)
class ResponseStatus:
    """<ResponseStatus>: statusCode 1 OK, 2 busy, 3 device error, 4/5/6 rejected, 7 reboot required."""

    status_code: int
    status_string: str = ""
    sub_status_code: str = ""
    request_url: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code in (STATUS_OK, STATUS_REBOOT_REQUIRED)

    @property
    def reboot_required(self) -> bool:
        return self.status_code == STATUS_REBOOT_REQUIRED

    @property
    def not_supported(self) -> bool:
        return (
            self.status_code == STATUS_INVALID_OPERATION
            and self.sub_status_code.lower() in _NOT_SUPPORTED_SUB
        )

    @classmethod
    def from_element(cls, root: etree._Element, raw: bytes, operation: str = "") -> ResponseStatus:
        code_text = text_of(root, "statusCode")
        try:
            code = int(code_text or "")
        except ValueError as exc:
            raise ProtocolError(
                f"ResponseStatus without a numeric statusCode: {code_text!r}", operation=operation, raw=raw
            ) from exc
        return cls(
            status_code=code,
            status_string=text_of(root, "statusString") or "",
            sub_status_code=text_of(root, "subStatusCode") or "",
            request_url=text_of(root, "requestURL") or "",
        )

    @classmethod
    def decode(cls, raw: bytes, operation: str = "") -> ResponseStatus:
        root = parse_xml(raw, operation=operation)
        expect_root(root, "ResponseStatus", raw, operation)
        return cls.from_element(root, raw, operation)

    def raise_for_status(self, *, host: str = "", operation: str = "", raw: bytes | None = None) -> None:
        """OK and Reboot Required pass; notSupport is Unsupported; busy/device error are transient."""
        if self.ok:
            return
        msg = f"statusCode {self.status_code} {self.status_string} {self.sub_status_code}".strip()
        if self.not_supported:
            raise Unsupported(msg, host=host, operation=operation, raw=raw)
        if self.status_code in (STATUS_BUSY, STATUS_DEVICE_ERROR):
            raise Unreachable(msg, host=host, operation=operation, raw=raw)
        raise WriteRejected(msg, host=host, operation=operation, raw=raw)


def maybe_response_status(raw: bytes) -> ResponseStatus | None:
    """A ResponseStatus if the body is one (error replies on GET carry it too), else None. Never raises."""
    try:
        root = etree.fromstring(raw, _PARSER)
    except (etree.LxmlError, ValueError, TypeError):
        return None
    if root is None or local(root) != "ResponseStatus":
        return None
    try:
        return ResponseStatus.from_element(root, raw)
    except ProtocolError:
        return None


# ---- deviceInfo ----------------------------------------------------------------------------------------

# Identity fields kept for attribution (VENDORS.md §3 endpoint map, fixture hikvision_next ipc1.xml).
DEVICE_INFO_FIELDS = (
    "deviceName",
    "deviceID",
    "model",
    "serialNumber",
    "macAddress",
    "firmwareVersion",
    "firmwareReleasedDate",
    "encoderVersion",
    "encoderReleasedDate",
    "bootVersion",
    "hardwareVersion",
    "deviceType",
    "telecontrolID",
    "firmwareVersionInfo",
    "manufacturer",
    "OEMCode",
    "systemContact",
    "subSerialNumber",
)


@dataclass(frozen=True)
class DeviceInfo:
    model: str
    serial_number: str
    firmware_version: str
    firmware_released_date: str
    manufacturer: str
    oem_code: str
    mac_address: str
    device_type: str
    namespace: str
    fields: tuple[tuple[str, str], ...]

    @classmethod
    def decode(cls, raw: bytes, operation: str = "deviceInfo") -> DeviceInfo:
        root = parse_xml(raw, operation=operation)
        expect_root(root, "DeviceInfo", raw, operation)
        fields = tuple((n, v) for n in DEVICE_INFO_FIELDS if (v := text_of(root, n)) is not None)
        got = dict(fields)
        if not got.get("model") and not got.get("firmwareVersion"):
            raise ProtocolError("DeviceInfo without model or firmwareVersion", operation=operation, raw=raw)
        return cls(
            model=got.get("model", ""),
            serial_number=got.get("serialNumber", ""),
            firmware_version=got.get("firmwareVersion", ""),
            firmware_released_date=got.get("firmwareReleasedDate", ""),
            manufacturer=got.get("manufacturer", ""),
            oem_code=got.get("OEMCode", ""),
            mac_address=got.get("macAddress", ""),
            device_type=got.get("deviceType", ""),
            namespace=namespace(root),
            fields=fields,
        )

    def as_dict(self) -> dict[str, str]:
        return dict(self.fields)


# ---- capabilities --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkCap:
    """SysCap/NetworkCap flags (isSupportEZVIZ, isSupportEhome, isSupportUpnp, ...). Absent flag = None."""

    flags: tuple[tuple[str, bool], ...]

    def get(self, flag: str) -> bool | None:
        return dict(self.flags).get(flag)

    @classmethod
    def decode(cls, raw: bytes, operation: str = "capabilities") -> NetworkCap:
        root = parse_xml(raw, operation=operation)
        expect_root(root, "DeviceCap", raw, operation)
        cap = find_path(root, "SysCap", "NetworkCap")
        flags: list[tuple[str, bool]] = []
        if cap is not None:
            for el in cap:
                name = local(el)
                if name.startswith("isSupport") and len(el) == 0:
                    try:
                        flags.append((name, parse_bool(el.text or "")))
                    except ProtocolError:
                        continue  # a free-text flag on odd firmware is no reason to drop the rest
        return cls(flags=tuple(flags))


# ---- simple <X><enabled>..</enabled></X> documents (EZVIZ, Ehome, UPnP, UPnP ports, DDNS, ssh, telnetd) ---


@dataclass(frozen=True)
class EnabledDoc:
    """A config document whose switch is a direct <enabled> child; detail keeps a few useful fields."""

    root_name: str
    enabled: bool
    detail: tuple[tuple[str, str], ...]

    @classmethod
    def decode(cls, raw: bytes, operation: str = "") -> EnabledDoc:
        root = parse_xml(raw, operation=operation)
        if local(root) == "ResponseStatus":
            raise ProtocolError(
                "ResponseStatus where a config document was expected", operation=operation, raw=raw
            )
        en = text_of(root, "enabled")
        if en is None:
            raise ProtocolError(f"<{local(root)}> has no <enabled>", operation=operation, raw=raw)
        detail: list[tuple[str, str]] = []
        for name in (
            "provider",
            "registerStatus",
            "serverAddress",
            "hostName",
            "ipAddress",
            "mapmode",
            "name",
        ):
            el = child(root, name)
            if el is None:
                continue
            # serverAddress nests <hostName>/<ipAddress> on EZVIZ/DDNS documents.
            val = (el.text or "").strip() or " ".join((c.text or "").strip() for c in el if local(c))
            if val.strip():
                detail.append((name, val.strip()))
        return cls(
            root_name=local(root), enabled=parse_bool(en, operation=operation, raw=raw), detail=tuple(detail)
        )


def set_enabled(raw: bytes, enabled: bool, operation: str = "") -> bytes:
    """GET-modify-PUT: flip <enabled> in the live body, leaving every other field as the camera sent it."""
    root = parse_xml(raw, operation=operation)
    el = child(root, "enabled")
    if el is None:
        raise ProtocolError(f"<{local(root)}> has no <enabled>", operation=operation, raw=raw)
    el.text = "true" if enabled else "false"
    return to_bytes(root)


# ---- ipFilter --------------------------------------------------------------------------------------------


def _prefix_from_mask(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        return int(text)
    return ipaddress.IPv4Network(f"0.0.0.0/{text}").prefixlen


def decode_ip_filter(raw: bytes, operation: str = "ipFilter") -> IPFilterConfig:
    """<IPFilter>{enabled, permissionType, IPFilterAddressList{IPFilterAddress{AddressMask|AddressRange}}}.

    Real firmware writes one host per entry as addressFilterType=mask with only <ipAddress> (web UI JS);
    a <bitMask>/<ipAddressMask> sibling, or an AddressRange, is read when present.
    """
    root = parse_xml(raw, operation=operation)
    expect_root(root, "IPFilter", raw, operation)
    en = text_of(root, "enabled")
    enabled = parse_bool(en, operation=operation, raw=raw) if en is not None else False
    policy_text = (text_of(root, "permissionType") or "allow").lower()
    # Some firmware says "unset" until a mode is chosen; that filters nothing, like an empty allow list.
    policy: Literal["allow", "deny"] = "deny" if policy_text == "deny" else "allow"
    addresses: list[str] = []
    lst = child(root, "IPFilterAddressList")
    try:
        for entry in children(lst, "IPFilterAddress") if lst is not None else ():
            mask = child(entry, "AddressMask")
            rng = child(entry, "AddressRange")
            if mask is not None:
                ip = text_of(mask, "ipAddress") or ""
                plen_text = text_of(mask, "bitMask") or text_of(mask, "ipAddressMask") or "32"
                if ip:
                    addresses.append(f"{ip}/{_prefix_from_mask(plen_text)}")
            elif rng is not None:
                start = ipaddress.IPv4Address(text_of(rng, "startIPAddress") or "")
                end = ipaddress.IPv4Address(text_of(rng, "endIPAddress") or "")
                addresses += [str(n) for n in ipaddress.summarize_address_range(start, end)]
        return IPFilterConfig.build(enabled, policy, addresses)
    except (ValueError, TypeError) as exc:
        raise ProtocolError(f"bad IPFilter address: {exc}", operation=operation, raw=raw) from exc


def encode_ip_filter(raw: bytes, value: IPFilterConfig, operation: str = "ipFilter") -> bytes:
    """GET-modify-PUT of the live <IPFilter>: set enabled/permissionType, rewrite the address list."""
    root = parse_xml(raw, operation=operation)
    expect_root(root, "IPFilter", raw, operation)
    for name, text in (("enabled", "true" if value.enabled else "false"), ("permissionType", value.policy)):
        el = child(root, name)
        if el is None:
            el = sub(root, name)
        el.text = text
    lst = child(root, "IPFilterAddressList")
    if lst is None:
        lst = sub(root, "IPFilterAddressList")
    for old in list(lst):
        lst.remove(old)
    for i, cidr in enumerate(value.addresses, start=1):
        net = ipaddress.ip_network(cidr, strict=False)
        entry = sub(lst, "IPFilterAddress")
        sub(entry, "id", str(i))
        sub(entry, "permissionType", value.policy)
        if net.prefixlen == net.max_prefixlen:
            sub(entry, "addressFilterType", "mask")
            sub(sub(entry, "AddressMask"), "ipAddress", str(net.network_address))
        else:
            sub(entry, "addressFilterType", "range")
            rng = sub(entry, "AddressRange")
            sub(rng, "startIPAddress", str(net.network_address))
            sub(rng, "endIPAddress", str(net.broadcast_address))
    return to_bytes(root)


# ---- adminAccesses ------------------------------------------------------------------------------------


def decode_admin_accesses(raw: bytes, operation: str = "adminAccesses") -> tuple[AccessProtocol, ...]:
    """<AdminAccessProtocolList>{AdminAccessProtocol{id, enabled, protocol, portNo}} (fixture dumps)."""
    root = parse_xml(raw, operation=operation)
    expect_root(root, "AdminAccessProtocolList", raw, operation)
    out: list[AccessProtocol] = []
    for entry in children(root, "AdminAccessProtocol"):
        proto = text_of(entry, "protocol")
        port = text_of(entry, "portNo")
        en = text_of(entry, "enabled")
        if not proto:
            raise ProtocolError("AdminAccessProtocol without <protocol>", operation=operation, raw=raw)
        try:
            port_no = int(port) if port else 0
        except ValueError as exc:
            raise ProtocolError(f"bad portNo {port!r}", operation=operation, raw=raw) from exc
        # Older firmware omits <enabled> for always-on protocols (HTTP); absent means on.
        enabled = parse_bool(en, operation=operation, raw=raw) if en else True
        out.append(AccessProtocol(protocol=proto, enabled=enabled, port=port_no))
    return tuple(out)


def encode_admin_accesses(
    raw: bytes, desired: tuple[AccessProtocol, ...], operation: str = "adminAccesses"
) -> bytes:
    """GET-modify-PUT: change enabled/portNo of the named protocols only; unknown names are rejected."""
    root = parse_xml(raw, operation=operation)
    expect_root(root, "AdminAccessProtocolList", raw, operation)
    by_proto = {(text_of(e, "protocol") or "").upper(): e for e in children(root, "AdminAccessProtocol")}
    for want in desired:
        entry = by_proto.get(want.protocol.upper())
        if entry is None:
            raise WriteRejected(f"camera has no {want.protocol} in adminAccesses", operation=operation)
        en = child(entry, "enabled")
        if en is None:
            en = sub(entry, "enabled")
        en.text = "true" if want.enabled else "false"
        port = child(entry, "portNo")
        if port is None:
            port = sub(entry, "portNo")
        port.text = str(want.port)
    return to_bytes(root)
