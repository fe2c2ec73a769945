"""Cheap checks between full reads: one pre-auth GetSystemDateAndTime per camera, no credential ever sent."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from agent.onvif_xaddr import DEVICE_PATH
from agent.sweep import GET_SYSTEM_DATE_AND_TIME as _DATE_REQUEST
from agent.xmlsafe import SOAP_PARSER

#: A GetSystemDateAndTime reply is about 1 KiB; a device answering more is read no further.
_MAX_REPLY = 64 * 1024


@dataclass(frozen=True, slots=True)
class Sign:
    """What one check saw. `reachable` is comparable with the record's; the rest is the device's web stack as
    it presents itself without a login (status, Server header, digest realm, the SOAP namespaces its reply
    declares): a different device at the address, a firmware swap or a reset changes it."""

    reachable: bool
    status: int = 0
    server: str = ""
    realm: str = ""
    namespaces: frozenset[str] = frozenset()


def request_bytes(host: str, port: int) -> bytes:
    """The one request of a check: HTTP/1.1 with Connection: close, so the reply ends where the socket does."""
    bracketed = f"[{host}]" if ":" in host else host
    return (
        f"POST {DEVICE_PATH} HTTP/1.1\r\nHost: {bracketed}:{port}\r\n"
        'Content-Type: application/soap+xml; charset="utf-8"\r\n'
        f"Content-Length: {len(_DATE_REQUEST)}\r\nConnection: close\r\n\r\n"
    ).encode() + _DATE_REQUEST


def reply_complete(raw: bytes) -> bool:
    """True once `raw` holds a whole HTTP reply by its framing: Content-Length, or the last chunk."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            return value.strip().isdigit() and len(body) >= int(value.strip())
        if key == b"transfer-encoding" and b"chunked" in value.lower():
            return body.endswith(b"0\r\n\r\n")
    return False


def read_sign(raw: bytes) -> Sign:
    """The Sign of a raw HTTP reply (headers and as much body as arrived); garbage is an answer too."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        # Something answered, but not HTTP: a device is there; what it says is its sign.
        return Sign(True, 0, lines[0][:80])
    status = int(parts[1])
    server = realm = ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        if key == "server":
            server = value.strip()[:200]
        elif key == "www-authenticate" and not realm:
            realm = value.partition('realm="')[2].partition('"')[0][:200]
    namespaces: frozenset[str] = frozenset()
    with contextlib.suppress(etree.XMLSyntaxError, ValueError):
        root = etree.fromstring(body, SOAP_PARSER)
        namespaces = frozenset(v for v in root.nsmap.values() if v)
    # 403 is what a camera whose IP filter excludes us answers: for the agent that camera is out of reach.
    return Sign(status < 500 and status != 403, status, server, realm, namespaces)


class Checker:
    """Checks over plain sockets under the agent's global gate: no HTTP client, no session, no credential
    (a check costs a fraction of a full request's CPU, which is what keeps the steady state cheap)."""

    def __init__(self, gate: asyncio.Semaphore, timeout: float) -> None:
        self.gate = gate
        self.timeout = timeout

    async def sign(self, host: str, port: int) -> Sign:
        """The camera's Sign; any transport failure (refused, timed out, reset) is simply `unreachable`."""
        writer = None
        try:
            async with self.gate, asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(request_bytes(host, port))
                raw = b""
                # Until the reply is complete by its own framing (a server may ignore Connection: close and keep
                # the socket open), the socket closes, or 64 KiB arrived.
                while len(raw) < _MAX_REPLY and not reply_complete(raw):
                    more = await reader.read(_MAX_REPLY - len(raw))
                    if not more:
                        break
                    raw += more
        except (TimeoutError, OSError):
            return Sign(False)
        finally:
            if writer is not None:
                writer.close()
        if not raw:
            return Sign(False)
        return read_sign(raw)
