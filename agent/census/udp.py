"""Send a probe to a multicast group out of one local interface and collect the datagrams that come back."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from agent.census.budget import Budget
from agent.discovery import RECEIVE_BUFFER

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65507
DEFAULT_MAX_REPLIES = 10_000
_MAX_QUEUED = 4096


class InterfaceError(Exception):
    """The address given as an interface is not one of this host's IPv4 addresses (nothing was sent)."""


@dataclass(frozen=True)
class Datagram:
    data: bytes
    source: str
    port: int


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Datagram] = asyncio.Queue()
        self.dropped = 0

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        # A flood (hostile or a storm of replies) must not grow memory without bound.
        if self.queue.qsize() < _MAX_QUEUED:
            self.queue.put_nowait(Datagram(data, str(addr[0]), int(addr[1])))
        else:
            self.dropped += 1

    def error_received(self, exc: Exception) -> None:
        log.debug("census udp: %s", exc)


def local_interface(address: str) -> str:
    """The IPv4 address of one of this host's interfaces (binding to it proves it is ours), else InterfaceError."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        raise InterfaceError(f"interface {address!r} is not an IPv4 address") from None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((str(ip), 0))
        except OSError:
            raise InterfaceError(
                f"{ip} is not an address of this host; multicast goes out of own interfaces only"
            ) from None
    return str(ip)


async def multicast_probe(
    interface: str,
    group: str,
    port: int,
    payloads: Sequence[bytes],
    *,
    budget: Budget,
    source: str,
    window_s: float,
    ttl: int = 1,
    max_replies: int = DEFAULT_MAX_REPLIES,
) -> list[Datagram]:
    """Send each payload once to group:port out of `interface` (TTL 1: the link the interface is on, as these
    discovery protocols intend), then collect replies on the same socket for `window_s` seconds."""
    iface = local_interface(interface)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((iface, 0))
        # Replies from a whole site arrive within the devices' random delay: room for them (see agent.discovery).
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise InterfaceError(f"cannot open a multicast socket on {iface}: {exc.strerror}") from exc
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Collector, sock=sock)
    out: list[Datagram] = []
    try:
        for payload in payloads:
            await budget.spend(source)
            try:
                transport.sendto(payload, (group, port))
            except OSError as exc:
                log.debug("census %s: send failed: %s", source, exc)
        deadline = loop.time() + window_s
        while len(out) < max_replies and (left := deadline - loop.time()) > 0:
            try:
                out.append(await asyncio.wait_for(proto.queue.get(), left))
            except TimeoutError:
                break
    finally:
        transport.close()
    return out
