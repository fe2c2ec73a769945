"""One process, many cameras: a shared aiohttp app bound once per camera address, routing by local socket."""

from __future__ import annotations

import asyncio
import importlib
import ipaddress
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from email.utils import formatdate
from pathlib import Path
from types import ModuleType
from typing import Any

from aiohttp import web

from camsim import faults as faultlib
from camsim.keys import CREDENTIALS_SENT, LOOKUP
from camsim.model import Camera

log = logging.getLogger(__name__)

ONVIF_PATHS = frozenset(
    {"/onvif/device_service", "/onvif/Device", "/onvif/services", "/onvif/Media", "/onvif/Recording"}
)
DAHUA_PATHS = frozenset(
    {"/cgi-bin/magicBox.cgi", "/cgi-bin/configManager.cgi", "/cgi-bin/LogicDeviceManager.cgi"}
)
AXIS_PATHS = frozenset({"/axis-cgi/param.cgi"})
# Served without login: landing pages and the UPnP description (camsim.pages).
PAGE_PATHS = frozenset({"/", "/index.html", "/upnp/rootDesc.xml"})

_REQ_CAMERA = web.RequestKey("camsim_camera", Camera)

# Listener (re)binding is bounded so a stuck bind cannot wedge start-up or a reboot.
_BIND_TIMEOUT_S = 10.0


class _LazyModule:
    """Imports a sibling camsim module on first use so the server works while other parts are built."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._mod: ModuleType | None = None
        self._error: str | None = None

    def get(self) -> ModuleType | None:
        if self._mod is None and self._error is None:
            try:
                self._mod = importlib.import_module(self.name)
            except ImportError as exc:
                self._error = str(exc)
                log.warning("camsim: %s not available: %s", self.name, exc)
        return self._mod

    def missing(self) -> web.Response:
        return web.Response(status=501, text=f"{self.name} is not available: {self._error}\n")


class SimServer:
    """Serves a list of cameras, each on its own (address, port), plus a JSON control API."""

    def __init__(
        self,
        cameras: list[Camera],
        *,
        control_host: str = "127.0.0.1",
        control_port: int = 0,
        state_file: Path | None = None,
        discovery: bool = False,
        fault_seed: int | None = None,
        rtsp_port: int | None = None,
        tls_port: int | None = None,
    ) -> None:
        self.cameras = list(cameras)
        self._by_id: dict[str, Camera] = {}
        self._by_sock: dict[tuple[str, int], Camera] = {}
        self._control_host = control_host
        self._control_port = control_port
        self.state_file = state_file
        self._discovery_enabled = discovery
        self._discovery: Any = None
        self.discovery_error: str | None = None
        # Vendor discovery responders (SADP, DHIP, SSDP), name -> MulticastResponder; best effort like WS-Discovery.
        self.multicast: dict[str, Any] = {}
        self.multicast_errors: dict[str, str] = {}
        self._rtsp_port = rtsp_port
        self._tls_port = tls_port
        self._banners: Any = None
        self.injector = faultlib.FaultInjector(fault_seed)
        self._inflight: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self._control_runner: web.AppRunner | None = None
        self._sites: dict[tuple[str, int], web.TCPSite] = {}
        self._reopen: dict[tuple[str, int], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._control_url = ""
        self._onvif = _LazyModule("camsim.onvif_device")
        self._auth = _LazyModule("camsim.auth")
        self._vendors = _LazyModule("camsim.vendors")
        self._saver: Any = None
        self.started_at = 0.0
        self.requests = 0
        # Per-camera traffic counters (not persisted): requests, injected faults, refusals.
        self.traffic: dict[str, Counter[str]] = {}
        self._index()

    # ---- lookup ------------------------------------------------------------------------
    def _index(self) -> None:
        self._by_id = {c.id: c for c in self.cameras}
        # Cameras behind a recorder have no socket: the agent cannot reach them, only their recorder can.
        listening = self.reachable()
        self._by_sock = {(c.network.address, c.port): c for c in listening}
        if len(self._by_id) != len(self.cameras):
            raise ValueError("camera ids must be unique")
        if len(self._by_sock) != len(listening):
            raise ValueError("camera (address, port) pairs must be unique")

    def lookup(self, camera_id: str) -> Camera | None:
        return self._by_id.get(camera_id)

    def reachable(self) -> list[Camera]:
        """The devices on the simulated site network (everything but the cameras behind recorders)."""
        return [c for c in self.cameras if c.reachable]

    def camera(self, camera_id: str) -> Camera:
        return self._by_id[camera_id]

    def camera_for(self, request: web.BaseRequest) -> Camera | None:
        """The camera this request was sent to, from the local address the client connected to."""
        transport = request.transport
        if transport is None:
            return None
        sock = transport.get_extra_info("sockname")
        if not sock:
            return None
        return self._by_sock.get((sock[0], sock[1]))

    @property
    def control_url(self) -> str:
        return self._control_url

    def inflight(self, camera_id: str) -> int:
        return self._inflight.get(camera_id, 0)

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        from camsim import state as statelib  # local: state imports model only, kept out of hot import

        if self.state_file is not None and self.state_file.exists():
            self.cameras = statelib.merge_state(self.cameras, statelib.load_state(self.state_file))
            self._index()
        if self.state_file is not None:
            self._saver = statelib.StateSaver(self.state_file, lambda: self.cameras)

        try:
            await self._start_serving()
        except BaseException:
            # Leave nothing bound behind, and do not overwrite the state file with a fleet that never ran.
            self._saver = None
            await self.stop()
            raise
        self.started_at = time.time()

    async def _start_serving(self) -> None:
        app = web.Application(handler_args={"max_field_size": 16384})
        # Recorders answer for the cameras on their channels, hidden ones included.
        app[LOOKUP] = self.lookup
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(self._on_prepare)
        # Access logging for 1,000 cameras would dominate CPU; the control API has the counters instead.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        for key in self._by_sock:
            await self._bind(key)

        from camsim import control  # local import: control imports server types

        capp = control.build_app(self)
        self._control_runner = web.AppRunner(capp, access_log=None, handle_signals=False)
        await self._control_runner.setup()
        csite = web.TCPSite(self._control_runner, self._control_host, self._control_port)
        await asyncio.wait_for(csite.start(), _BIND_TIMEOUT_S)
        port = self._control_runner.addresses[0][1]
        self._control_url = f"http://{self._control_host}:{port}"

        await self._start_banners()
        if self._discovery_enabled:
            await self._start_discovery()
        # Cameras that were mid-reboot when state was saved come back when their downtime ends.
        for cam in self.cameras:
            if cam.is_down():
                self._schedule_reboot(cam)

    async def _start_banners(self) -> None:
        if self._rtsp_port is not None or self._tls_port is not None:
            from camsim.banners import BannerServers

            self._banners = BannerServers(self.reachable, self._count, rtsp_port=self._rtsp_port,
                                          tls_port=self._tls_port)  # fmt: skip
            await self._banners.start()

    async def move(self, cam: Camera, address: str, port: int | None = None) -> None:
        """The camera answers at another address from now on (a new DHCP lease, a re-IP): it is still the same
        device (serial, MACs, settings), and nothing answers at the old address any more."""
        if not cam.reachable:
            raise ValueError(f"{cam.id} lives behind a recorder: it has no address of its own to change")
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            raise ValueError(f"address {address!r} is not an IPv4 address") from None
        if not ip.is_loopback:
            raise ValueError(f"address {address} is outside 127.0.0.0/8 (camsim listens on loopback only)")
        old, new = (cam.network.address, cam.port), (address, port or cam.port)
        if new == old:
            return
        if new in self._by_sock:
            raise ValueError(f"{address}:{new[1]} is taken by {self._by_sock[new].id}")
        if self._runner is not None and not cam.is_down():
            await self._bind(new)  # first: a bind that fails leaves the camera where it was
        handle = self._reopen.pop(old, None)
        if handle is not None:  # mid-reboot: it comes back at the new address
            handle.cancel()
        await self._unbind(old)
        cam.network.address, cam.port = new
        self._index()
        if cam.is_down():
            self._schedule_reboot(cam)
        if self._banners is not None:  # the RTSP/TLS listeners follow the camera
            await self._banners.stop()
            await self._start_banners()
        self.note_change(cam.id)

    async def _start_discovery(self) -> None:
        """WS-Discovery is best effort: a busy UDP 3702 (another camsim) must not take the HTTP fleet down."""
        try:
            disco = importlib.import_module("camsim.discovery")
            responder = disco.DiscoveryResponder(self.reachable)
            await responder.start()
        except (ImportError, OSError) as exc:
            self.discovery_error = str(exc)
            log.warning("camsim: WS-Discovery disabled: %s", exc)
            return
        self._discovery = responder
        await self._start_multicast()

    async def _start_multicast(self) -> None:
        """SADP, DHIP and SSDP on lo multicast: one socket each, whatever the fleet size."""
        from camsim import dhip, sadp, ssdp
        from camsim.multicast import MulticastResponder

        for proto in (sadp.Sadp(), dhip.Dhip(), ssdp.Ssdp()):
            responder = MulticastResponder(self.reachable, proto)
            try:
                await responder.start()
            except OSError as exc:
                self.multicast_errors[proto.name] = str(exc)
                log.warning("camsim: %s disabled: %s", proto.name, exc)
                continue
            self.multicast[proto.name] = responder

    async def stop(self) -> None:
        self._stopping.set()  # release hanging handlers so shutdown does not wait for them
        for handle in self._reopen.values():
            handle.cancel()
        self._reopen.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._discovery is not None:
            await self._discovery.stop()
            self._discovery = None
        for responder in self.multicast.values():
            await responder.stop()
        self.multicast.clear()
        if self._banners is not None:
            await self._banners.stop()
            self._banners = None
        if self._control_runner is not None:
            await self._control_runner.cleanup()
            self._control_runner = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._sites.clear()
        if self._saver is not None:
            await self._saver.close()
            self._saver.save_now()

    async def _bind(self, key: tuple[str, int]) -> None:
        assert self._runner is not None
        site = web.TCPSite(self._runner, key[0], key[1], backlog=128, reuse_address=True)
        try:
            await asyncio.wait_for(site.start(), _BIND_TIMEOUT_S)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {key[0]}:{key[1]}: {exc.strerror}") from exc
        self._sites[key] = site

    async def _unbind(self, key: tuple[str, int]) -> None:
        site = self._sites.pop(key, None)
        if site is not None:
            await site.stop()

    # ---- reboot downtime ---------------------------------------------------------------
    def _schedule_reboot(self, cam: Camera) -> None:
        """While a camera reboots its port is closed (connection refused), then it listens again."""
        if not cam.reachable:
            return  # nothing listens for a camera behind a recorder; its channel shows it down meanwhile
        key = (cam.network.address, cam.port)
        loop = asyncio.get_running_loop()
        old = self._reopen.pop(key, None)
        if old is not None:
            old.cancel()
        if key in self._sites:
            self._spawn(self._unbind(key))
        delay = max(0.0, cam.down_until - time.time())
        self._reopen[key] = loop.call_later(delay, lambda: self._spawn(self._come_back(cam, key)))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        # Keep a reference so the task is not garbage-collected mid-flight.
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _come_back(self, cam: Camera, key: tuple[str, int]) -> None:
        self._reopen.pop(key, None)
        if cam.is_down():  # rebooted again meanwhile
            self._schedule_reboot(cam)
            return
        if key not in self._sites and self._runner is not None:
            try:
                await self._bind(key)
            except OSError:
                log.exception("camsim: %s did not come back after reboot", cam.id)

    def reboot(self, cam: Camera) -> None:
        """Reboot a camera now (control API); downtime is cam.faults.reboot_seconds."""
        cam.reboot()
        self._schedule_reboot(cam)
        self.note_change(cam.id)

    def note_change(self, camera_id: str | None = None) -> None:
        """Camera state changed (one camera, or None: possibly all): persist it soon (debounced)."""
        if self._saver is not None:
            self._saver.schedule(camera_id)

    # ---- request pipeline --------------------------------------------------------------
    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        cam = request.get(_REQ_CAMERA)
        if cam is None:
            return
        # Agents read the camera's clock from Date when GetSystemDateAndTime needs auth (DESIGN §4).
        response.headers["Date"] = formatdate(cam.now(), usegmt=True)
        server = None
        vendors = self._vendors.get()
        header_of = getattr(vendors, "server_header", None)
        if header_of is not None:
            server = header_of(cam)
        if server is None:
            response.headers.popall("Server", None)
        else:
            response.headers["Server"] = server

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        cam = self.camera_for(request)
        if cam is None:
            return web.Response(status=404)
        request[_REQ_CAMERA] = cam
        self.requests += 1
        self._count(cam, "requests")
        if cam.is_down():
            # A rebooting camera has no web server: the connection just dies.
            self._count(cam, "down")
            faultlib.drop(request)
            return web.Response(status=503)
        # In flight from the first byte: a slow (latency-faulted) camera fills its connection slots.
        self._inflight[cam.id] = self._inflight.get(cam.id, 0) + 1
        try:
            before = _fingerprint(cam)
            resp = await self._pipeline(cam, request)
        finally:
            self._inflight[cam.id] -= 1
        if "Authorization" in request.headers or request.get(CREDENTIALS_SENT):
            # Anything that carried a credential (HTTP auth, a WS-Security UsernameToken): the census must show 0.
            self._count(cam, "credentials")
        after = _fingerprint(cam)
        if after != before:
            if after[1] != before[1] and cam.is_down():
                self._schedule_reboot(cam)
            self.note_change(cam.id)
        return resp

    def _count(self, cam: Camera, event: str) -> None:
        c = self.traffic.get(cam.id)
        if c is None:
            c = self.traffic[cam.id] = Counter()
        c[event] += 1

    async def _pipeline(self, cam: Camera, request: web.Request) -> web.StreamResponse:
        f = cam.faults
        delay = self.injector.delay_s(f)
        if delay > 0:
            await asyncio.sleep(delay)
        if f.hang:
            self._count(cam, "hang")
            await faultlib.hang(request, f, self._stopping)
            if request.transport is None or request.transport.is_closing() or self._stopping.is_set():
                faultlib.drop(request)
                return web.Response(status=504)
        if self.injector.roll(f.drop_rate):
            self._count(cam, "drop")
            faultlib.drop(request)
            return web.Response(status=503)
        if self.injector.roll(f.http500_rate):
            self._count(cam, "http500")
            return web.Response(status=500, text="Internal Server Error")

        peer = request.transport.get_extra_info("peername") if request.transport else None
        client_ip = str(peer[0]) if peer else ""
        if not cam.network.ip_filter.permits(client_ip):
            # A filtered camera refuses outright; empty 403 and the connection is closed.
            self._count(cam, "ip_filtered")
            refused = web.Response(status=403)
            refused.force_close()
            return refused

        if self._inflight.get(cam.id, 0) > cam.auth.connection_limit:
            self._count(cam, "over_limit")
            return _over_limit(cam)
        routed = cam.needs_route(client_ip)
        resp = await self._dispatch(cam, request)
        if routed and not cam.has_route_out():
            # A client on another subnet is answered through the default gateway only. What reached the
            # camera is still processed (the request was routed to it), but the answer cannot go back: the
            # connection dies. Judged after the request, so one that restores the gateway is answered.
            # (A real camera may not even finish the TCP handshake; that is why the agent checks routes
            # before it clears a gateway, and its revert is best effort.)
            self._count(cam, "no_route")
            faultlib.drop(request)
            return web.Response(status=503)
        if ("Authorization" in request.headers or request.get(CREDENTIALS_SENT)) and request.path.startswith(
            f.login_fault_path
        ):
            # The login was judged (a failed one is counted); whether its answer arrives is another matter.
            if f.login_reply_delay_ms > 0:
                await asyncio.sleep(f.login_reply_delay_ms / 1000.0)
            if self.injector.roll(f.lost_login_reply_rate):
                self._count(cam, "lost_login_reply")
                faultlib.drop(request)
                return web.Response(status=503)
        self._count(cam, f"status_{resp.status}")
        if resp.status == 401 and request.path in ONVIF_PATHS:
            # Challenges of the ONVIF service alone: a client reusing its digest nonce meets one per camera; the
            # unauthenticated vendor-API probes an agent sends first are answered 401 elsewhere.
            self._count(cam, "onvif_401")
        return await self._post_faults(cam, request, resp)

    async def _post_faults(
        self, cam: Camera, request: web.Request, resp: web.StreamResponse
    ) -> web.StreamResponse:
        f = cam.faults
        if not isinstance(resp, web.Response) or not isinstance(resp.body, bytes | bytearray):
            return resp
        if self.injector.roll(f.malformed_rate):
            self._count(cam, "malformed")
            resp.body = self.injector.malform(bytes(resp.body))
            return resp
        if self.injector.roll(f.truncated_rate):
            self._count(cam, "truncated")
            return await faultlib.send_truncated(
                request, resp, self.injector.truncated_length(bytes(resp.body))
            )
        return resp

    async def _dispatch(self, cam: Camera, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path in PAGE_PATHS:
            from camsim import pages

            return pages.handle(cam, request)
        if not cam.activated and (path in ONVIF_PATHS or _is_vendor_path(cam, path)):
            # No password exists yet and ONVIF is not running: every API call is refused until activation.
            auth = self._auth.get()
            return auth.digest_challenge(cam) if auth is not None else web.Response(status=401)
        if path in ONVIF_PATHS:
            if request.method != "POST":
                return web.Response(status=405, headers={"Allow": "POST"})
            onvif = self._onvif.get()
            if onvif is None:
                return self._onvif.missing()
            handle: Callable[[Camera, web.Request], Awaitable[web.StreamResponse]] = onvif.handle
            return await handle(cam, request)
        if not _is_vendor_path(cam, path):
            if request.headers.get("Authorization"):
                # Credentials sent where this camera has no vendor API: what an agent must never do.
                self._count(cam, "credentials_to_foreign_path")
            return await _foreign_path(cam, request)
        auth = self._auth.get()
        if auth is None:
            return self._auth.missing()
        outcome = auth.check_http_digest(cam, request, web=True)
        if outcome.response is not None:
            result: web.StreamResponse = outcome.response
            return result
        vendors = self._vendors.get()
        if vendors is None:
            return self._vendors.missing()
        vhandle: Callable[[Camera, web.Request], Awaitable[web.StreamResponse]] = vendors.handle
        return await vhandle(cam, request)


def _fingerprint(cam: Camera) -> tuple[int, float, int, int, int]:
    """Cheap summary of persisted runtime state, to notice when a request changed something."""
    return (
        sum(cam.writes.values()),
        cam.down_until,
        cam.boots,
        sum(cam.auth_failures.values()),
        len(cam.locked_until),
    )


def _is_vendor_path(cam: Camera, path: str) -> bool:
    p = cam.identity.personality
    if p == "hikvision":
        return path.startswith("/ISAPI/")
    if p == "dahua":
        return path in DAHUA_PATHS
    if p == "axis":
        return path in AXIS_PATHS
    return False


async def _foreign_path(cam: Camera, request: web.Request) -> web.StreamResponse:
    """A path that is neither ONVIF nor this camera's vendor API, answered the way its web server does."""
    if cam.web == "cgi_forbidden" and request.path.endswith(".cgi"):
        return web.Response(status=403, text="403 - Forbidden")
    if cam.web == "basic_only":
        realm = cam.auth.realm.replace('"', "")
        return web.Response(
            status=401, text="Unauthorized", headers={"WWW-Authenticate": f'Basic realm="{realm}"'}
        )
    if cam.web == "drop_post" and request.method == "POST":
        await request.read()
        faultlib.drop(request)
        return web.Response(status=503)
    if cam.web == "method_not_allowed":
        return web.Response(status=405, headers={"Allow": "POST"}, text="Method Not Allowed")
    return web.Response(status=404)


def _over_limit(cam: Camera) -> web.Response:
    """Past the concurrent-connection limit: Hikvision answers 503, Dahua 401 (VENDORS.md, issue 3)."""
    if cam.identity.personality == "dahua":
        return web.Response(status=401, text="Error\r\nToo many connections\r\n")
    return web.Response(status=503, text="Service Unavailable")
