"""Helpers for driving camsim's ONVIF device service with onvif-zeep-async and with raw SOAP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import zeep.exceptions
from lxml import etree  # type: ignore[import-untyped, unused-ignore]
from onvif import ONVIFCamera

from camsim.model import Camera
from tests.camsim.conftest import build_camera

PASSWORD = "Secret-123"
ALL_CAPS = ["IPFilter", "ZeroConfiguration", "DynDNS", "NTP"]
TIMEOUT = 15.0
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TER = "http://www.onvif.org/ver10/error"
GET_INFO_BODY = "<tds:GetDeviceInformation/>"


def camera(personality: str = "hikvision", address: str = "127.0.1.1", **kw: Any) -> Camera:
    """A camera with every optional capability unless told otherwise (generic lacks IPFilter/DynDNS)."""
    kw.setdefault(
        "capabilities", ["ZeroConfiguration", "NTP"] if personality == "generic" else list(ALL_CAPS)
    )
    kw.setdefault(
        "scopes",
        [
            "onvif://www.onvif.org/type/video_encoder",
            "onvif://www.onvif.org/Profile/Streaming",
            "onvif://www.onvif.org/name/TEST-1",
            "onvif://www.onvif.org/location/",
        ],
    )
    return build_camera(personality, address=address, password=PASSWORD, **kw)


@asynccontextmanager
async def device(
    cam: Camera, user: str = "admin", password: str = PASSWORD, *, adjust_time: bool = False
) -> AsyncIterator[Any]:
    """An onvif-zeep-async devicemgmt service bound to `cam` (update_xaddrs first, as agents do)."""
    client = ONVIFCamera(
        cam.network.address, cam.port, user, password, no_cache=True, adjust_time=adjust_time
    )
    try:
        await asyncio.wait_for(client.update_xaddrs(), TIMEOUT)
        dm = await asyncio.wait_for(client.create_devicemgmt_service(), TIMEOUT)
        yield dm
    finally:
        await client.close()


async def call(dm: Any, op: str, params: dict[str, Any] | None = None) -> Any:
    return await asyncio.wait_for(getattr(dm, op)(params), TIMEOUT)


def subcodes(fault: zeep.exceptions.Fault) -> list[str]:
    return [etree.QName(s).localname for s in (fault.subcodes or [])]


def fault_code(fault: zeep.exceptions.Fault) -> str:
    return str(fault.code).rpartition(":")[2]


def wsse_header(
    user: str, password: str, *, created: datetime | None = None, nonce: bytes | None = None
) -> str:
    nonce = nonce if nonce is not None else os.urandom(16)
    created_s = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + created_s.encode() + password.encode()).digest()).decode()
    return (
        '<s:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/'
        'oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/'
        'oasis-200401-wss-wssecurity-utility-1.0.xsd"><wsse:UsernameToken>'
        f"<wsse:Username>{user}</wsse:Username>"
        '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-'
        f'profile-1.0#PasswordDigest">{digest}</wsse:Password>'
        '<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-'
        f'security-1.0#Base64Binary">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{created_s}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>"
    )


def envelope(body: str, header: str = "", soap_ns: str = SOAP12) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{soap_ns}" xmlns:tds="{TDS}" '
        f'xmlns:tt="http://www.onvif.org/ver10/schema">{header}<s:Body>{body}</s:Body></s:Envelope>'
    ).encode()


async def post(
    session: aiohttp.ClientSession,
    cam: Camera,
    data: bytes,
    *,
    soap11: bool = False,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, aiohttp.ClientResponse]:
    url = f"http://{cam.network.address}:{cam.port}/onvif/device_service"
    ctype = "text/xml; charset=utf-8" if soap11 else "application/soap+xml; charset=utf-8"
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    hdrs = {"Content-Type": ctype, **(headers or {})}
    async with session.post(url, data=data, headers=hdrs, timeout=timeout) as r:
        return r.status, await r.read(), r


def fault_of(body: bytes) -> tuple[str, list[str]]:
    """(code local name, [subcode local names]) of a SOAP 1.2 fault reply."""
    root = etree.fromstring(body)
    code = root.find(f".//{{{SOAP12}}}Code")
    assert code is not None, body
    value = code.findtext(f"{{{SOAP12}}}Value").strip()
    subs = [
        v.text.strip().rpartition(":")[2] for v in code.iterfind(f".//{{{SOAP12}}}Subcode/{{{SOAP12}}}Value")
    ]
    return value.rpartition(":")[2], subs
