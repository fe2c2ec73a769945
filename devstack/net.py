"""Loopback ports and the error for a missing system tool, shared by the stack's pieces."""

from __future__ import annotations

import socket


class ToolMissing(RuntimeError):
    """A system program the stack needs (mosquitto, PostgreSQL) is not installed."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
