"""The zeep-free read path: fixed SOAP 1.2 envelopes for read-only device calls, replies read in one strict parse.

Requests are the bytes zeep sends for these operations (same envelope, SOAPAction and Content-Type, the same
WS-Security UsernameToken with the clock offset folded into Created); replies are interpreted step for step like
zeep's SoapBinding.process_reply and decoded by agent.onvif_decode, and every failure goes through
agent.onvif_faults exactly as on the zeep path. Anything this module does not model (a multipart reply, an
operation with parameters it does not know) is left to zeep by the caller.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from agent.credentials import Credentials
from agent.errors import CameraError, ProtocolError
from agent.http import HttpReply
from agent.onvif_decode import Decoder
from agent.onvif_faults import classify, convert, fault_parts

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
TDS = "http://www.onvif.org/ver10/device/wsdl"
_ENVELOPE = f"{{{SOAP12}}}Envelope"
_BODY = f"{{{SOAP12}}}Body"
_HEADER = f"{{{SOAP12}}}Header"
_FAULT = f"{{{SOAP12}}}Fault"
_NS = {"soap-env": SOAP12}
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
_B64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"

#: Read-only device-management operations sent without parameters on this path.
READ_OPS = frozenset(
    {
        "GetSystemDateAndTime", "GetServiceCapabilities", "GetDeviceInformation", "GetServices", "GetScopes",
        "GetNetworkInterfaces", "GetNetworkProtocols", "GetDNS", "GetNTP", "GetNetworkDefaultGateway",
        "GetZeroConfiguration", "GetDiscoveryMode", "GetRemoteDiscoveryMode", "GetDynamicDNS",
        "GetIPAddressFilter", "GetUsers", "GetHostname",
    }
)  # fmt: skip
#: The only parameter a read on this path carries (GetServices' required IncludeCapability, a boolean).
_BOOL_PARAMS = {"GetServices": "IncludeCapability"}


def handles(op: str, params: dict[str, Any]) -> bool:
    """True when this path can send `op` with `params` exactly as zeep would."""
    if op not in READ_OPS:
        return False
    required = _BOOL_PARAMS.get(op)
    if required is None:
        return not params
    # The parameter is required by the WSDL: without it zeep refuses to send, so leave that case to zeep.
    return params.keys() == {required} and isinstance(params[required], bool)


def envelope(op: str, params: dict[str, Any], security: bytes = b"") -> bytes:
    """The request zeep builds for `op` (byte for byte, apart from the token's nonce and time)."""
    if not params and not security:
        return _plain_envelope(op)
    return _envelope(op, params, security)


@functools.cache
def _plain_envelope(op: str) -> bytes:
    """A parameterless request without a WS-Security header is the same bytes every time (digest cameras)."""
    return _envelope(op, {}, b"")


def _envelope(op: str, params: dict[str, Any], security: bytes) -> bytes:
    name = _BOOL_PARAMS.get(op)
    if name is not None and name in params:
        value = "true" if params[name] else "false"
        body = f'<ns0:{op} xmlns:ns0="{TDS}"><ns0:{name}>{value}</ns0:{name}></ns0:{op}>'
    else:
        body = f'<ns0:{op} xmlns:ns0="{TDS}"/>'
    header = b"<soap-env:Header>" + security + b"</soap-env:Header>" if security else b""
    return (
        b"<?xml version='1.0' encoding='utf-8'?>\n"
        b'<soap-env:Envelope xmlns:soap-env="http://www.w3.org/2003/05/soap-envelope"'
        b' xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:wsa="http://www.w3.org/2005/08/addressing">'
        + header
        + b"<soap-env:Body>"
        + body.encode()
        + b"</soap-env:Body></soap-env:Envelope>"
    )


@functools.cache
def http_headers(op: str) -> Mapping[str, str]:
    """The SOAPAction and Content-Type headers of `op` (built once per operation; read-only)."""
    action = f"{TDS}/{op}"
    return MappingProxyType({
        "SOAPAction": f'"{action}"',
        "Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"',
    })  # fmt: skip


def username_token(
    credentials: Credentials, clock_offset_s: float, *, now: dt.datetime | None = None
) -> bytes:
    """WS-Security UsernameToken with PasswordDigest, as onvif's UsernameDigestTokenDtDiff makes it: Created in
    Zulu form on the camera's clock (our clock plus the measured offset; Hikvision refuses "+00:00")."""
    when = (now or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=clock_offset_s)
    created = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    nonce = os.urandom(16)
    digest = hashlib.sha1(nonce + created.encode() + credentials.password.encode()).digest()
    return (
        f'<wsse:Security xmlns:wsse="{WSSE_NS}"><wsse:UsernameToken>'
        f"<wsse:Username>{escape(credentials.username)}</wsse:Username>"
        f'<wsse:Password Type="{_DIGEST}">{base64.b64encode(digest).decode()}</wsse:Password>'
        f'<wsse:Nonce EncodingType="{_B64}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f'<wsu:Created xmlns:wsu="{WSU_NS}">{created}</wsu:Created>'
        "</wsse:UsernameToken></wsse:Security>"
    ).encode()


@dataclass
class ReadPath:
    """What interpreting a reply needs from the devicemgmt WSDL: the response elements and their shapes."""

    binding: Any
    decoder: Decoder

    def interpret(self, op: str, reply: HttpReply, root: Any, *, host: str, optional: bool) -> Any:
        """The value zeep would return for this reply, or the CameraError the zeep path would raise."""
        raw = reply.body
        try:
            return self._interpret(op, reply, root, host=host, optional=optional)
        except CameraError:
            raise
        except Exception as exc:  # what zeep would raise from the same tree, converted the same way
            raise convert(exc, host=host, operation=op, optional=optional, raw=raw) from exc

    def _interpret(self, op: str, reply: HttpReply, root: Any, *, host: str, optional: bool) -> Any:
        status, body = reply.status, reply.body
        if status in (201, 202) and not body:
            return None
        if status != 200 and not body:
            raise ProtocolError(
                f"unusable reply (HTTP {status}): Server returned HTTP status {status} (no content available)",
                host=host, operation=op, raw=body,
            )  # fmt: skip
        if root is None:
            # Only whitespace: zeep's parser fails on it like on any non-XML reply.
            raise ProtocolError(
                f"unusable reply (HTTP {status}): Server returned response ({status}) with invalid XML",
                host=host, operation=op, raw=body,
            )  # fmt: skip
        docinfo = root.getroottree().docinfo
        for dtd in (docinfo.internalDTD, docinfo.externalDTD):
            if dtd is not None:
                for entity in dtd.iterentities():
                    # zeep refuses any entity declaration (forbid_entities) before looking further.
                    raise ProtocolError(
                        f"reply could not be parsed (EntitiesForbidden: {entity.name})",
                        host=host, operation=op, raw=body,
                    )  # fmt: skip
        fault = root.find("soap-env:Body/soap-env:Fault", namespaces=_NS)
        if status != 200 or fault is not None:
            raise self._fault(fault, root, op=op, host=host, optional=optional, raw=body)
        if root.tag != _ENVELOPE:
            raise ProtocolError(
                f"reply could not be parsed (XMLSyntaxError: no SOAP 1.2 Envelope root, found {root.tag!r})",
                host=host, operation=op, raw=body,
            )  # fmt: skip
        operation = self.binding.get(op)
        output = operation.output
        # zeep takes list(Body)[0]: TypeError without a Body, IndexError for an empty one (converted by the caller).
        first = list(root.find(_BODY))[0]  # noqa: RUF015
        header = root.find(_HEADER)
        if header is not None:
            # zeep parses any reply header (an xsd:All that consumes everything); run it for its failures only.
            output._deserialize_headers(header)
        return self.decoder.body(output.body, first)

    def _fault(self, fault: Any, root: Any, *, op: str, host: str, optional: bool, raw: bytes) -> CameraError:
        """zeep's Soap12Binding.process_error, then agent.onvif_faults.classify."""
        if fault is None:
            info = fault_parts(None, [], etree.tostring(root), "Unknown fault occured")
            return classify(info, host=host, operation=op, optional=optional, raw=raw)
        message = fault.findtext("soap-env:Reason/soap-env:Text", namespaces=_NS)
        code = fault.findtext("soap-env:Code/soap-env:Value", namespaces=_NS)
        subcodes = []
        sub = fault.find("soap-env:Code/soap-env:Subcode", namespaces=_NS)
        while sub is not None:
            value = sub.find("soap-env:Value", namespaces=_NS)
            subcodes.append(as_qname(value.text, value.nsmap))
            sub = sub.find("soap-env:Subcode", namespaces=_NS)
        detail = fault.find("soap-env:Detail", namespaces=_NS)
        return classify(fault_parts(code, subcodes, detail, message), host=host, operation=op, optional=optional,
                        raw=raw)  # fmt: skip


def as_qname(value: str, nsmap: dict[str | None, str]) -> Any:
    """zeep.utils.as_qname (its errors included: an undeclared prefix, two colons, a bad name)."""
    value = value.strip()
    if ":" in value:
        prefix, local = value.split(":")
        namespace = "http://www.w3.org/XML/1998/namespace" if prefix == "xml" else nsmap.get(prefix)
        if not namespace:
            raise ValueError(f"No namespace defined for {prefix!r} ({value!r})")
        if not local:
            return etree.QName("http://www.w3.org/2001/XMLSchema", "anyType")
        return etree.QName(namespace, local)
    if nsmap.get(None):
        return etree.QName(nsmap[None], value)
    return etree.QName(value)


_PATH: ReadPath | None = None


async def read_path() -> ReadPath:
    """The process's ReadPath, built once from the shared devicemgmt document (agent.onvif_session)."""
    global _PATH
    if _PATH is None:
        from agent.onvif_session import DEVICE_BINDING, device_document

        document = await device_document()
        binding = document.bindings[DEVICE_BINDING]
        _PATH = ReadPath(binding, Decoder(document.types, document.types.settings))
    return _PATH
