"""ipycam's ONVIF service and HTTP server on loopback, without a video source, run by its own virtualenv.

ipycam (PyPI) is an ONVIF camera written by someone else: the agent is checked against it, not only against
camsim. IPCamera.start() also starts WS-Discovery, streamers and binds every interface, so this builds the two
parts the agent talks to the way IPCamera does (ONVIFService(config), IPCameraHTTPHandler on a threading TCP
server) and binds them to one loopback address. It adds, in this process only:

- a clock offset (the camera's clock, not the machine's: ipycam reads time.gmtime() and datetime.now() in its
  onvif module and the Date header from http.server), settable while running;
- counters the tests read: refused logins (a UsernameToken or Basic credential that did not verify; asking
  without credentials is not one), requests, credentials sent to non-ONVIF paths, and per SOAP operation
  (local name of the action) how often ipycam executed it after authentication (`actions`) and how often it
  answered that with a fault (`faults`: "Action not supported" for everything it does not implement);
- CameraConfig.save() kept in memory (`config_saves`): ipycam 1.3.0 writes "camera_config.json" relative to
  the working directory when its web API (POST /api/config, /api/credentials) changes the config.

What ipycam 1.3.0 can change through ONVIF (ipycam/onvif.py, ONVIFService.handle_action): nothing on the
device side. It routes by substring to Get* handlers and PTZ moves/presets (which act on its PTZ controller,
None here); every device-management Set (SetNTP, SetDNS, SetIPAddressFilter, SetHostname ...) is answered
"Action not supported". None of its ONVIF handlers runs a subprocess or touches the host's network setup.

Prints one line `ready onvif=http://H:P/onvif/device_service control=http://127.0.0.1:Q` and serves until
killed. The control server answers GET /counters (JSON), GET /state (ipycam's config, password left out) and
POST /counters?offset=SECONDS|reset=1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import threading
import time
import types
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from ipycam import http as ipy_http
from ipycam import onvif as ipy_onvif
from ipycam.config import CameraConfig
from ipycam.onvif import ONVIFService

STATE: dict[str, Any] = {"offset": 0.0, "rejected_logins": 0, "requests": 0, "credentials_to_foreign_path": 0,
                         "paths": {}, "actions": {}, "faults": {}, "config_saves": 0}  # fmt: skip
LOCK = threading.Lock()


def _now() -> float:
    return time.time() + float(STATE["offset"])


class _SkewedDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
        return datetime.now(tz) + timedelta(seconds=float(STATE["offset"]))


def _install_clock() -> None:
    """ipycam.onvif uses `time.gmtime()` (GetSystemDateAndTime) and `datetime.now()` (WS-Security freshness)."""
    fake_time = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("__")})
    fake_time.time = _now
    fake_time.gmtime = lambda secs=None: time.gmtime(_now() if secs is None else secs)
    ipy_onvif.time = fake_time  # type: ignore[attr-defined]
    ipy_onvif.datetime = _SkewedDatetime  # type: ignore[attr-defined]


class Handler(ipy_http.IPCameraHTTPHandler):
    """ipycam's handler with the camera's clock in the Date header and the counters above."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        return super().date_time_string(_now() if timestamp is None else timestamp)

    def _count(self) -> None:
        path = urlparse(self.path).path
        with LOCK:
            STATE["requests"] += 1
            STATE["paths"][path] = STATE["paths"].get(path, 0) + 1
            if not path.startswith("/onvif/") and self.headers.get("Authorization"):
                STATE["credentials_to_foreign_path"] += 1

    def do_GET(self) -> None:
        self._count()
        super().do_GET()

    def do_POST(self) -> None:
        self._count()
        super().do_POST()

    def do_PUT(self) -> None:
        self._count()
        self.send_error(501)

    def _check_basic_auth(self) -> bool:
        ok: bool = super()._check_basic_auth()
        if not ok and self.headers.get("Authorization"):
            with LOCK:
                STATE["rejected_logins"] += 1
        return ok


class CountingService(ONVIFService):  # type: ignore[misc]
    def handle_action(self, action: str, body: str) -> str | None:
        """Called by ipycam only once the UsernameToken verified: what the camera really executed."""
        name = (action or "?").rstrip("/").rsplit("/", 1)[-1]
        reply: str | None = super().handle_action(action, body)
        with LOCK:
            STATE["actions"][name] = STATE["actions"].get(name, 0) + 1
            if reply is None or ":Fault>" in reply or "<Fault" in reply:
                STATE["faults"][name] = STATE["faults"].get(name, 0) + 1
        return reply

    def verify_usernametoken(self, soap_body: str) -> bool:
        ok: bool = super().verify_usernametoken(soap_body)
        if not ok and "UsernameToken" in soap_body:
            with LOCK:
                STATE["rejected_logins"] += 1
        return ok


class Camera:
    """What IPCameraHTTPHandler reads from IPCamera for ONVIF and Basic auth: `config` and `onvif`."""

    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        self.onvif = CountingService(config, None)


def _save_in_memory(config: CameraConfig) -> None:
    """ipycam's CameraConfig.save() writes camera_config.json into the working directory (config.py): here the
    config stays in this process, and the test sees how often ipycam would have saved it."""

    def save(filepath: str | None = None) -> bool:
        with LOCK:
            STATE["config_saves"] += 1
        return True

    config.save = save  # type: ignore[method-assign]


def _config_state(config: CameraConfig) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(config).items() if k != "password"}


class Control(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        with LOCK:
            if urlparse(self.path).path == "/state":
                self._json(_config_state(Handler.camera.config))
            else:
                self._json(dict(STATE))

    def do_POST(self) -> None:
        q = parse_qs(urlparse(self.path).query)
        with LOCK:
            if "offset" in q:
                STATE["offset"] = float(q["offset"][0])
            if "reset" in q:
                STATE.update(rejected_logins=0, requests=0, credentials_to_foreign_path=0, paths={}, actions={},
                             faults={}, config_saves=0)  # fmt: skip
        self._json(dict(STATE))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--username", default="admin")
    ap.add_argument("--password", required=True)
    ap.add_argument("--offset", type=float, default=0.0, help="camera clock minus real time, seconds")
    args = ap.parse_args()
    if not args.host.startswith("127."):
        raise SystemExit("loopback only")
    STATE["offset"] = args.offset
    _install_clock()
    config = CameraConfig(name="IPyCam interop", local_ip=args.host, onvif_port=args.port,
                          username=args.username, password=args.password)  # fmt: skip
    _save_in_memory(config)
    Handler.camera = Camera(config)  # type: ignore[assignment]
    onvif = ThreadingHTTPServer((args.host, args.port), Handler)
    onvif.daemon_threads = True
    control = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    control.daemon_threads = True
    threading.Thread(target=control.serve_forever, daemon=True).start()
    print(f"ready onvif=http://{args.host}:{args.port}/onvif/device_service "
          f"control=http://127.0.0.1:{control.server_address[1]}", flush=True)  # fmt: skip
    onvif.serve_forever()


if __name__ == "__main__":
    main()
