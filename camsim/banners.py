"""RTSP and TLS listeners per camera: what a passive fingerprint sees (RTSP OPTIONS/DESCRIBE, TLS certificate).

Opt-in (`--rtsp-port`, `--tls-port`): two more sockets per camera. Certificates are made on a camera's first TLS
handshake, not at start-up (an EC key and a self-signed certificate cost ~1 ms each; 1,000 of them would double
camsim's start-up). Banner strings are the simulator's per-maker guesses [U]: no recording of ours has an RTSP
Server header or a default certificate subject; the RTSP realm reuses the camera's HTTP digest realm [S:
VENDORS.md §3-4 realms].
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import socket
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

from camsim.model import Camera

log = logging.getLogger(__name__)

READ_LIMIT = 8192
IDLE_TIMEOUT_S = 10.0
_RTSP_SERVER = {
    "hikvision": "Hikvision RTSP Server",
    "dahua": "Rtsp Server/3.0",
    "axis": "GStreamer RTSP server",
}
# Where each maker serves its main stream (public path lists of RTSP scanners [S]).
RTSP_PATH = {"hikvision": "/Streaming/Channels/101", "dahua": "/cam/realmonitor?channel=1&subtype=0"}
_CERT_ORG = {"hikvision": "Hikvision", "dahua": "Dahua", "axis": "Axis Communications AB"}

Count = Callable[[Camera, str], None]


def rtsp_reply(cam: Camera, request: bytes) -> tuple[bytes, bool]:
    """(reply, credentials_seen) for one RTSP request: OPTIONS answers, DESCRIBE wants digest auth."""
    lines = request.decode("latin-1").split("\r\n")
    method = lines[0].split(" ", 1)[0].upper() if lines and lines[0] else ""
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:]) if k}
    cseq = headers.get("cseq", "0")[:16]
    server = _RTSP_SERVER.get(cam.identity.personality)
    head = [f"CSeq: {cseq}"] + ([f"Server: {server}"] if server else [])
    creds = "authorization" in headers
    if method == "OPTIONS":
        status = "200 OK"
        head.append("Public: OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER")
    elif method in ("DESCRIBE", "SETUP", "PLAY"):
        # The simulator streams nothing: every media request is refused with a challenge, credentials or not.
        status = "401 Unauthorized"
        realm = cam.auth.realm.replace('"', "")
        head.append(f'WWW-Authenticate: Digest realm="{realm}", nonce="{abs(hash((cam.id, cseq))):x}"')
    else:
        status = "405 Method Not Allowed"
    return ("\r\n".join([f"RTSP/1.0 {status}", *head]) + "\r\n\r\n").encode(), creds


def _certificate(cam: Camera, directory: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    org = _CERT_ORG.get(cam.identity.personality, cam.identity.manufacturer)
    if cam.identity.oem_brand:
        org = cam.identity.oem_brand  # OEM firmware carries the rebrand [U]
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN" if cam.identity.personality != "axis" else "SE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cam.network.address),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{cam.id}.crt", directory / f"{cam.id}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


class BannerServers:
    """RTSP and/or TLS listeners on each reachable camera's address."""

    def __init__(
        self,
        cameras: Callable[[], list[Camera]],
        count: Count,
        *,
        rtsp_port: int | None = None,
        tls_port: int | None = None,
    ) -> None:
        self._cameras = cameras
        self._count = count
        self.rtsp_port = rtsp_port
        self.tls_port = tls_port
        self._servers: list[asyncio.Server] = []
        self._by_addr: dict[tuple[str, int], Camera] = {}
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    async def start(self) -> None:
        for cam in self._cameras():
            for port, handler in ((self.rtsp_port, self._rtsp), (self.tls_port, self._tls)):
                if port is None:
                    continue
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((cam.network.address, port))
                except OSError as exc:
                    sock.close()
                    raise OSError(exc.errno, f"cannot listen on {cam.network.address}:{port}") from exc
                sock.listen(64)
                sock.setblocking(False)
                self._by_addr[(cam.network.address, port)] = cam
                self._servers.append(await asyncio.start_server(handler, sock=sock, limit=READ_LIMIT))
        if self.tls_port is not None:
            self._tmp = tempfile.TemporaryDirectory(prefix="camsim-tls-")

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)
        self._servers.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _camera(self, writer: asyncio.StreamWriter) -> Camera | None:
        sock = writer.get_extra_info("sockname")
        return self._by_addr.get((str(sock[0]), int(sock[1]))) if sock else None

    async def _rtsp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cam = self._camera(writer)
        try:
            while cam is not None and not cam.is_down():
                async with asyncio.timeout(IDLE_TIMEOUT_S):
                    request = await reader.readuntil(b"\r\n\r\n")
                self._count(cam, "rtsp_requests")
                reply, creds = rtsp_reply(cam, request)
                if creds:
                    self._count(cam, "credentials")
                writer.write(reply)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cam = self._camera(writer)
        try:
            if cam is None or cam.is_down() or self._tmp is None:
                return
            ctx = self._contexts.get(cam.id)
            if ctx is None:
                ctx = self._contexts[cam.id] = _certificate(cam, Path(self._tmp.name))
            async with asyncio.timeout(IDLE_TIMEOUT_S):
                await writer.start_tls(ctx)
                self._count(cam, "tls_handshakes")
                request = await reader.readuntil(b"\r\n\r\n")
            if b"\nauthorization:" in request.lower():
                self._count(cam, "credentials")
            # The fleet's web server is plain HTTP; over TLS the simulator only shows its certificate.
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            ssl.SSLError,
        ):
            pass
        finally:
            writer.close()
