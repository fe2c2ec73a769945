"""Dahua DHIP device search (UDP 37810, group 239.255.255.251): a 32-byte header, then a JSON body.

Header layout and the `DHDiscover.search` body as public implementations send them [S] (julienblitte/
UniversalScanner Dahua2, a ConfigTool-derived C client): 0x20 little-endian header size, b"DHIP", 8 bytes of
session, the body length little-endian at offsets 16 and 24. Replies carry `client.notifyDevInfo`.
"""

from __future__ import annotations

import json
import struct
from typing import Any

GROUP = "239.255.255.251"
PORT = 37810
MAGIC = b"DHIP"
HEADER_LEN = 32
MAX_FIELD = 256
SEARCH_BODY = b'{ "method" : "DHDiscover.search", "params" : { "mac" : "", "uni" : 1 } }\n'


def frame(body: bytes) -> bytes:
    n = len(body)
    return struct.pack("<I4s8sI4sI4s", HEADER_LEN, MAGIC, b"\0" * 8, n, b"\0" * 4, n, b"\0" * 4) + body


def search() -> bytes:
    return frame(SEARCH_BODY)


def _flat(info: dict[str, Any]) -> dict[str, str]:
    """deviceInfo flattened to strings (IPv4Address.IPAddress ...); nested lists and oversize values dropped."""
    out: dict[str, str] = {}
    for key, value in info.items():
        if not isinstance(key, str):
            continue
        if isinstance(value, dict):
            for k2, v2 in value.items():
                if isinstance(k2, str) and isinstance(v2, str | int | float | bool):
                    out[f"{key}.{k2}"] = str(v2)[:MAX_FIELD]
        elif isinstance(value, str | int | float | bool):
            out[key] = str(value)[:MAX_FIELD]
    return out


def parse_dev_info(data: bytes) -> dict[str, str] | None:
    """deviceInfo of one notifyDevInfo reply (plus the top-level `mac`), or None for anything else."""
    if len(data) < HEADER_LEN or data[4:8] != MAGIC:
        return None
    (size,) = struct.unpack_from("<I", data, 0)
    (length,) = struct.unpack_from("<I", data, 16)
    if size != HEADER_LEN or length != len(data) - HEADER_LEN:
        return None
    try:
        doc = json.loads(data[HEADER_LEN:].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("method") != "client.notifyDevInfo":
        return None
    params = doc.get("params")
    info = params.get("deviceInfo") if isinstance(params, dict) else None
    if not isinstance(info, dict):
        return None
    out = _flat(info)
    if isinstance(doc.get("mac"), str):
        out["mac"] = doc["mac"][:64]
    return out if ("SerialNo" in out or "mac" in out) else None
