"""The sweep's fast paths keep behaviour: one shared WSDL load, tenacity-free first attempt, one-read GET reuse."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from agent import onvif_session
from agent.errors import AuthFailed, Timeout, Unreachable
from agent.http import HttpReply, with_retries
from agent.inventory import _ReadOnce


async def test_concurrent_cameras_share_one_wsdl_load(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []

    async def slow_load(url: str) -> object:
        loads.append(url)
        await asyncio.sleep(0.05)  # long enough for every caller to arrive while the load is running
        return object()

    monkeypatch.setattr(onvif_session, "_DOCUMENT", None)
    monkeypatch.setattr(onvif_session, "_cached_document", slow_load)
    docs = await asyncio.gather(*(onvif_session.device_document() for _ in range(20)))
    assert len(loads) == 1
    assert all(d is docs[0] for d in docs)
    assert await onvif_session.device_document() is docs[0]


async def test_a_cancelled_caller_does_not_cancel_the_shared_load(monkeypatch: pytest.MonkeyPatch) -> None:
    async def slow_load(url: str) -> str:
        await asyncio.sleep(0.05)
        return "wsdl"

    monkeypatch.setattr(onvif_session, "_DOCUMENT", None)
    monkeypatch.setattr(onvif_session, "_cached_document", slow_load)
    first = asyncio.create_task(onvif_session.device_document())
    second = asyncio.create_task(onvif_session.device_document())
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == "wsdl"
    assert first.cancelled()


async def test_retries_only_transient_errors_with_the_attempt_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.http.BACKOFF_MULTIPLIER", 0.001)
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Timeout("slow", host="h")
        return "ok"

    assert await with_retries(flaky, attempts=3) == "ok"
    assert calls == 3

    calls = 0

    async def down() -> str:
        nonlocal calls
        calls += 1
        raise Unreachable("reset", host="h")

    with pytest.raises(Unreachable):
        await with_retries(down, attempts=3)
    assert calls == 3

    calls = 0

    async def refused() -> str:
        nonlocal calls
        calls += 1
        raise AuthFailed("bad password", host="h")

    with pytest.raises(AuthFailed):
        await with_retries(refused, attempts=3)
    assert calls == 1  # never a second login

    calls = 0
    with pytest.raises(Unreachable):
        await with_retries(down, attempts=3, idempotent=False)  # a reset after sending: not re-sent
    assert calls == 1


class _CountingHttp:
    base_url = "http://127.0.0.1:1"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- the CameraHttpLike signature
    ) -> HttpReply:
        self.sent.append((method, path))
        return HttpReply(200, CIMultiDictProxy(CIMultiDict()), f"{len(self.sent)}".encode())


async def test_one_inventory_read_sends_a_repeated_get_once_but_every_write() -> None:
    http = _CountingHttp()
    once = _ReadOnce(http)
    a = await once.request("GET", "/ISAPI/System/deviceInfo")
    b = await once.request("GET", "/ISAPI/System/deviceInfo")
    c = await once.request("GET", "/ISAPI/System/deviceInfo", params={"x": "1"})
    await once.request("PUT", "/ISAPI/System/Network/EZVIZ", data=b"<x/>")
    await once.request("PUT", "/ISAPI/System/Network/EZVIZ", data=b"<x/>")
    assert a is b and a.body == b"1" and c.body == b"2"
    assert http.sent == [
        ("GET", "/ISAPI/System/deviceInfo"),
        ("GET", "/ISAPI/System/deviceInfo"),
        ("PUT", "/ISAPI/System/Network/EZVIZ"),
        ("PUT", "/ISAPI/System/Network/EZVIZ"),
    ]
    assert once.base_url == http.base_url
