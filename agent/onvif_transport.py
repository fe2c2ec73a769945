"""zeep transport that sends SOAP through a camera's CameraHttp (keep-alive connection, digest, timeouts)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from lxml import etree  # type: ignore[import-untyped, unused-ignore]
from onvif.zeep_aiohttp import AIOHTTPTransport
from requests import Response
from requests.structures import CaseInsensitiveDict
from zeep.wsdl.utils import etree_to_string

from agent import soap11
from agent.errors import AuthFailed, ProtocolError, Unreachable, Unsupported
from agent.http import CameraHttp, HttpReply
from agent.xmlsafe import SOAP_PARSER

# onvif-zeep-async runs zeep with strict=False, i.e. lxml *recover* mode: a body cut mid-document or with
# garbage appended parses "fine" and silently loses data (a truncated GetUsers would look like fewer users).
# Replies are therefore checked for well-formedness with a strict parser first (small bodies: ~50 us); the
# zeep-free read path (agent.onvif_read) reads its values from this same tree.
_STRICT = SOAP_PARSER


class PreAuthRefused(AuthFailed):
    """An anonymous (pre-auth) request was refused: the camera wants credentials. No login was attempted,
    so this never counts as, nor is remembered as, an authentication failure."""


class CameraTransport(AIOHTTPTransport):  # type: ignore[misc]  # onvif ships no type hints
    """zeep's async transport routed through CameraHttp.exchange (the camera's keep-alive connection and digest).

    Going through CameraHttp gives every SOAP call the global concurrency gate, the per-camera lock
    (no parallel digest sessions to one device), the timeout, the stale-nonce retry and the Date-header
    clock sample. HTTP statuses that are transport or login failures are raised here as agent errors;
    everything else (200, SOAP faults on 400/500) is handed to zeep to parse.
    """

    def __init__(
        self, http: CameraHttp, *, authenticate: bool, timeout: float | None = None, wsse: bool = False
    ) -> None:
        # zeep's Transport state without its requests.Session and AIOHTTPTransport's aiohttp session: every call
        # goes through CameraHttp, and the WSDL is parsed from disk, never fetched.
        self.cache = None
        self.load_timeout = self.operation_timeout = None
        self.logger = logging.getLogger("zeep.transports")
        self.verify_ssl, self.proxy = True, None
        self._close_session = False  # zeep's Transport.__del__ reads it
        self.http = http
        self.authenticate = authenticate
        self.wsse = wsse  # requests carry a WS-Security UsernameToken (said in errors: what was sent)
        self.call_timeout = timeout
        self.operation = ""  # set by the session before each call, for error messages
        self.last_reply: HttpReply | None = None

    async def post_xml(self, address: str, envelope: Any, headers: dict[str, str]) -> Response:
        message: bytes = etree_to_string(envelope)  # type: ignore[no-untyped-call]
        return await self.post_raw(address, message, headers)

    async def post(self, address: str, message: str, headers: dict[str, str]) -> Response:
        return await self.post_raw(address, message, headers)

    async def post_raw(self, address: str, message: str | bytes, headers: dict[str, str]) -> Response:
        hdrs = dict(headers or {})
        hdrs.setdefault("Content-Type", 'application/soap+xml; charset="utf-8"')
        data = message.encode("utf-8") if isinstance(message, str) else message
        self.last_reply = None
        reply = await self.http.exchange(
            "POST",
            address,
            data=data,
            headers=hdrs,
            timeout=self.call_timeout,
            authenticate=self.authenticate,
            credential_in_body=self.wsse,
            operation=self.operation,
        )
        self.last_reply = reply
        return _to_requests(self._raise_for_status(reply))

    def _raise_for_status(self, reply: HttpReply) -> HttpReply:
        """Raise the agent error a status means; return the reply zeep should parse (SOAP 1.1 made 1.2)."""
        _root, body = parse_reply(self.http, reply, operation=self.operation, authenticate=self.authenticate,
                                 wsse=self.wsse)  # fmt: skip
        return reply if body is reply.body else dataclasses.replace(reply, body=body)

    async def get(
        self, address: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        # zeep only GETs to load WSDL/XSD; ours are parsed once from disk, never fetched from a camera.
        raise Unsupported("remote WSDL loading is disabled", host=self.http.host, operation=address)


def check_reply(
    http: CameraHttp, reply: HttpReply, *, operation: str, authenticate: bool, wsse: bool = False
) -> Any:
    """Map the HTTP statuses that are transport or login failures and check the body with one strict parse.

    Returns the parsed SOAP 1.2 root (None for an empty body); both read paths (zeep's and agent.onvif_read)
    start from here, so a reply is classified the same way before either looks at its SOAP content.
    """
    return parse_reply(http, reply, operation=operation, authenticate=authenticate, wsse=wsse)[0]


def parse_reply(
    http: CameraHttp, reply: HttpReply, *, operation: str, authenticate: bool, wsse: bool = False
) -> tuple[Any, bytes]:
    """check_reply, plus the body to hand to zeep: the reply's own, or its SOAP 1.2 rewrite when the camera
    answered SOAP 1.1 (older firmware does whatever the request spoke, DESIGN §4). `wsse`: the request
    carried a WS-Security UsernameToken (errors say what was sent)."""
    host, op = http.host, operation
    if reply.status == 401 and authenticate and not reply.auth_sent:
        http.check(reply, operation=op, authenticated=False)  # too many connections, locked
        if wsse:
            # ipycam and others answer a refused UsernameToken with 401 and a bare fault.
            raise AuthFailed("WS-UsernameToken rejected (HTTP 401)", host=host, operation=op)
        # Nothing was sent (a Basic-only challenge): no failed login, but only an operator can fix it.
        raise AuthFailed(reply.refusal(), host=host, operation=op)
    # Dahua "Too many connections" 401 -> Unreachable, lock bodies -> LockedOut, 503 -> Unreachable, and a
    # 401 that survived the digest round -> AuthFailed. Without credentials a 401 is no failed login.
    http.check(reply, operation=op, authenticated=authenticate)
    if reply.status == 401:
        raise PreAuthRefused("camera requires authentication", host=host, operation=op)
    if reply.status == 403:
        # A camera whose IP filter excludes us refuses with an empty 403 and closes the connection.
        raise Unreachable("refused by the camera (HTTP 403, IP filter?)", host=host, operation=op)
    if reply.status in (404, 405):
        raise Unsupported(f"no SOAP service at this path (HTTP {reply.status})", host=host, operation=op)
    if reply.status >= 500 and not _looks_like_xml(reply.body):
        # A 500 with a plain-text body is the web server failing, not a SOAP answer: transient.
        raise Unreachable(f"HTTP {reply.status} without a SOAP body", host=host, operation=op)
    if not reply.body.strip():
        return None, reply.body
    try:
        root = etree.fromstring(reply.body, _STRICT)
    except etree.XMLSyntaxError as exc:
        if authenticate and reply.status in (400, 401):
            # An unreadable 400/401 to a request with credentials may be a refused UsernameToken
            # (400 + Sender/NotAuthorized): count it as the one failed login, never try it again.
            raise AuthFailed(
                f"login refused or unreadable reply (HTTP {reply.status})", host=host, operation=op
            ) from exc
        raise ProtocolError(
            f"reply is not well-formed XML: {exc}", host=host, operation=op, raw=reply.body
        ) from exc
    # The namespaces the envelope declares are attribution evidence (vendor extensions survive OEM
    # rebranding); only the root's declarations, so this costs nothing per element.
    namespaces = http.banner.namespaces
    namespaces.update(root.nsmap.values())  # one C-level update per reply (a generator cost ~5 % of the CPU)
    namespaces.discard("")
    if soap11.is_soap11(root):
        body = soap11.to_soap12(root)
        return etree.fromstring(body, _STRICT), body
    return root, reply.body


def _looks_like_xml(body: bytes) -> bool:
    head = body.lstrip()[:64]
    return (
        head.startswith(b"<")
        or head.startswith(b"\xef\xbb\xbf<")
        or head.startswith((b"\xff\xfe", b"\xfe\xff"))
    )


def _to_requests(reply: HttpReply) -> Response:
    """The requests.Response zeep's SOAP binding expects (content, status, headers)."""
    resp = Response()
    resp._content = reply.body
    resp.status_code = reply.status
    # CameraHttp already decoded any Content-Encoding; zeep must not try to decompress again.
    resp.headers = CaseInsensitiveDict(
        {k: v for k, v in reply.headers.items() if k.lower() != "content-encoding"}
    )
    resp.encoding = None
    resp.url = reply.url
    return resp
