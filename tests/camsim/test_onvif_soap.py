"""camsim SOAP layer: secure parsing, SOAP 1.1 tolerance, fault shapes and per-vendor envelopes."""

from __future__ import annotations

import aiohttp
import pytest
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from camsim import soap
from tests.camsim.conftest import run_sim
from tests.camsim.onvif_helpers import PASSWORD, SOAP11, camera, envelope, fault_of, post, wsse_header


def test_parse_request_reads_operation_and_token() -> None:
    req = soap.parse_request(envelope("<tds:GetDNS/>", wsse_header("admin", "pw")))
    assert (req.version, req.namespace, req.operation) == ("1.2", soap.TDS, "GetDNS")
    assert req.token is not None and req.token.username == "admin"
    assert req.token.nonce_b64 and req.token.created and req.token.password_type.endswith("#PasswordDigest")


def test_parse_request_tolerates_soap11() -> None:
    req = soap.parse_request(envelope("<tds:GetScopes/>", soap_ns=SOAP11))
    assert (req.version, req.operation) == ("1.1", "GetScopes")


@pytest.mark.parametrize(
    "data,sub",
    [
        (b"<not-xml", "WellFormed"),
        (b"", "WellFormed"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
            "WellFormed",
        ),
        (b'<a xmlns="urn:x"><b/></a>', "Namespace"),
        (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>', "Tag"),
    ],
)
def test_parse_request_rejects_bad_input(data: bytes, sub: str) -> None:
    with pytest.raises(soap.SoapError) as err:
        soap.parse_request(data)
    assert err.value.code == "Sender" and err.value.subcodes == [sub]


def test_entity_expansion_is_never_performed() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&b;</s:Body></s:Envelope>'
    )
    with pytest.raises(soap.SoapError):
        soap.parse_request(bomb)


def test_fault_subcodes_are_nested() -> None:
    env = soap.envelope("gsoap")
    err = soap.invalid_arg_val("InvalidIPv4Address")
    root = etree.fromstring(env.head + soap.fault_body(env, err).encode() + env.tail)
    s12 = soap.SOAP12
    code = root.find(f".//{{{s12}}}Code")
    assert code.findtext(f"{{{s12}}}Value") == "SOAP-ENV:Sender"
    first = code.find(f"{{{s12}}}Subcode")
    assert first.findtext(f"{{{s12}}}Value") == "ter:InvalidArgVal"
    assert first.find(f"{{{s12}}}Subcode").findtext(f"{{{s12}}}Value") == "ter:InvalidIPv4Address"
    # The ter prefix is declared by the envelope, so the QName values resolve.
    assert root.nsmap["ter"] == soap.TER


@pytest.mark.integration
async def test_soap11_request_gets_soap11_reply() -> None:
    cam = camera("generic")
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        status, body, r = await post(
            s, cam, envelope("<tds:GetSystemDateAndTime/>", soap_ns=SOAP11), soap11=True
        )
        assert status == 200 and r.headers["Content-Type"].startswith("text/xml")
        assert etree.QName(etree.fromstring(body)).namespace == SOAP11


@pytest.mark.integration
async def test_malformed_request_is_a_sender_fault_not_a_crash() -> None:
    cam = camera("dahua")
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        status, body, _ = await post(s, cam, b"<s:Envelope>")
        assert status == 400 and fault_of(body) == ("Sender", ["WellFormed"])
        # The camera still answers normally afterwards.
        status, _, _ = await post(s, cam, envelope("<tds:GetSystemDateAndTime/>"))
        assert status == 200


@pytest.mark.integration
async def test_unknown_operation_and_foreign_namespace_are_action_not_supported() -> None:
    cam = camera("axis")
    hdr = wsse_header("admin", PASSWORD)
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        status, body, _ = await post(s, cam, envelope("<tds:StartFirmwareUpgrade/>", hdr))
        assert status == 500 and fault_of(body) == ("Receiver", ["ActionNotSupported"])
        media = '<trt:GetProfiles xmlns:trt="http://www.onvif.org/ver10/media/wsdl"/>'
        status, body, _ = await post(s, cam, envelope(media, wsse_header("admin", PASSWORD)))
        assert status == 500 and fault_of(body) == ("Receiver", ["ActionNotSupported"])


@pytest.mark.integration
@pytest.mark.parametrize(
    "personality,prefix,vendor_ns",
    [
        ("hikvision", "env", {"tnshik", "hikwsd", "hikxsd"}),
        ("dahua", "SOAP-ENV", set()),
        ("axis", "SOAP-ENV", {"tnsaxis"}),
        ("generic", "SOAP-ENV", set()),
    ],
)
async def test_envelope_style_per_personality(personality: str, prefix: str, vendor_ns: set[str]) -> None:
    cam = camera(personality)
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        status, body, r = await post(s, cam, envelope("<tds:GetSystemDateAndTime/>"))
        assert status == 200 and r.headers["Content-Type"].startswith("application/soap+xml")
        root = etree.fromstring(body)
        assert root.prefix == prefix
        vendor = {"tnshik", "hikwsd", "hikxsd", "tnsaxis"}
        assert set(root.nsmap) & vendor == vendor_ns
