"""Golden and fuzz tests of the pure vendor parsers (ISAPI XML, Dahua key=value, Axis param lists)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from agent.drivers import axis_models as ax
from agent.drivers import dahua_models as dh
from agent.drivers import hikvision_models as hk
from agent.drivers.base import (
    AccessProtocol,
    IPFilterConfig,
    Setting,
    WriteRejected,
    setting_matches,
    value_from_json,
    value_to_json,
)
from agent.errors import ProtocolError, Unreachable, Unsupported
from tests.fixtures import SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES
HIK_DEVICES = sorted((FIXTURES / "hikvision_devices").glob("*.json"))


# ---- helpers --------------------------------------------------------------------------------------------


def dict_to_xml(tag: str, node: Any, ns: str = "") -> bytes:
    """Rebuild the XML a device sent from hikvision_next's xmltodict dumps ('@attr', '#text', lists)."""

    def build(parent: Any, name: str, value: Any, ns: str) -> None:
        if isinstance(value, list):
            for item in value:
                build(parent, name, item, ns)
            return
        if isinstance(value, dict):
            ns = value.get("@xmlns", ns)
        el = etree.SubElement(parent, f"{{{ns}}}{name}" if ns else name) if parent is not None else None
        fill(el, value, ns)

    def fill(el: Any, value: Any, ns: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "@xmlns":
                    continue
                if k.startswith("@"):
                    el.set(k[1:], str(v))
                elif k == "#text":
                    el.text = str(v)
                else:
                    build(el, k, v, ns)
        elif value is not None:
            el.text = str(value)

    ns = node.get("@xmlns", ns) if isinstance(node, dict) else ns
    root = etree.Element(f"{{{ns}}}{tag}" if ns else tag, nsmap={None: ns} if ns else None)
    fill(root, node, ns)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out


def hik_dump(path: Path, endpoint: str) -> bytes:
    data = json.loads(path.read_text())["data"]["ISAPI"][endpoint]["response"]
    ((tag, node),) = data.items()
    return dict_to_xml(tag, node)


def dahua_blocks() -> dict[str, bytes]:
    """dahua_cgi_replies.txt: `GET <request>` then the body lines (comments and blank lines dropped)."""
    blocks: dict[str, list[str]] = {}
    current = "preamble"
    for line in (FIXTURES / "dahua_cgi_replies.txt").read_text().splitlines():
        if line.startswith("GET "):
            current = line[4:]
            blocks[current] = []
        elif line.startswith("# A rejected request"):
            current = "rejected"
            blocks[current] = []
        elif line.startswith("#") or not line.strip():
            continue
        else:
            blocks.setdefault(current, []).append(line)
    # CRLF on the wire, as the fixture header says.
    return {k: ("\r\n".join(v) + "\r\n").encode() for k, v in blocks.items()}


# ---- ISAPI golden -------------------------------------------------------------------------------------


def test_device_info_ipc1_fixture() -> None:
    raw = (FIXTURES / "hikvision_next__ISAPI_System.deviceInfo__ipc1.xml").read_bytes()
    info = hk.DeviceInfo.decode(raw)
    assert info.model == "DS-2CD2386G2-IU"
    assert info.firmware_version == "V5.7.18"
    assert info.firmware_released_date == "build 240826"
    assert info.manufacturer == "hikvision"
    assert info.oem_code == "1"
    assert info.mac_address == "a6:63:9e:f8:01:09"
    assert info.namespace == hk.NS_HIKVISION
    d = info.as_dict()
    assert d["serialNumber"] == "DS-2CD2386G2-IU00000000AAWRJ00000000"
    assert d["telecontrolID"] == "88"
    assert d["firmwareVersionInfo"] == "B-R-G5-0"


def test_device_error_fixture_is_transient() -> None:
    raw = (FIXTURES / "hikvision_next__ISAPI_deviceError.xml").read_bytes()
    status = hk.ResponseStatus.decode(raw)
    assert (status.status_code, status.status_string, status.sub_status_code) == (
        3,
        "Device Error",
        "deviceError",
    )
    assert not status.ok
    with pytest.raises(Unreachable) as ei:
        status.raise_for_status(operation="GET picture", raw=raw)
    assert ei.value.raw == raw
    assert hk.maybe_response_status(raw) == status


@pytest.mark.parametrize(
    ("code", "sub", "expected"),
    [
        (1, "ok", None),
        (7, "rebootRequired", None),
        (4, "notSupport", Unsupported),
        (4, "invalidOperation", WriteRejected),
        (5, "badXmlFormat", WriteRejected),
        (6, "badXmlContent", WriteRejected),
        (2, "deviceBusy", Unreachable),
    ],
)
def test_response_status_codes(code: int, sub: str, expected: type[Exception] | None) -> None:
    for ns in (hk.NS_HIKVISION, hk.NS_ISAPI):
        raw = (
            f'<?xml version="1.0" encoding="UTF-8"?><ResponseStatus version="2.0" xmlns="{ns}">'
            f"<requestURL>/ISAPI/System/Network/EZVIZ</requestURL><statusCode>{code}</statusCode>"
            f"<statusString>x</statusString><subStatusCode>{sub}</subStatusCode></ResponseStatus>"
        ).encode()
        status = hk.ResponseStatus.decode(raw)
        assert status.request_url == "/ISAPI/System/Network/EZVIZ"
        assert status.reboot_required == (code == 7)
        if expected is None:
            status.raise_for_status()
        else:
            with pytest.raises(expected):
                status.raise_for_status()


@pytest.mark.parametrize("path", HIK_DEVICES, ids=lambda p: p.stem)
def test_hikvision_device_dumps(path: Path) -> None:
    info = hk.DeviceInfo.decode(hik_dump(path, "System/deviceInfo"))
    expected = {
        "DS-2CD2146G2-ISU": ("DS-2CD2146G2-ISU", "V5.7.17", "build 240606", hk.NS_HIKVISION),
        "DS-2CD2443G0-IW": ("DS-2CD2443G0-IW", "V5.6.5", "build 200316", hk.NS_HIKVISION),
        "DS-2CD2532F-IWS": ("DS-2CD2532F-IWS", "V5.2.0", "build 140721", hk.NS_HIKVISION),
        "DS-2CD2T46G2-ISU": ("DS-2CD2T46G2-ISU/SL", "V5.7.18", "build 240826", hk.NS_HIKVISION),
        "DS-2SE4C425MWG-E-26": ("DS-2SE4C425MWG-E-26", "V5.8.1", "build 240929", hk.NS_HIKVISION),
        "DS-7608NXI-I2": ("DS-7608NXI-I2/8P/S", "V4.62.210", "build 230619", hk.NS_ISAPI),
    }[path.stem]
    assert (info.model, info.firmware_version, info.firmware_released_date, info.namespace) == expected

    caps = hk.NetworkCap.decode(hik_dump(path, "System/capabilities"))
    assert caps.get("isSupportEZVIZ") is True
    assert caps.get("isSupportUpnp") is True
    # The old DS-2CD2532F-IWS has no Ehome; the NVR dump lists no IP filter flag at all (None, not False).
    assert caps.get("isSupportEhome") is {"DS-2CD2532F-IWS": False, "DS-7608NXI-I2": None}.get(
        path.stem, True
    )
    assert caps.get("isSupportIPFilter") is (None if path.stem == "DS-7608NXI-I2" else True)

    access = hk.decode_admin_accesses(hik_dump(path, "Security/adminAccesses"))
    by = {p.protocol: p for p in access}
    assert by["HTTP"] == AccessProtocol("HTTP", True, 80)
    assert by["DEV_MANAGE"] == AccessProtocol("DEV_MANAGE", True, 8000)
    if path.stem == "DS-7608NXI-I2":
        assert by["RTSP"].port == 10554
        assert by["IOT"] == AccessProtocol("IOT", False, 30999)
    if path.stem == "DS-2CD2146G2-ISU":
        assert by["WebSocketS"] == AccessProtocol("WebSocketS", False, 7682)
        assert by["Bonjour"] == AccessProtocol("Bonjour", True, 0)  # no <portNo> in the dump


def test_admin_accesses_modify_keeps_unknown_fields() -> None:
    raw = hik_dump(HIK_DEVICES[0], "Security/adminAccesses")
    out = hk.encode_admin_accesses(raw, (AccessProtocol("HTTPS", False, 443),))
    assert b"TLS1_2Enable" in out  # the rest of the live body survives GET-modify-PUT
    by = {p.protocol: p for p in hk.decode_admin_accesses(out)}
    assert by["HTTPS"].enabled is False
    assert by["HTTP"].enabled is True
    with pytest.raises(WriteRejected):
        hk.encode_admin_accesses(raw, (AccessProtocol("TELNET", False, 23),))


@pytest.mark.parametrize("ns", [hk.NS_HIKVISION, hk.NS_ISAPI])
def test_enabled_documents_and_set_enabled(ns: str) -> None:
    raw = (
        f'<?xml version="1.0" encoding="UTF-8"?><EZVIZ version="2.0" xmlns="{ns}"><enabled>true</enabled>'
        "<registerStatus>true</registerStatus><serverAddress><hostName>litedev.hik-connect.com</hostName>"
        "</serverAddress><verificationCode>ABCDEF</verificationCode></EZVIZ>"
    ).encode()
    doc = hk.EnabledDoc.decode(raw)
    assert doc.root_name == "EZVIZ"
    assert doc.enabled is True
    assert dict(doc.detail)["serverAddress"] == "litedev.hik-connect.com"
    out = hk.set_enabled(raw, False)
    back = hk.EnabledDoc.decode(out)
    assert back.enabled is False
    assert b"verificationCode" in out and ns.encode() in out
    root = hk.parse_xml(out)
    assert hk.namespace(root) == ns


def test_upnp_ports_document() -> None:
    raw = (
        b'<ports version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema"><enabled>true</enabled>'
        b"<mapmode>auto</mapmode><portList/></ports>"
    )
    doc = hk.EnabledDoc.decode(raw)
    assert doc.enabled is True and dict(doc.detail)["mapmode"] == "auto"


def test_ip_filter_roundtrip() -> None:
    raw = (
        b'<IPFilter version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema"><enabled>true</enabled>'
        b'<permissionType>deny</permissionType><IPFilterAddressList size="32">'
        b"<IPFilterAddress><id>1</id><permissionType>deny</permissionType><addressFilterType>mask</addressFilterType>"
        b"<AddressMask><ipAddress>203.0.113.21</ipAddress></AddressMask></IPFilterAddress>"
        b"</IPFilterAddressList></IPFilter>"
    )
    cfg = hk.decode_ip_filter(raw)
    assert cfg == IPFilterConfig(True, "deny", ("203.0.113.21/32",))
    want = IPFilterConfig.build(True, "allow", ["127.0.0.1", "10.1.0.0/16"])
    out = hk.encode_ip_filter(raw, want)
    assert b'size="32"' in out
    assert hk.decode_ip_filter(out) == want
    assert setting_matches(Setting("ip_filter", hk.decode_ip_filter(out)), want)
    assert not setting_matches(Setting("ip_filter", cfg), want)


def test_ip_filter_unset_and_empty() -> None:
    raw = b'<IPFilter><enabled>false</enabled><permissionType>unset</permissionType><IPFilterAddressList max="16"/></IPFilter>'
    assert hk.decode_ip_filter(raw) == IPFilterConfig(False, "allow", ())


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"<",
        b"not xml at all",
        b'<?xml version="1.0"?><DeviceInfo><model>X</model>',  # truncated mid-document
        b"<EZVIZ><enabled>maybe</enabled></EZVIZ>",
        b"<EZVIZ><other/></EZVIZ>",
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><EZVIZ><enabled>&e;</enabled></EZVIZ>',
        b"<ResponseStatus><statusCode>abc</statusCode></ResponseStatus>",
    ],
)
def test_isapi_malformed_is_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError) as ei:
        hk.EnabledDoc.decode(raw) if b"ResponseStatus" not in raw else hk.ResponseStatus.decode(raw)
    assert ei.value.raw == raw


def test_xxe_is_not_resolved() -> None:
    raw = (
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/hostname">]><DeviceInfo><model>&e;</model></DeviceInfo>'
    )
    try:
        info = hk.DeviceInfo.decode(raw)
    except ProtocolError:
        return
    assert "localhost" not in info.model and info.model in ("", "&e;")


# ---- Dahua golden -------------------------------------------------------------------------------------


def test_dahua_fixture_replies() -> None:
    blocks = dahua_blocks()
    sysinfo = dh.MagicBoxInfo.decode(blocks["/cgi-bin/magicBox.cgi?action=getSystemInfo"])
    assert sysinfo.get("deviceType") == "IPC-HDW5831R-ZE"
    assert sysinfo.get("updateSerial") == "IPC-HDW5830R-Z"
    assert sysinfo.get("serialNumber") == "4X7C5A1ZAG21L3F"
    assert sysinfo.get("processor") == "S3LM"
    version = dh.MagicBoxInfo.decode(blocks["/cgi-bin/magicBox.cgi?action=getSoftwareVersion"])
    assert version.get("version") == "2.800.0000016.0.R,build:2020-06-05"
    assert dh.MagicBoxInfo.decode(blocks["/cgi-bin/magicBox.cgi?action=getVendor"]).get("vendor") == "Dahua"
    assert dh.MagicBoxInfo.decode(b"Vendor=IntelBras\r\n").get("vendor") == "IntelBras"
    t2u = dh.ConfigEnable.decode(
        blocks["/cgi-bin/configManager.cgi?action=getConfig&name=T2UServer"], "T2UServer"
    )
    assert t2u.enabled is True
    assert t2u.set_params(False) == {"T2UServer.Enable": "false"}
    assert dh.is_ok_reply(blocks["/cgi-bin/configManager.cgi?action=setConfig&T2UServer.Enable=false"])
    rejected = blocks["rejected"]
    assert rejected == b"Error\r\nBad Request!\r\n"
    assert dh.is_error_reply(rejected)
    with pytest.raises(ProtocolError):
        dh.parse_kv(rejected)


def test_dahua_indexed_tables() -> None:
    raw = b"table.T2UServer[0].Enable=false\r\ntable.T2UServer[0].Server=p2p.example\r\n"
    t = dh.ConfigEnable.decode(raw, "T2UServer")
    assert t.enabled is False and t.set_params(True) == {"T2UServer[0].Enable": "true"}
    ddns = dh.ConfigEnable.decode(
        b"table.DDNS[0].Enable=false\r\ntable.DDNS[0].Protocol=Dyndns\r\ntable.DDNS[1].Enable=true\r\n",
        "DDNS",
    )
    assert ddns.enabled is True
    assert ddns.set_params(False) == {"DDNS[0].Enable": "false", "DDNS[1].Enable": "false"}
    # The Enable of a different table (UPnP.MapTable[0].Enable) must not be mistaken for UPnP.Enable.
    upnp = dh.ConfigEnable.decode(
        b"table.UPnP.Enable=true\r\ntable.UPnP.MapTable[0].Enable=false\r\n", "UPnP"
    )
    assert upnp.entries == (("UPnP.Enable", True),)


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"no equals sign", b"=value", b"table.Telnet.Enable=perhaps"])
def test_dahua_malformed(raw: bytes) -> None:
    with pytest.raises(ProtocolError) as ei:
        dh.ConfigEnable.decode(raw, "Telnet")
    assert ei.value.raw == raw


# ---- Axis golden -----------------------------------------------------------------------------------------


def test_axis_param_list_fixture() -> None:
    params = ax.ParamList.decode((FIXTURES / "axis_M1065-LW_param_list.txt").read_bytes())
    assert params.get("Brand.Brand") == "AXIS"
    assert params.get("root.Brand.ProdNbr") == "M1065-LW"
    assert params.get("Properties.Firmware.Version") == "9.10.1"
    assert params.get("RemoteService.Enabled") == "oneclick"
    assert params.get("Network.UPnP.Enabled") == "yes"
    assert params.get("Network.UPnP.NATTraversal.Enabled") == "no"
    brand = params.group("Brand")
    assert brand["Brand.ProdFullName"] == "AXIS M1065-LW Network Camera"
    assert "Brand.WebURL" in brand and not any(k.startswith("BrandX") for k in brand)
    assert ax.decode_ip_filter(params) == IPFilterConfig(False, "allow", ())


def test_axis_ip_filter_encode_roundtrip() -> None:
    want = IPFilterConfig.build(True, "allow", ["127.0.0.1", "10.0.0.0/8"])
    form = ax.encode_ip_filter(want)
    assert form == {
        "Network.Filter.Enabled": "yes",
        "Network.Filter.Input.Policy": "allow",
        "Network.Filter.Input.AcceptAddresses": "10.0.0.0/8 127.0.0.1",
    }
    lines = "\n".join(f"root.{k}={v}" for k, v in form.items()).encode()
    assert ax.decode_ip_filter(ax.ParamList.decode(lines)) == want


def test_axis_error_replies() -> None:
    raw = b"# Error: Error -1 getting param in group 'RemoteService'\r\n"
    assert ax.error_message(raw) == "Error -1 getting param in group 'RemoteService'"
    with pytest.raises(ProtocolError):
        ax.ParamList.decode(raw)
    assert ax.is_ok_reply(b"OK\r\n")
    with pytest.raises(ProtocolError):
        ax.ParamList.decode(b"Brand.Brand=AXIS")  # no root. prefix


# ---- setting values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        True,
        "oneclick",
        IPFilterConfig.build(True, "allow", ["10.0.0.7", "127.0.0.0/8"]),
        (AccessProtocol("HTTP", True, 80), AccessProtocol("RTSP", False, 554)),
    ],
)
def test_value_json_roundtrip(value: object) -> None:
    as_json = value_to_json(value)  # type: ignore[arg-type]
    assert json.loads(json.dumps(as_json)) == as_json
    assert value_from_json(json.loads(json.dumps(as_json))) == value


def test_value_from_json_rejects_garbage() -> None:
    for bad in (
        None,
        3,
        {"enabled": True},
        [{"protocol": "HTTP"}],
        {"enabled": 1, "policy": "x", "addresses": []},
    ):
        with pytest.raises(ValueError):
            value_from_json(bad)


def test_setting_matches_semantics() -> None:
    assert setting_matches(Setting("upnp", False), False)
    assert not setting_matches(Setting("upnp", False), True)
    assert not setting_matches(Setting.unsupported("telnet", "404"), False)
    assert not setting_matches(Setting("remote_service", "no"), False)  # str vs bool never equal
    assert not setting_matches(None, False)
    current = (AccessProtocol("HTTP", True, 80), AccessProtocol("RTSP", True, 554))
    assert setting_matches(current, (AccessProtocol("rtsp", True, 554),))  # only the named protocols count
    assert not setting_matches(current, (AccessProtocol("RTSP", False, 554),))
    assert IPFilterConfig.build(True, "allow", ["10.0.0.1", "10.0.0.1/32"]).addresses == ("10.0.0.1/32",)


# ---- fuzz: malformed input is ProtocolError, never another exception -----------------------------------

_junk = st.one_of(
    st.binary(max_size=300),
    st.text(alphabet="<>/=&;\"' abcenabledtruefalse\r\n", max_size=200).map(str.encode),
    st.builds(
        lambda inner: b'<EZVIZ xmlns="http://www.isapi.org/ver20/XMLSchema">' + inner + b"</EZVIZ>",
        st.binary(max_size=80),
    ),
)


@settings(max_examples=300, deadline=None)
@given(_junk)
def test_isapi_parsers_never_crash(raw: bytes) -> None:
    for fn in (
        hk.DeviceInfo.decode,
        hk.NetworkCap.decode,
        hk.EnabledDoc.decode,
        hk.ResponseStatus.decode,
        hk.decode_ip_filter,
        hk.decode_admin_accesses,
        lambda r: hk.set_enabled(r, False),
        lambda r: hk.encode_ip_filter(r, IPFilterConfig(True, "allow", ("10.0.0.1/32",))),
    ):
        try:
            fn(raw)
        except ProtocolError as exc:
            assert exc.raw is None or exc.raw == raw[: len(exc.raw)]
    hk.maybe_response_status(raw)  # never raises at all


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300), st.text(alphabet="table.[]0=ErorEnabl\r\n", max_size=120).map(str.encode)
    )
)
def test_dahua_parsers_never_crash(raw: bytes) -> None:
    for fn in (
        dh.MagicBoxInfo.decode,
        lambda r: dh.ConfigEnable.decode(r, "T2UServer"),
    ):
        with contextlib.suppress(ProtocolError):
            fn(raw)
    dh.is_error_reply(raw)
    dh.is_ok_reply(raw)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(alphabet="root.Network.Filter=yes #Error:\r\n ,/0123", max_size=150).map(str.encode),
    )
)
def test_axis_parsers_never_crash(raw: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        ax.decode_ip_filter(ax.ParamList.decode(raw))
    ax.error_message(raw)


def test_drivers_never_import_camsim_or_controller() -> None:
    """The agent talks to camsim over HTTP only (agent contract): no import of it in agent/drivers."""
    import agent.drivers

    pkg = Path(agent.drivers.__file__).parent
    for src in pkg.glob("*.py"):
        text = src.read_text()
        assert "import camsim" not in text and "from camsim" not in text, src.name
        assert "from controller" not in text and "import controller" not in text, src.name
