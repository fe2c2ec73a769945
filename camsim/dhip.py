"""Dahua DHIP device search (UDP 37810, group 239.255.255.251): a 32-byte header, then a JSON body.

Modelled on public sources [S]: the header layout (0x20 little-endian header size, b"DHIP", the body length
little-endian at offsets 16 and 24) and the `DHDiscover.search` body from julienblitte/UniversalScanner's
Dahua2 engine and a ConfigTool-derived C implementation; the `client.notifyDevInfo` reply fields from real
replies quoted in public code (an IPC-HDW5421S in a UDP-amplification write-up, a Lorex W461ASC printed by a
Rapid7 helper script). `Init` is a number there whose meaning is not documented; the simulator sends a fixed
value [U].
"""

from __future__ import annotations

import json
import struct
from typing import Any

from camsim.model import Camera

GROUP = "239.255.255.251"
PORT = 37810
MAGIC = b"DHIP"
HEADER_LEN = 32


def frame(body: bytes) -> bytes:
    """Header + body: size 0x20, magic, 8 bytes of session/id, length at 16 and 24."""
    n = len(body)
    return struct.pack("<I4s8sI4sI4s", HEADER_LEN, MAGIC, b"\0" * 8, n, b"\0" * 4, n, b"\0" * 4) + body


def unframe(data: bytes) -> bytes | None:
    """The body of a well-formed DHIP datagram, else None (bad magic, lengths that disagree)."""
    if len(data) < HEADER_LEN or data[4:8] != MAGIC:
        return None
    (size,) = struct.unpack_from("<I", data, 0)
    (n1,) = struct.unpack_from("<I", data, 16)
    (n2,) = struct.unpack_from("<I", data, 24)
    if size != HEADER_LEN or n1 != n2 or n1 != len(data) - HEADER_LEN:
        return None
    return data[HEADER_LEN:]


def parse_search(data: bytes) -> dict[str, Any] | None:
    body = unframe(data)
    if body is None:
        return None
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("method") != "DHDiscover.search":
        return None
    return doc


def _dahua_version(firmware: str) -> str:
    """'2.800.0000016.0.R, build: 2020-06-05' -> '2.800.0000016.0.R' (DHIP carries no build date)."""
    return firmware.split(",", 1)[0].strip()


def dev_info(cam: Camera) -> bytes | None:
    """The notifyDevInfo reply of a Dahua-made device (OEMs answer with their own Vendor, as the Lorex capture
    does); None for other makers."""
    ident = cam.identity
    if ident.personality != "dahua":
        return None
    net = cam.network
    mask_bits = 0xFFFFFFFF << (32 - net.prefix_length) & 0xFFFFFFFF
    recorder = cam.is_recorder
    info = {
        "AlarmInputChannels": 4 if recorder else 0,
        "AlarmOutputChannels": 1 if recorder else 0,
        "DeviceClass": ident.device_type if recorder else "IPC",
        "DeviceType": ident.model,
        "HttpPort": cam.port,
        "IPv4Address": {
            "DefaultGateway": net.gateway[0] if net.gateway else "0.0.0.0",
            "DhcpEnable": False,
            "IPAddress": net.address,
            "SubnetMask": ".".join(str(mask_bits >> s & 0xFF) for s in (24, 16, 8, 0)),
        },
        "MachineName": ident.serial,
        "Manufacturer": "Private",
        "Port": next((p.port for p in net.protocols if p.name == "SDK"), 37777),
        "RemoteVideoInputChannels": len(cam.channels) if recorder else 0,
        "SerialNo": ident.serial,
        "Vendor": ident.manufacturer,
        "Version": _dahua_version(ident.firmware),
        "VideoInputChannels": 0 if recorder else 1,
        "VideoOutputChannels": 1 if recorder else 0,
        "Init": 1162,
        "Find": "BC",
        "FindVersion": 1,
    }
    doc = {"mac": ident.mac, "method": "client.notifyDevInfo", "params": {"deviceInfo": info}}
    return frame(json.dumps(doc).encode() + b"\n")


class Dhip:
    name = "dhip"
    group = GROUP
    port = PORT

    def parse(self, data: bytes) -> object | None:
        return parse_search(data)

    def answer(self, camera: Camera, probe: object) -> bytes | None:
        return dev_info(camera)
