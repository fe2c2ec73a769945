"""The lean camera HTTP client (agent.http11 framing, agent.digest, CameraHttp legs) against a scripted raw-socket server.

The server is a plain asyncio TCP server that answers each request with bytes the test chose (any framing, any
challenge, cut anywhere), records what it received and how many connections it saw: nothing of aiohttp or camsim,
so the client's framing and digest are checked against replies it did not shape.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from agent.credentials import Credentials
from agent.digest import choose, parse_challenges
from agent.errors import AuthFailed, LockedOut, Timeout, Unreachable, Unsupported
from agent.http import CameraHttp, HttpPool
from agent.http11 import ConnectFailed
from tests.camsim.conftest import find_free_port
from tests.timing import scaled

USER, PASSWORD, REALM = "admin", "Secret-123", "Login to DS-2CD2042WD"
ADMIN = Credentials(USER, PASSWORD)

#: What the server sends for one request; None closes the connection without answering.
Reply = bytes | Callable[["Request"], bytes | None] | Callable[["Request"], Awaitable[bytes | None]]


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int  # which TCP connection (1, 2, ...) carried it

    @property
    def digest(self) -> dict[str, str]:
        value = self.headers.get("authorization", "")
        return {
            m.group(1): m.group(2) or m.group(3) for m in re.finditer(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', value)
        }


@dataclass
class Script:
    replies: list[Reply]
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    close_after_reply: bool = False


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return method, target, headers, body


@asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[int]:
    """Serve `script.replies` in order, one per request, on 127.0.0.1:<port>."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        script.connections += 1
        conn_no = script.connections
        script.open_now += 1
        script.most_open = max(script.most_open, script.open_now)
        try:
            while True:
                try:
                    got = await _read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                assert got is not None
                req = Request(*got, connection=conn_no)
                script.requests.append(req)
                reply = script.replies.pop(0) if script.replies else b"HTTP/1.1 500 Out of script\r\n\r\n"
                data = reply(req) if callable(reply) else reply
                if inspect.isawaitable(data):
                    data = await data
                if data is None:
                    return
                for i in range(0, len(data), 7):  # in small pieces: framing must not depend on one read
                    writer.write(data[i : i + 7])
                    await writer.drain()
                if script.close_after_reply:
                    return
        finally:
            script.open_now -= 1
            writer.close()

    port = find_free_port()
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


def ok(body: bytes = b"<ok/>", extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def challenge(*algorithms: str, stale: bool = False, nonce: str = "n1", realm: str = REALM) -> bytes:
    headers = "".join(
        f'WWW-Authenticate: Digest realm="{realm}", qop="auth", algorithm={a}, nonce="{nonce}"'
        + (", stale=true" if stale else "") + "\r\n"
        for a in algorithms or ("MD5",)
    )  # fmt: skip
    return f"HTTP/1.1 401 Unauthorized\r\n{headers}Content-Length: 12\r\n\r\nUnauthorized".encode()


def valid(req: Request, password: str = PASSWORD) -> bool:
    """The server's side of RFC 7616 (qop=auth), written here independently of agent.digest."""
    d = req.digest
    if not d:
        return False
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[d["algorithm"].upper()]

    def hx(s: str) -> str:
        return h(s.encode()).hexdigest()

    ha1 = hx(f"{d['username']}:{d['realm']}:{password}")
    ha2 = hx(f"{req.method}:{d['uri']}")
    want = hx(f"{ha1}:{d['nonce']}:{d['nc']}:{d['cnonce']}:auth:{ha2}")
    return d["uri"] == req.target and want == d["response"]


def authed(body: bytes = b"<ok/>") -> Callable[[Request], bytes]:
    return lambda req: ok(body) if valid(req) else challenge()


@asynccontextmanager
async def client(
    replies: list[Reply], *, credentials: Credentials | None = ADMIN, **kw: object
) -> AsyncIterator[tuple[CameraHttp, Script]]:
    script = Script(list(replies))
    async with scripted(script) as port:
        pool = HttpPool(concurrency=4)
        http = CameraHttp("127.0.0.1", port, credentials, pool=pool, timeout=scaled(5), **kw)  # type: ignore[arg-type]
        try:
            yield http, script
        finally:
            await http.close()
            await pool.close()


# ---- framing ---------------------------------------------------------------------------------------------------
async def test_content_length_replies_reuse_one_connection() -> None:
    async with client([ok(b"one"), ok(b"two")], credentials=None) as (http, script):
        assert (await http.exchange("GET", "/a")).body == b"one"
        assert (await http.exchange("POST", "/b", data=b"x")).body == b"two"
    assert script.connections == 1
    assert [r.target for r in script.requests] == ["/a", "/b"]
    assert script.requests[1].headers["content-length"] == "1"


async def test_chunked_body_with_extensions_and_trailers() -> None:
    body = b"4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Trailer: y\r\n\r\n"
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    async with client([reply, ok(b"next")], credentials=None) as (http, script):
        assert (await http.exchange("GET", "/")).body == b"Wikipedia in \r\n\r\nchunks."
        assert (await http.exchange("GET", "/")).body == b"next"
    assert script.connections == 1


async def test_reply_read_until_close_and_interim_100() -> None:
    until_close = b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\n<until close>"
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"after 100")
    async with client([until_close, interim], credentials=None) as (http, script):
        script.close_after_reply = True  # the HTTP/1.0 server ends its reply by closing
        reply = await http.exchange("GET", "/")
        assert reply.body == b"<until close>" and reply.headers["Server"] == "old"
        script.close_after_reply = False
        assert (await http.exchange("GET", "/")).body == b"after 100"
    assert script.connections == 2  # the HTTP/1.0 reply ended its connection


async def test_gzip_body_is_decoded_and_query_encoded_like_aiohttp() -> None:
    packed = gzip.compress(b"<gz/>")
    reply = (
        f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(packed)}\r\n\r\n".encode()
        + packed
    )
    async with client([reply], credentials=None) as (http, script):
        got = await http.exchange("GET", "/cgi-bin/configManager.cgi",
                                  params={"action": "getConfig", "name": "UPnP.MapTable[0]", "q": "a b+c"})  # fmt: skip
        assert got.body == b"<gz/>"
    assert (
        script.requests[0].target
        == "/cgi-bin/configManager.cgi?action=getConfig&name=UPnP.MapTable%5B0%5D&q=a+b%2Bc"
    )


@pytest.mark.parametrize(
    ("reply", "expected", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<cut", Unreachable, "truncated reply"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", Unreachable, "truncated reply"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", Unreachable, "Server disconnected"),
        (b"", Unreachable, "Server disconnected"),
        (b"SSH-2.0-OpenSSH_8.4\r\n\r\n", Unreachable, "malformed HTTP reply"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", Unreachable, "malformed HTTP reply"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", Unreachable, "malformed HTTP reply"),
    ],
)
async def test_broken_replies_are_classified(reply: bytes, expected: type[Exception], message: str) -> None:
    async with client([reply], credentials=None, attempts=1) as (http, script):
        script.close_after_reply = True  # the camera hangs up after what it sent
        with pytest.raises(expected) as exc:
            await http.request("GET", "/")
    assert type(exc.value) is expected and message in str(exc.value)


async def test_no_reply_is_a_timeout_and_a_closed_port_a_connect_failure() -> None:
    async def hang(req: Request) -> bytes:
        await asyncio.sleep(scaled(30))
        return b""

    script = Script([])
    async with scripted(script) as port:
        pool = HttpPool()
        http = CameraHttp("127.0.0.1", port, None, pool=pool, timeout=0.3)
        script.replies.append(lambda req: None)  # closes at once: a disconnect, not a timeout
        with pytest.raises(Unreachable, match="Server disconnected"):
            await http.exchange("GET", "/")
        await http.close()
        await pool.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads, never answers

    port = find_free_port()
    server = await asyncio.start_server(silent, "127.0.0.1", port)
    pool = HttpPool()
    http = CameraHttp("127.0.0.1", port, None, pool=pool, timeout=0.3)
    with pytest.raises(Timeout):
        await asyncio.wait_for(http.exchange("GET", "/"), scaled(20))
    server.close()
    closed = CameraHttp("127.0.0.1", find_free_port(), None, pool=pool, attempts=1)
    with pytest.raises(Unreachable) as exc:
        await closed.request("GET", "/")
    assert isinstance(exc.value.__cause__, ConnectFailed)
    await http.close()
    await pool.close()


async def test_connection_the_camera_closed_while_idle_is_replaced() -> None:
    async with client([ok(b"1"), ok(b"2")], credentials=None) as (http, script):
        script.close_after_reply = True  # like a camera dropping idle keep-alive sockets
        assert (await http.exchange("POST", "/", data=b"a")).body == b"1"
        deadline = asyncio.get_running_loop().time() + scaled(10)
        while not (http._slot.conn is None or http._slot.conn.closed):  # the camera's FIN reaches the client
            assert asyncio.get_running_loop().time() < deadline, "the client never saw the close"
            await asyncio.sleep(0.01)
        assert (await http.exchange("POST", "/", data=b"b")).body == b"2"  # not sent into the dead socket
    assert script.connections == 2


async def test_get_into_a_socket_closing_under_it_goes_again_once() -> None:
    # The camera hangs up right after its reply, so the next GET may be written before the client saw the close
    # (RFC 9112 §9.3.1): an idempotent request is sent again on a new connection, whichever way the race went.
    async with client([ok(b"1"), ok(b"2")], credentials=None, attempts=1) as (http, script):
        script.close_after_reply = True
        assert (await http.request("GET", "/")).body == b"1"
        assert (await http.request("GET", "/")).body == b"2"
    assert script.connections == 2 and len(script.requests) == 2


async def test_one_connection_per_camera_address_across_clients() -> None:
    async def slow(req: Request) -> bytes:
        await asyncio.sleep(0.02)
        return ok()

    script = Script([slow] * 12)
    async with scripted(script) as port:
        pool = HttpPool(concurrency=8)
        clients = [CameraHttp("127.0.0.1", port, None, pool=pool) for _ in range(3)]
        await asyncio.gather(*(c.exchange("GET", f"/{i}") for i in range(4) for c in clients))
        for c in clients:
            await c.close()
        await pool.close()
    assert len(script.requests) == 12 and script.most_open == 1


# ---- digest ----------------------------------------------------------------------------------------------------
def test_challenges_are_parsed_from_every_header_and_the_first_answerable_is_chosen() -> None:
    headers = ['Basic realm="x", Digest realm="r", nonce="a,b", algorithm=SHA-256, qop="auth,auth-int"',
               'Digest realm="r", nonce="c", algorithm=MD5-sess, qop="auth"', "Negotiate"]  # fmt: skip
    parsed = parse_challenges(headers)
    assert [c.scheme for c in parsed] == ["basic", "digest", "digest", "negotiate"]
    assert parsed[1].params == {"realm": "r", "nonce": "a,b", "algorithm": "SHA-256", "qop": "auth,auth-int"}
    chosen = choose(headers)
    assert chosen is not None and chosen.params["nonce"] == "a,b"
    assert choose(['Digest realm="r", nonce="n", algorithm=SHA-512-256']) is None  # not one this client knows
    assert choose(['Digest realm="r", algorithm=MD5']) is None  # no nonce


@pytest.mark.parametrize("algorithms", [("MD5",), ("SHA-256",), ("SHA-256", "MD5")])
async def test_one_challenge_then_preemptive_answers_with_counted_nonce(algorithms: tuple[str, ...]) -> None:
    replies: list[Reply] = [challenge(*algorithms), authed(b"1"), authed(b"2"), authed(b"3")]
    async with client(replies) as (http, script):
        for want in (b"1", b"2", b"3"):
            reply = await http.request("POST", "/onvif/device_service", data=b"<x/>")
            assert reply.body == want and reply.auth_sent == "digest"
    first, *answers = script.requests
    assert "authorization" not in first.headers
    assert [r.digest["nc"] for r in answers] == ["00000001", "00000002", "00000003"]
    assert {r.digest["algorithm"] for r in answers} == {algorithms[0]}
    assert len({r.digest["cnonce"] for r in answers}) == 3
    assert http.banner.realm == REALM


async def test_stale_nonce_is_answered_once_with_the_new_nonce() -> None:
    def stale_then_ok(req: Request) -> bytes:
        return challenge(stale=True, nonce="n2") if req.digest.get("nonce") == "n1" else authed()(req)

    async with client([challenge(), authed(), stale_then_ok, authed()]) as (http, script):
        await http.request("GET", "/a")
        reply = await http.request("GET", "/b")
        assert reply.status == 200
    assert [r.digest.get("nonce") for r in script.requests] == [None, "n1", "n1", "n2"]
    assert script.requests[3].digest["nc"] == "00000001"  # a new nonce starts a new count


async def test_stale_twice_in_one_request_is_not_answered_a_third_time() -> None:
    async with client([challenge(), challenge(stale=True, nonce="n2"), challenge(stale=True, nonce="n3")]) as (
        http, script,
    ):  # fmt: skip
        with pytest.raises(AuthFailed, match="digest sent"):
            await http.request("GET", "/")
    assert len(script.requests) == 3


async def test_wrong_password_is_answered_once_and_never_retried() -> None:
    replies: list[Reply] = [challenge(), authed(), authed()]
    script = Script(list(replies))
    async with scripted(script) as port:
        pool = HttpPool()
        http = CameraHttp("127.0.0.1", port, Credentials(USER, "wrong"), pool=pool)
        with pytest.raises(AuthFailed, match="credentials rejected"):
            await http.request("GET", "/")
        await http.close()
        await pool.close()
    answered = [r for r in script.requests if r.digest]
    assert len(script.requests) == 2 and len(answered) == 1  # one failed login, no second attempt


async def test_locked_body_is_locked_out() -> None:
    body = b"<userCheck><lockStatus>lock</lockStatus><unlockTime>1800</unlockTime></userCheck>"
    locked = challenge().replace(
        b"Content-Length: 12\r\n\r\nUnauthorized", b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    async with client([challenge(), locked]) as (http, _):
        with pytest.raises(LockedOut):
            await http.request("GET", "/")


async def test_cut_short_refusal_to_an_answer_is_a_failed_login_but_a_cut_challenge_is_not() -> None:
    cut = (
        b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="'
        + REALM.encode()
        + b'", nonce="n1"\r\nContent-Length: 50\r\n\r\nUnauth'
    )
    async with client([challenge(), cut]) as (http, script):
        script.close_after_reply = True
        with pytest.raises(AuthFailed, match="cut short"):
            await http.request("GET", "/")
    async with client([cut], attempts=1) as (http, script):
        script.close_after_reply = True
        with pytest.raises(Unreachable, match="truncated"):
            await http.request("GET", "/")  # nothing was sent with it: no login spent


async def test_another_realm_is_a_new_protection_space_answered_once() -> None:
    isapi = challenge(realm="ISAPI", nonce="i1")

    def isapi_ok(req: Request) -> bytes:
        return ok(b"isapi") if req.digest.get("realm") == "ISAPI" and valid(req) else isapi

    async with client([challenge(), authed(), isapi, isapi_ok]) as (http, script):
        await http.request("POST", "/onvif/device_service", data=b"<x/>")
        assert (await http.request("GET", "/ISAPI/System/deviceInfo")).body == b"isapi"
    assert [r.digest.get("realm") for r in script.requests] == [None, REALM, REALM, "ISAPI"]


async def test_basic_only_and_unanswerable_challenges_send_nothing() -> None:
    basic = b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="cam"\r\nContent-Length: 0\r\n\r\n'
    odd = b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="cam", nonce="x", algorithm=FOO\r\nContent-Length: 0\r\n\r\n'
    for reply, expected in (
        (basic, "server offered Basic only; nothing sent"),
        (odd, "without a usable challenge"),
    ):
        async with client([reply]) as (http, script):
            with pytest.raises(Unsupported, match=expected):
                await http.request("GET", "/")
        assert len(script.requests) == 1 and "authorization" not in script.requests[0].headers


async def test_unauthenticated_exchange_never_answers_a_challenge() -> None:
    async with client([challenge(), challenge()]) as (http, script):
        reply = await http.exchange("GET", "/ISAPI/System/deviceInfo", authenticate=False)
        assert reply.status == 401 and reply.offers_digest() and reply.auth_sent == ""
    assert len(script.requests) == 1
