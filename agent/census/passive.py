"""Passive fingerprints of one address in a configured range: what its HTTP, ONVIF, RTSP and TLS services say
to anyone. Nothing here can carry a credential: plain sockets and a ClientSession with no auth middleware."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from agent.census.budget import Budget
from agent.http import Banner
from agent.sweep import soap_envelope, utc_datetime

MAX_BODY = 16 * 1024
MAX_RTSP_REPLY = 4096
_SOAP_HEADERS = {"Content-Type": "application/soap+xml; charset=utf-8"}
_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
    '<s:Body><{0} xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>'
)
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
_TITLE = re.compile(rb"<title[^>]*>(.{0,120}?)</title>", re.IGNORECASE | re.DOTALL)
_HREF = re.compile(rb"""(?:location(?:\.href)?\s*=\s*|url=|href=)["']?([/\w.?=&:-]{1,120})""", re.IGNORECASE)
_REALM = re.compile(r'realm\s*=\s*"([^"]{0,200})"', re.IGNORECASE)
_SERVER = re.compile(r"^server:\s*(.{1,200})$", re.IGNORECASE | re.MULTILINE)


@dataclass
class HostFindings:
    """Everything one address answered without credentials."""

    host: str
    http_port: int | None = None
    http_server: str | None = None
    http_realm: str | None = None
    http_page: str | None = None
    onvif: bool = False
    namespaces: set[str] = field(default_factory=set)
    device_info: dict[str, str] = field(default_factory=dict)  # GetDeviceInformation, when allowed pre-auth
    clock_offset_s: float | None = None
    rtsp_port: int | None = None
    rtsp_server: str | None = None
    rtsp_realm: str | None = None
    tls_port: int | None = None
    tls_subject: str | None = None
    sources: set[str] = field(default_factory=set)

    @property
    def answered(self) -> bool:
        return bool(self.sources)


def page_markers(body: bytes) -> str | None:
    """A landing page reduced to what identifies it: the title and where it sends the browser."""
    parts: list[str] = []
    m = _TITLE.search(body)
    if m is not None:
        parts.append("<title>" + m.group(1).decode("utf-8", "replace").strip() + "</title>")
    parts += [h.decode("ascii", "replace") for h in dict.fromkeys(_HREF.findall(body[:MAX_BODY]))][:4]
    text = " ".join(parts)
    return text[:400] or None


class Prober:
    """Pre-auth probes on one address; every message goes through the budget first."""

    def __init__(self, session: aiohttp.ClientSession, budget: Budget, timeout_s: float) -> None:
        self.session = session
        self.budget = budget
        self.timeout_s = timeout_s
        self._tls = ssl.create_default_context()
        # Only the certificate is read (no data, no credential): verification would refuse every self-signed one.
        self._tls.check_hostname = False
        self._tls.verify_mode = ssl.CERT_NONE

    async def _http(
        self, method: str, url: str, data: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        await self.budget.spend("http" if data is None else "onvif")
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        headers = _SOAP_HEADERS if data is not None else None
        async with self.session.request(method, url, data=data, headers=headers, allow_redirects=False,
                                        timeout=timeout) as r:  # fmt: skip
            body = await r.content.read(MAX_BODY)
            return r.status, {k: v for k, v in r.headers.items()}, body

    async def http(self, f: HostFindings, port: int) -> bool:
        base = f"http://{f.host}:{port}"
        banner = Banner()
        try:
            status, headers, body = await self._http("GET", base + "/")
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False
        f.http_port, f.sources = port, f.sources | {"http"}
        banner.observe(headers)
        if status == 200:
            f.http_page = page_markers(body)
        elif status in (301, 302, 303, 307, 308) and headers.get("Location"):
            f.http_page = f"Location: {headers['Location'][:200]}"
        sent = time.time()
        try:
            status, headers, body = await self._http("POST", base + "/onvif/device_service",
                                                     _ENVELOPE.format("GetSystemDateAndTime").encode())  # fmt: skip
            banner.observe(headers)
            root = soap_envelope(body)
            if root is not None:
                f.onvif, f.sources = True, f.sources | {"onvif"}
                f.namespaces |= {ns for ns in root.nsmap.values() if ns}
                cam = utc_datetime(root)
                if cam is not None:
                    f.clock_offset_s = cam.timestamp() - (sent + time.time()) / 2
            # GetDeviceInformation is READ_SYSTEM, but some firmware answers it to anyone; a refusal still shows
            # the digest realm.
            status, headers, body = await self._http("POST", base + "/onvif/device_service",
                                                     _ENVELOPE.format("GetDeviceInformation").encode())  # fmt: skip
            banner.observe(headers)
            root = soap_envelope(body) if status == 200 else None
            info = root.find(f".//{{{NS_TDS}}}GetDeviceInformationResponse") if root is not None else None
            if info is not None:
                f.device_info = {
                    etree.QName(c).localname: " ".join((c.text or "").split())[:200]
                    for c in info
                    if isinstance(c.tag, str) and (c.text or "").strip()
                }
        except (aiohttp.ClientError, TimeoutError, OSError):
            pass
        f.http_server, f.http_realm = banner.server, banner.realm
        return True

    async def rtsp(self, f: HostFindings, port: int) -> bool:
        """OPTIONS (Server banner) then DESCRIBE without credentials (the digest realm of the refusal)."""
        writer: asyncio.StreamWriter | None = None
        replies: list[str] = []
        try:
            async with asyncio.timeout(self.timeout_s):
                reader, writer = await asyncio.open_connection(f.host, port, limit=MAX_RTSP_REPLY)
                for cseq, method in ((1, "OPTIONS"), (2, "DESCRIBE")):
                    await self.budget.spend("rtsp")
                    writer.write(f"{method} rtsp://{f.host}:{port}/ RTSP/1.0\r\nCSeq: {cseq}\r\n"
                                 "User-Agent: camfleet-census\r\n\r\n".encode())  # fmt: skip
                    await writer.drain()
                    replies.append((await reader.readuntil(b"\r\n\r\n")).decode("latin-1"))
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        if not replies or not replies[0].startswith("RTSP/"):
            return False
        f.rtsp_port, f.sources = port, f.sources | {"rtsp"}
        text = "\n".join(replies).replace("\r\n", "\n")
        if (m := _SERVER.search(text)) is not None:
            f.rtsp_server = m.group(1).strip()
        if (m := _REALM.search(text)) is not None:
            f.rtsp_realm = m.group(1)
        return True

    async def tls(self, f: HostFindings, port: int) -> bool:
        """The certificate subject; the handshake is all that is sent."""
        from cryptography import x509

        writer: asyncio.StreamWriter | None = None
        try:
            await self.budget.spend("tls")
            async with asyncio.timeout(self.timeout_s):
                _, writer = await asyncio.open_connection(f.host, port, ssl=self._tls, server_hostname="")
            obj = writer.get_extra_info("ssl_object")
            der = obj.getpeercert(binary_form=True) if obj is not None else None
        except (TimeoutError, OSError, ssl.SSLError):
            return False
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        if not der:
            return False
        try:
            f.tls_subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()[:300]
        except ValueError:
            f.tls_subject = None
        f.tls_port, f.sources = port, f.sources | {"tls"}
        return True

    async def host(
        self, host: str, http_ports: Sequence[int], rtsp_ports: Sequence[int], tls_ports: Sequence[int],
        *, known: bool = False,
    ) -> HostFindings:  # fmt: skip
        """HTTP first; RTSP and TLS only where something answered (or multicast already heard the device)."""
        f = HostFindings(host)
        for port in http_ports:
            if await self.http(f, port):
                break
        if not f.answered and not known:
            return f
        for port in rtsp_ports:
            if await self.rtsp(f, port):
                break
        for port in tls_ports:
            if await self.tls(f, port):
                break
        return f
