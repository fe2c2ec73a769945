"""Cheap checks between full reads: one pre-auth GetSystemDateAndTime per camera, no credential ever sent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from agent.http import HttpPool
from agent.onvif_xaddr import DEVICE_PATH
from agent.xmlsafe import SOAP_PARSER

_DATE_REQUEST = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
    b' xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
    b"<s:Body><tds:GetSystemDateAndTime/></s:Body></s:Envelope>"
)
_HEADERS = {"Content-Type": 'application/soap+xml; charset="utf-8"'}
#: A GetSystemDateAndTime reply is about 1 KiB; a device answering more is read no further.
_MAX_BODY = 64 * 1024


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


class Checker:
    """One credential-free ClientSession over the agent's shared connector and gate, for every camera."""

    def __init__(self, pool: HttpPool, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout
        self._session = aiohttp.ClientSession(
            connector=pool.connector,
            connector_owner=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),
        )

    async def close(self) -> None:
        await self._session.close()

    async def sign(self, base_url: str) -> Sign:
        """The camera's Sign; any transport failure (refused, timed out, reset) is simply `unreachable`."""
        try:
            async with self.pool.gate, asyncio.timeout(self.timeout):
                request = self._session.post(base_url + DEVICE_PATH, data=_DATE_REQUEST, headers=_HEADERS,
                                             allow_redirects=False)  # fmt: skip
                async with request as resp:
                    body = await resp.content.read(_MAX_BODY)
                    status, headers = resp.status, resp.headers
        except (TimeoutError, aiohttp.ClientError, OSError):
            return Sign(False)
        namespaces: frozenset[str] = frozenset()
        try:
            root = etree.fromstring(body, SOAP_PARSER)
            namespaces = frozenset(v for v in root.nsmap.values() if v)
        except (etree.XMLSyntaxError, ValueError):
            pass
        challenge = headers.get("WWW-Authenticate", "")
        realm = challenge.partition('realm="')[2].partition('"')[0]
        # 403 is what a camera whose IP filter excludes us answers: for the agent that camera is out of reach.
        reachable = status < 500 and status != 403
        return Sign(reachable, status, headers.get("Server", ""), realm, namespaces)
