"""SOAP 1.2/1.1 plumbing for camsim: secure request parsing, pre-rendered envelopes and ONVIF faults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

from aiohttp import web
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TT = "http://www.onvif.org/ver10/schema"
TER = "http://www.onvif.org/ver10/error"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
)

# Requests larger than this are refused before parsing: cameras have small buffers, and it bounds CPU.
MAX_REQUEST_BYTES = 256 * 1024

EnvelopeStyle = Literal["hikvision", "gsoap", "gsoap-axis"]

# One parser for the whole process: no entity expansion, no DTD loading, no network (XXE/billion laughs).
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


class SoapError(Exception):
    """A request that cannot be served; carries the ONVIF fault to send back."""

    def __init__(self, code: Literal["Sender", "Receiver"], subcodes: list[str], reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.subcodes = subcodes
        self.reason = reason


def not_authorized(reason: str = "Sender not Authorized") -> SoapError:
    return SoapError("Sender", ["NotAuthorized"], reason)


def action_not_supported(reason: str = "Optional Action Not Implemented", *more: str) -> SoapError:
    return SoapError("Receiver", ["ActionNotSupported", *more], reason)


def invalid_arg_val(detail: str | None = None, reason: str = "Argument Value Invalid") -> SoapError:
    return SoapError("Sender", ["InvalidArgVal", *([detail] if detail else [])], reason)


def operation_prohibited(detail: str, reason: str) -> SoapError:
    return SoapError("Sender", ["OperationProhibited", detail], reason)


@dataclass(frozen=True)
class UsernameToken:
    """The WS-Security UsernameToken of a request, as sent (nothing verified yet)."""

    username: str
    password: str
    password_type: str
    nonce_b64: str | None
    created: str | None


@dataclass
class SoapRequest:
    version: Literal["1.1", "1.2"]
    namespace: str | None  # namespace of the first Body child (the operation)
    operation: str  # local name of the first Body child
    body: etree._Element | None
    token: UsernameToken | None = None
    has_security_header: bool = False


def parse_request(data: bytes) -> SoapRequest:
    """Parse a SOAP envelope securely; raise SoapError(Sender/WellFormed...) for anything unusable."""
    if len(data) > MAX_REQUEST_BYTES:
        raise SoapError("Sender", ["InvalidArgs"], "Request too large")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapError("Sender", ["WellFormed"], "XML Well-formed violation") from exc
    tree = root.getroottree()
    if tree.docinfo.doctype:
        # A DOCTYPE has no business in SOAP (SOAP 1.2 part 1 §5); refusing it kills entity tricks too.
        raise SoapError("Sender", ["WellFormed"], "DTD not allowed")
    qn = etree.QName(root)
    if qn.localname != "Envelope" or qn.namespace not in (SOAP12, SOAP11):
        raise SoapError("Sender", ["Namespace"], "Not a SOAP envelope")
    env_ns = qn.namespace
    version: Literal["1.1", "1.2"] = "1.2" if env_ns == SOAP12 else "1.1"
    body = root.find(f"{{{env_ns}}}Body")
    if body is None:
        raise SoapError("Sender", ["Tag"], "Missing Body")
    op_el = next((c for c in body if isinstance(c.tag, str)), None)
    req = SoapRequest(
        version=version,
        namespace=etree.QName(op_el).namespace if op_el is not None else None,
        operation=etree.QName(op_el).localname if op_el is not None else "",
        body=op_el,
    )
    header = root.find(f"{{{env_ns}}}Header")
    if header is not None:
        sec = header.find(f"{{{WSSE}}}Security")
        if sec is not None:
            req.has_security_header = True
            tok = sec.find(f"{{{WSSE}}}UsernameToken")
            if tok is not None:
                pw = tok.find(f"{{{WSSE}}}Password")
                req.token = UsernameToken(
                    username=(tok.findtext(f"{{{WSSE}}}Username") or "").strip(),
                    password=(pw.text or "") if pw is not None else "",
                    password_type=(pw.get("Type") or PASSWORD_DIGEST) if pw is not None else "",
                    nonce_b64=_text_or_none(tok.find(f"{{{WSSE}}}Nonce")),
                    created=_text_or_none(tok.find(f"{{{WSU}}}Created")),
                )
    return req


def _text_or_none(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return str(el.text).strip()


# ---- envelopes -----------------------------------------------------------------------------------
# Namespace declarations copied from the recordings (fixtures/onvif_agsh_v0.8.2): the Hikvision ONVIF
# server (device.GetDNS.xml) uses prefix "env" and declares its vendor namespaces tnshik/hikwsd/hikxsd;
# gSOAP "IPNC" firmwares use "SOAP-ENV" and declare every namespace they know (Axis adds tnsaxis).
_HIK_NS = (
    'xmlns:soapenc="http://www.w3.org/2003/05/soap-encoding" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:timg="http://www.onvif.org/ver20/imaging/wsdl" '
    'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" '
    'xmlns:tan="http://www.onvif.org/ver20/analytics/wsdl" xmlns:tst="http://www.onvif.org/ver10/storage/wsdl" '
    'xmlns:ter="http://www.onvif.org/ver10/error" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" '
    'xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:tmd="http://www.onvif.org/ver10/deviceIO/wsdl" '
    'xmlns:wsdl="http://schemas.xmlsoap.org/wsdl" xmlns:wsoap12="http://schemas.xmlsoap.org/wsdl/soap12" '
    'xmlns:http="http://schemas.xmlsoap.org/wsdl/http" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    'xmlns:wsadis="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:wsa="http://www.w3.org/2005/08/addressing" '
    'xmlns:wstop="http://docs.oasis-open.org/wsn/t-1" xmlns:wsrf-bf="http://docs.oasis-open.org/wsrf/bf-2" '
    'xmlns:wsntw="http://docs.oasis-open.org/wsn/bw-2" xmlns:wsrf-rw="http://docs.oasis-open.org/wsrf/rw-2" '
    'xmlns:wsaw="http://www.w3.org/2006/05/addressing/wsdl" xmlns:wsrf-r="http://docs.oasis-open.org/wsrf/r-2" '
    'xmlns:trc="http://www.onvif.org/ver10/recording/wsdl" xmlns:tse="http://www.onvif.org/ver10/search/wsdl" '
    'xmlns:trp="http://www.onvif.org/ver10/replay/wsdl" '
    'xmlns:tnshik="http://www.hikvision.com/2011/event/topics" '
    'xmlns:hikwsd="http://www.onvifext.com/onvif/ext/ver10/wsdl" '
    'xmlns:hikxsd="http://www.onvifext.com/onvif/ext/ver10/schema" '
    'xmlns:tas="http://www.onvif.org/ver10/advancedsecurity/wsdl"'
)
_GSOAP_NS = (
    'xmlns:SOAP-ENC="http://www.w3.org/2003/05/soap-encoding" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:chan="http://schemas.microsoft.com/ws/2005/02/duplex" '
    'xmlns:wsa5="http://www.w3.org/2005/08/addressing" xmlns:c14n="http://www.w3.org/2001/10/xml-exc-c14n#" '
    'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" '
    'xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:wsc="http://schemas.xmlsoap.org/ws/2005/02/sc" '
    'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" '
    'xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" '
    'xmlns:xmime5="http://www.w3.org/2005/05/xmlmime" xmlns:xmime="http://tempuri.org/xmime.xsd" '
    'xmlns:xop="http://www.w3.org/2004/08/xop/include" xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:wsrfbf="http://docs.oasis-open.org/wsrf/bf-2" xmlns:wstop="http://docs.oasis-open.org/wsn/t-1" '
    'xmlns:wsrfr="http://docs.oasis-open.org/wsrf/r-2" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
    'xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
    'xmlns:timg="http://www.onvif.org/ver20/imaging/wsdl" xmlns:tmd="http://www.onvif.org/ver10/deviceIO/wsdl" '
    'xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:ter="http://www.onvif.org/ver10/error"'
)
_AXIS_NS = ' xmlns:tnsaxis="http://www.axis.com/2009/event/topics"'


@dataclass(frozen=True)
class Envelope:
    """Pre-rendered envelope halves; a reply is head + body + tail, no tree building per request."""

    prefix: str  # env prefix used for Body/Fault elements
    version: Literal["1.1", "1.2"]
    head: bytes
    tail: bytes

    @property
    def content_type(self) -> str:
        if self.version == "1.2":
            return "application/soap+xml; charset=utf-8"
        return "text/xml; charset=utf-8"


def _make_envelope(style: EnvelopeStyle, version: Literal["1.1", "1.2"]) -> Envelope:
    env_uri = SOAP12 if version == "1.2" else SOAP11
    if style == "hikvision":
        p, decls = "env", _HIK_NS
    else:
        p, decls = "SOAP-ENV", _GSOAP_NS + (_AXIS_NS if style == "gsoap-axis" else "")
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<{p}:Envelope xmlns:{p}="{env_uri}" {decls}><{p}:Body>'
    tail = f"</{p}:Body></{p}:Envelope>\n"
    return Envelope(p, version, head.encode(), tail.encode())


_STYLES: tuple[EnvelopeStyle, ...] = ("hikvision", "gsoap", "gsoap-axis")
_VERSIONS: tuple[Literal["1.1", "1.2"], ...] = ("1.1", "1.2")
_ENVELOPES: dict[tuple[EnvelopeStyle, str], Envelope] = {
    (s, v): _make_envelope(s, v) for s in _STYLES for v in _VERSIONS
}


def envelope(style: EnvelopeStyle, version: Literal["1.1", "1.2"] = "1.2") -> Envelope:
    return _ENVELOPES[(style, version)]


def reply(env: Envelope, body: str, status: int = 200) -> web.Response:
    return web.Response(
        body=env.head + body.encode() + env.tail,
        status=status,
        headers={"Content-Type": env.content_type},
    )


def fault_body(env: Envelope, err: SoapError) -> str:
    """Render a fault the way ONVIF Core shows it: subcodes nested one inside the other."""
    p = env.prefix
    reason = escape(err.reason)
    if env.version == "1.1":
        # SOAP 1.1 has no subcodes; gSOAP puts the ONVIF subcode in faultcode's detail.
        code = "Client" if err.code == "Sender" else "Server"
        sub = "".join(f"<ter:{s}/>" for s in err.subcodes)
        return (
            f"<{p}:Fault><faultcode>{p}:{code}</faultcode><faultstring>{reason}</faultstring>"
            f"<detail>{sub}</detail></{p}:Fault>"
        )
    inner = ""
    for sub in reversed(err.subcodes):
        inner = f"<{p}:Subcode><{p}:Value>ter:{sub}</{p}:Value>{inner}</{p}:Subcode>"
    return (
        f"<{p}:Fault><{p}:Code><{p}:Value>{p}:{err.code}</{p}:Value>{inner}</{p}:Code>"
        f'<{p}:Reason><{p}:Text xml:lang="en">{reason}</{p}:Text></{p}:Reason></{p}:Fault>'
    )


def fault_response(env: Envelope, err: SoapError, status: int | None = None) -> web.Response:
    """SOAP 1.2 HTTP binding: Sender faults travel with 400, Receiver faults with 500."""
    if status is None:
        status = 400 if err.code == "Sender" else 500
    return reply(env, fault_body(env, err), status)
