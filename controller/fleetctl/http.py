"""fleetctl's HTTP client of the controller REST API: bearer token, a timeout on every request, exit codes."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Mapping
from enum import IntEnum
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp


class Exit(IntEnum):
    """fleetctl's exit codes (documented in `fleetctl --help`)."""

    OK = 0
    FAILURES = 1  # completed, but some cameras failed, were rejected or timed out (or are still pending)
    USAGE = 2  # bad arguments, or the controller answered 400 (its message is printed)
    AUTH = 3  # 401 / 403: missing, invalid or revoked token, or a role that may not do this
    UNREACHABLE = 4  # connection refused, timed out, or the controller failed (5xx)
    NOT_FOUND = 5  # 404: no such command / camera
    INTERNAL = 70  # a bug in fleetctl (EX_SOFTWARE)


EXIT_HELP = """exit codes:
  0  success
  1  completed, but some cameras failed, were rejected, timed out or are still pending
  2  usage error, or the controller refused the request (HTTP 400; its message is printed)
  3  authentication or permission refused (HTTP 401/403)
  4  controller unreachable, timed out, or failed (HTTP 5xx)
  5  not found (HTTP 404)
  70 internal error in fleetctl (a bug; set FLEETCTL_DEBUG=1 for the traceback)"""


class FleetctlError(Exception):
    """An error that ends fleetctl with `code`; the message never contains the API token."""

    def __init__(self, message: str, code: Exit, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def redact_url(url: str) -> str:
    """The URL without any user:password@ part, fit for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def plain_http_to_remote(url: str) -> bool:
    """True when the token would cross the network unencrypted (http:// to a host that is not loopback)."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def _exit_for(status: int) -> Exit:
    if status in (401, 403):
        return Exit.AUTH
    if status == 404:
        return Exit.NOT_FOUND
    if status >= 500:
        return Exit.UNREACHABLE
    return Exit.USAGE


def _server_message(status: int, body: bytes) -> str:
    """The controller's `{"error": ...}` message, else a short excerpt of what came back."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return str(doc["error"])
    text = body.decode("utf-8", "replace").strip()
    return text[:200] or f"HTTP {status}"


class Client:
    """One aiohttp session against the controller; every request is bounded by `timeout` seconds."""

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        if not url.startswith(("http://", "https://")):
            raise FleetctlError(f"--url: expected http:// or https://, got {redact_url(url)!r}", Exit.USAGE)
        if redact_url(url) != url:
            raise FleetctlError(
                f"--url: no user or password in the URL ({redact_url(url)}); the API takes a token",
                Exit.USAGE,
            )
        self.base = url.rstrip("/")
        self.shown = redact_url(self.base)
        self._token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        headers = {"Accept": "application/json", "User-Agent": "fleetctl"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        self._session = aiohttp.ClientSession(headers=headers, timeout=self.timeout)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        sink: Path | None = None,
    ) -> tuple[int, bytes]:
        """Send one request; a non-2xx answer raises FleetctlError with the server's message. With `sink`,
        the body is streamed to that file and (status, b"") is returned."""
        assert self._session is not None, "use Client as an async context manager"
        url = f"{self.base}{path}"
        try:
            async with self._session.request(
                method, url, params=params, json=body, timeout=self.timeout, allow_redirects=False
            ) as r:
                if r.status >= 300:
                    data = await r.read()
                    raise FleetctlError(
                        f"{method} {path}: HTTP {r.status}: {_server_message(r.status, data)}",
                        _exit_for(r.status),
                        r.status,
                    )
                if sink is None:
                    return r.status, await r.read()
                with sink.open("wb") as f:
                    async for chunk in r.content.iter_chunked(64 * 1024):
                        f.write(chunk)
                return r.status, b""
        except FleetctlError:
            raise
        except TimeoutError as exc:
            raise FleetctlError(
                f"{method} {path}: no answer from the controller at {self.shown} within "
                f"{self.timeout.total:g}s",
                Exit.UNREACHABLE,
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            # str(exc) names the host and the OS error; it never holds request headers (so no token).
            raise FleetctlError(
                f"cannot reach the controller at {self.shown}: {exc.os_error.strerror or exc}",
                Exit.UNREACHABLE,
            ) from exc
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            raise FleetctlError(
                f"{method} {path}: connection to {self.shown} failed: {type(exc).__name__}", Exit.UNREACHABLE
            ) from exc

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        _, data = await self.request("GET", path, params=params)
        return _as_object(path, data)

    async def post_json(self, path: str, body: Any) -> dict[str, Any]:
        _, data = await self.request("POST", path, body=body)
        return _as_object(path, data)


def _as_object(path: str, data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise FleetctlError(
            f"{path}: the controller sent something that is not JSON", Exit.UNREACHABLE
        ) from exc
    if not isinstance(doc, dict):
        raise FleetctlError(f"{path}: expected a JSON object from the controller", Exit.UNREACHABLE)
    return doc
