"""HTTP/1.1 over one keep-alive connection to a camera: request bytes out, one framed reply back, nothing else."""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from dataclasses import dataclass

#: Reply headers larger than this are not a camera's (aiohttp's limit was 8 KiB per line; cameras send < 1 KiB).
MAX_HEAD = 64 * 1024
#: Reply bodies larger than this are refused: the agent reads small documents, never firmware images.
MAX_BODY = 32 * 1024 * 1024
#: An idle connection is not reused after this long: cameras drop idle sockets after a few seconds, and a request
#: written into a socket the camera is closing is lost (aiohttp's keepalive_timeout was 4 s for the same reason).
KEEPALIVE_S = 4.0
#: Methods RFC 9110 §9.2.2 calls idempotent: only these are sent again after a reused connection dropped them.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_NO_BODY_STATUS = frozenset({204, 304})


class FramingError(Exception):
    """The reply is not HTTP/1.1 this client can frame (bad status line, headers, chunk sizes, too large)."""


class CutShort(Exception):
    """The connection ended before the reply was complete. `status` is set once the reply's head was read (the
    body was cut), None when the camera closed without answering."""

    def __init__(
        self, message: str, status: int | None, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or []
        self.auth_sent = False  # set by the sender: the request carried an Authorization header
        self.unsent = False  # the connection was found closed before the request was written


class ConnectFailed(OSError):
    """The TCP (or TLS) connection to the camera could not be opened: the request never reached it."""


@dataclass(frozen=True, slots=True)
class RawReply:
    """One framed reply: status, headers in order as sent (names as sent), the whole body (decoded from gzip or
    deflate if the camera compressed it), and whether the connection may carry another request."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    keep_alive: bool


class Connection(asyncio.Protocol):
    """One TCP connection, one request at a time (cameras serve one anyway; DESIGN §4: never parallel digest
    sessions to one device). The reply is framed as bytes arrive, so a complete reply costs one wake-up."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiter: asyncio.Future[RawReply] | None = None
        self._head_only = False
        self._head: tuple[int, list[tuple[str, str]], bool] | None = None  # status, headers, keep-alive
        self._body_at = 0
        self._length: int | None = None  # Content-Length; None with _chunked False: until the camera closes
        self._chunked = False
        self._chunk_at = 0
        self._chunked_size = 0
        self._chunks: list[bytes] = []
        self._encoding = ""
        self.closed = False
        self.reusable = True
        self.used = (
            False  # has carried a request already (a drop then may be the camera closing an idle socket)
        )
        self.idle_since = time.monotonic()

    # ---- asyncio.Protocol ------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport is not registered as an asyncio.Transport, though it is one: no isinstance check.
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            # Bytes nobody asked for: after this the framing of the next reply cannot be trusted.
            self.close()
            return
        self._buf += data
        self._advance(eof=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self._waiter is not None and not self._waiter.done():
            self._advance(eof=True)

    # ---- use ---------------------------------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        local_addr: tuple[str, int] | None = None,
    ) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                lambda: cls(loop), host, port, ssl=tls, local_addr=local_addr,
                server_hostname=host if tls is not None else None,
            )  # fmt: skip
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(str(exc) or type(exc).__name__) from exc
        return conn

    def fresh(self) -> bool:
        """May carry another request now (open, framed cleanly, not idle past KEEPALIVE_S)."""
        return not self.closed and self.reusable and time.monotonic() - self.idle_since < KEEPALIVE_S

    async def roundtrip(self, request: bytes, *, head_only: bool = False) -> RawReply:
        """Send one request and return its reply. Raises CutShort, FramingError or OSError; after any of them (or a
        cancellation) the connection is closed, since its state is unknown."""
        if self.closed or self._transport is None or self._transport.is_closing():
            unsent = CutShort("connection closed before the request was sent", None)
            unsent.unsent = True
            raise unsent
        self.used = True
        self._buf.clear()
        self._head, self._head_only = None, head_only
        self._chunks, self._chunked, self._length, self._encoding = [], False, None, ""
        waiter: asyncio.Future[RawReply] = self._loop.create_future()
        self._waiter = waiter
        try:
            self._transport.write(request)
            reply = await waiter
        except BaseException:
            self.close()
            raise
        finally:
            self._waiter = None
        if not reply.keep_alive:
            self.close()
        self.idle_since = time.monotonic()
        return reply

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None and not self.closed:
            self._transport.close()
        self.closed = True

    # ---- framing -----------------------------------------------------------------------------------------
    def _advance(self, *, eof: bool) -> None:
        waiter = self._waiter
        assert waiter is not None
        try:
            reply = self._frame(eof=eof)
        except (FramingError, CutShort) as exc:
            self.reusable = False
            waiter.set_exception(exc)
            if self._transport is not None:
                self._transport.close()
            return
        if reply is not None:
            waiter.set_result(reply)

    def _frame(self, *, eof: bool) -> RawReply | None:
        buf = self._buf
        while self._head is None:
            end, sep = _head_end(buf)
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise FramingError("reply headers too large")
                if eof:
                    raise CutShort(
                        "connection closed before a reply" if not buf else "reply head cut short", None
                    )
                return None
            status, headers, keep_alive = _parse_head(bytes(buf[:end]))
            del buf[: end + sep]
            if 100 <= status < 200:
                continue  # 100 Continue and other interim replies: the real one follows
            self._head = (status, headers, keep_alive)
            self._set_framing(status, headers)
        status, headers, keep_alive = self._head
        if self._chunked:
            body = self._dechunk(eof=eof)
        elif self._length is not None:
            if len(buf) < self._length:
                if eof:
                    raise CutShort(f"body cut short ({len(buf)} of {self._length} bytes)", status, headers)
                return None
            if len(buf) > self._length:
                self.reusable = False  # trailing bytes: the next reply's framing would be off
            body = bytes(buf[: self._length])
        else:
            if len(buf) > MAX_BODY:
                raise FramingError("reply body too large")
            if not eof:
                return None
            body, keep_alive = bytes(buf), False
        if body is None:
            return None
        if self._encoding:
            body = _decode(body, self._encoding)
        return RawReply(status, headers, body, keep_alive and self.reusable)

    def _set_framing(self, status: int, headers: list[tuple[str, str]]) -> None:
        coding = lengths = ""
        encoding = ""
        for name, value in headers:
            low = name.lower()
            if low == "transfer-encoding":
                coding = value
            elif low == "content-length":
                if lengths and lengths != value.strip():
                    raise FramingError("conflicting Content-Length headers")
                lengths = value.strip()
            elif low == "content-encoding":
                encoding = value.strip().lower()
        self._encoding = "" if encoding in ("", "identity") else encoding
        if self._head_only or status in _NO_BODY_STATUS:
            self._length = 0
        elif coding:
            # RFC 9112 §6.3: chunked (last) wins over Content-Length; any other coding is read until close.
            self._chunked = coding.rsplit(",", 1)[-1].strip().lower() == "chunked"
            self._chunk_at = self._chunked_size = 0
        elif lengths:
            if not lengths.isdigit():
                raise FramingError(f"bad Content-Length {lengths[:40]!r}")
            self._length = int(lengths)
            if self._length > MAX_BODY:
                raise FramingError("reply body too large")

    def _dechunk(self, *, eof: bool) -> bytes | None:
        """Chunks complete so far are kept; `_chunk_at` only moves past a chunk once its CRLF has arrived."""
        buf = self._buf
        while True:
            at = self._chunk_at
            line_end = buf.find(b"\n", at)
            if line_end < 0:
                break
            size_text = bytes(buf[at:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise FramingError(f"bad chunk size {size_text[:20]!r}") from None
            if size < 0 or self._chunked_size + size > MAX_BODY:
                raise FramingError("bad or too large chunk")
            if size == 0:
                # The trailer section: header lines up to an empty line (usually none).
                rest = bytes(buf[line_end + 1 :])
                if rest.startswith((b"\r\n", b"\n")) or _head_end(rest)[0] >= 0:
                    return b"".join(self._chunks)
                break
            data_at = line_end + 1
            end = data_at + size
            if buf[end : end + 2] == b"\r\n":
                after = end + 2
            elif buf[end : end + 1] == b"\n":
                after = end + 1
            elif len(buf) >= end + 2:
                raise FramingError("chunk not followed by CRLF")
            else:
                break  # the rest of this chunk is still on its way
            self._chunks.append(bytes(buf[data_at:end]))
            self._chunked_size += size
            self._chunk_at = after
        if eof:
            status, headers, _ = self._head or (None, [], False)
            raise CutShort("chunked body cut short", status, headers)
        return None


def _head_end(buf: bytearray | bytes) -> tuple[int, int]:
    """Where the head ends and the length of its terminator (CRLFCRLF, or bare LFs as lenient parsers accept)."""
    crlf = buf.find(b"\r\n\r\n")
    lf = buf.find(b"\n\n")
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, 2
    return (crlf, 4) if crlf >= 0 else (-1, 0)


def _parse_head(head: bytes) -> tuple[int, list[tuple[str, str]], bool]:
    lines = head.decode("utf-8", "surrogateescape").split("\n")
    status_line = lines[0].rstrip("\r")
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
        raise FramingError(f"bad status line {status_line[:80]!r}")
    status = int(parts[1])
    headers: list[tuple[str, str]] = []
    keep_alive = parts[0] != "HTTP/1.0"
    for raw in lines[1:]:
        line = raw.rstrip("\r")
        if not line:
            continue
        if line[0] in " \t" and headers:
            # obs-fold (RFC 9112 §5.2): a continuation of the previous value.
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise FramingError(f"bad header line {line[:80]!r}")
        value = value.strip()
        headers.append((name, value))
        if len(name) == 10 and name.lower() == "connection":
            tokens = {t.strip().lower() for t in value.split(",")}
            if "close" in tokens:
                keep_alive = False
            elif "keep-alive" in tokens:
                keep_alive = True
    return status, headers, keep_alive


def _decode(body: bytes, encoding: str) -> bytes:
    """gzip/deflate bodies (this client asks for none, but a camera may compress anyway), as aiohttp did."""
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some servers send
    except zlib.error as exc:
        raise FramingError(f"cannot decode {encoding} body: {exc}") from exc
    raise FramingError(f"unsupported Content-Encoding {encoding!r}")
