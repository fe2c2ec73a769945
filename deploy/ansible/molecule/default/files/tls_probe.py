"""Molecule verify: does the broker accept an MQTT CONNECT over TLS with this client certificate?"""

from __future__ import annotations

import socket
import ssl
import sys

# MQTT 3.1.1 CONNECT, clean session, keepalive 30 s, empty client id (the broker assigns one).
CONNECT = bytes([0x10, 0x0C, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 0])


def probe(ca: str, cert: str, key: str, port: int) -> str:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            # With TLS 1.3 the broker's verdict on our certificate only arrives with the first read.
            tls.sendall(CONNECT)
            data = tls.recv(4)
            return f"accepted {data.hex()}" if data else "closed"
    except (ssl.SSLError, OSError) as exc:
        return f"refused {type(exc).__name__}"


if __name__ == "__main__":
    print(probe(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
