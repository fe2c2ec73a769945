"""One lo-multicast socket per vendor discovery protocol (SADP, DHIP, SSDP), answering for every camera.

A socket per camera and protocol would triple camsim's start-up cost; instead each reply is sent from the
camera's own address with IP_PKTINFO (Linux picks ipi_spec_dst as the source of a datagram sent from an
unbound-address socket), so the prober sees one sender per device, as on a real LAN.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from camsim.discovery import lo_group_socket
from camsim.model import Camera

log = logging.getLogger(__name__)

_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; CPython does not export the constant
_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
MAX_REQUEST_BYTES = 16 * 1024  # real probes are a few hundred bytes; bigger is not worth parsing
DEFAULT_MAX_DELAY_S = 0.2


class DiscoveryProtocol(Protocol):
    """One vendor discovery protocol: its group and port, how to read a probe, how a camera answers it."""

    name: str
    group: str
    port: int

    def parse(self, data: bytes) -> object | None:
        """The probe, or None when the datagram is not one (ignored, never answered)."""
        ...

    def answer(self, camera: Camera, probe: object) -> bytes | None:
        """The camera's reply, or None when this camera does not speak the protocol."""
        ...


@dataclass
class ResponderStats:
    probes: int = 0
    ignored: int = 0
    replies: int = 0
    per_camera: dict[str, int] = field(default_factory=dict)


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, responder: MulticastResponder) -> None:
        self.responder = responder

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            self.responder.on_datagram(data, (str(addr[0]), int(addr[1])))
        except Exception:  # one bad datagram must never take the responder down
            log.exception("%s: error handling datagram from %s", self.responder.protocol.name, addr[0])

    def error_received(self, exc: Exception) -> None:
        log.debug("%s socket: %s", self.responder.protocol.name, exc)


class MulticastResponder:
    """Joins `protocol.group` on lo and answers each probe for every camera that speaks the protocol, each after
    a random delay up to `max_delay_s` (devices spread their replies; SSDP's MX says the same)."""

    def __init__(
        self,
        cameras: Callable[[], list[Camera]],
        protocol: DiscoveryProtocol,
        *,
        interface: str = "127.0.0.1",
        max_delay_s: float = DEFAULT_MAX_DELAY_S,
    ) -> None:
        self._cameras = cameras
        self.protocol = protocol
        self.interface = interface
        self.max_delay_s = max_delay_s
        self.stats = ResponderStats()
        self._sock: socket.socket | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._pending: set[asyncio.TimerHandle] = set()
        self._rng = random.Random()

    async def start(self) -> None:
        p = self.protocol
        try:
            sock = lo_group_socket(p.group, p.port, self.interface)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot serve {p.name} on {p.group}:{p.port}: {exc.strerror}") from exc
        loop = asyncio.get_running_loop()
        try:
            self._transport, _ = await loop.create_datagram_endpoint(lambda: _Endpoint(self), sock=sock)
        except OSError:
            sock.close()
            raise
        self._sock = sock

    async def stop(self) -> None:
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._sock = None
        await asyncio.sleep(0)

    def on_datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        # Hard rule of the project: the simulator only ever talks to loopback.
        if len(data) > MAX_REQUEST_BYTES or ipaddress.ip_address(sender[0]) not in _LOOPBACK:
            self.stats.ignored += 1
            return
        probe = self.protocol.parse(data)
        if probe is None:
            self.stats.ignored += 1
            return
        self.stats.probes += 1
        loop = asyncio.get_running_loop()
        for cam in self._cameras():
            if not cam.reachable or cam.is_down() or not cam.network.ip_filter.permits(sender[0]):
                continue
            reply = self.protocol.answer(cam, probe)
            if reply is None:
                continue
            delay = self._rng.uniform(0.0, self.max_delay_s) if self.max_delay_s > 0 else 0.0
            self._schedule(loop, delay, cam, reply, sender)

    def _schedule(
        self, loop: asyncio.AbstractEventLoop, delay: float, cam: Camera, reply: bytes, to: tuple[str, int]
    ) -> None:
        def fire() -> None:
            self._pending.discard(handle)
            self._send(cam, reply, to)

        handle = loop.call_later(delay, fire)
        self._pending.add(handle)

    def _send(self, cam: Camera, reply: bytes, to: tuple[str, int]) -> None:
        if self._sock is None:
            return
        src = socket.inet_aton(cam.network.address)
        pktinfo = struct.pack("=I4s4s", 0, src, socket.inet_aton("0.0.0.0"))
        # A full socket buffer drops the reply, as a busy device would; the prober's window decides the rest.
        with contextlib.suppress(OSError):
            self._sock.sendmsg([reply], [(socket.IPPROTO_IP, _IP_PKTINFO, pktinfo)], 0, to)
            self.stats.replies += 1
            self.stats.per_camera[cam.id] = self.stats.per_camera.get(cam.id, 0) + 1
