"""Shared helpers for the controller benchmarks: machine facts, percentiles, /proc readings, realistic payloads."""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from controller.ingest import camera_row
from controller.store import Store
from controller.store.base import AgentRow, CameraRow
from protos.camfleet.v1 import camfleet_pb2 as pb

# Vendors and models in the proportions of the camsim default mix, so rows and reports carry realistic strings.
_MODELS = [
    ("Hikvision", "DS-2CD2143G2-I", "V5.7.3 build 220112", "hikvision", True, False),
    ("Dahua", "IPC-HDW2431T-AS-S2", "2.800.0000000.17.R", "dahua", True, False),
    ("LTS", "CMIP7442W-28SD", "V5.5.800 build 210628", "hikvision", True, True),
    ("Lorex", "LNB4321B", "2.620.0000000.3.R", "dahua", True, True),
    ("Axis", "P3245-LV", "10.12.114", "axis", False, False),
    ("Hanwha", "XNV-6080R", "2.10.02", "hanwha", False, False),
]
_LEVELS = ["critical", "high", "medium", "low"]


def machine() -> dict[str, str]:
    """nproc, RAM and CPU model, for BENCHMARKS.md."""
    model = "unknown"
    mem_kb = 0
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
        meminfo = Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        cpuinfo = meminfo = []
    for line in cpuinfo:
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    for line in meminfo:
        if line.startswith("MemTotal"):
            mem_kb = int(line.split()[1])
    return {
        "nproc": str(os.cpu_count()),
        "ram_gb": f"{mem_kb / 1024 / 1024:.1f}",
        "cpu": model,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def pct(values: Sequence[float], p: float) -> float:
    """Percentile by nearest rank (p in 0..100); enough for a benchmark report."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
    return s[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process (VmRSS), MB."""
    with open(f"/proc/{pid or os.getpid()}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (utime + stime from /proc/<pid>/stat)."""
    with open(f"/proc/{pid or os.getpid()}/stat", encoding="utf-8") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def result_line(**figures: Any) -> str:
    """The `key=value ...` last line every bench script prints."""
    parts = []
    for k, v in figures.items():
        parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(parts)


def camera_id(i: int) -> str:
    return f"cam-{i:06d}"


def record(i: int, agent_id: str, site: str, *, rng: random.Random | None = None) -> pb.CameraRecord:
    """A CameraRecord of the size and shape an agent sends after a full inventory of one camera."""
    r = rng or random.Random(i)
    vendor, model, fw, origin, covered, oem = _MODELS[i % len(_MODELS)]
    rec = pb.CameraRecord(
        camera_id=camera_id(i), agent_id=agent_id, site=site, host=f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
        port=80, fingerprint=f"{vendor.lower()}:{i:012x}:{model}", reachable=True,
        scopes=[f"onvif://www.onvif.org/name/{model}", "onvif://www.onvif.org/location/site"],
    )  # fmt: skip
    rec.identity.manufacturer = vendor
    rec.identity.model = model
    rec.identity.firmware = fw
    rec.identity.serial = f"SN{i:010d}"
    rec.identity.macs.append(f"44:19:b6:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}")
    rec.origin.manufacturer = origin
    rec.origin.covered = covered
    rec.origin.oem_rebrand = oem
    rec.origin.confidence = 0.95 if covered else 0.6
    level = _LEVELS[r.randrange(len(_LEVELS))] if covered else "low"
    rec.risk.score = {"critical": 95, "high": 75, "medium": 50, "low": 10}[level]
    rec.risk.level = level
    rec.risk.cloud_reachable = covered and r.random() < 0.5
    rec.risk.reasons.extend(["cloud service enabled", "default ONVIF user"] if covered else [])
    rec.observed_at.GetCurrentTime()
    return rec


def rows(n: int, agents: int = 20) -> list[CameraRow]:
    """`n` realistic CameraRows spread over `agents` agents (for seeding a store directly)."""
    out = []
    for i in range(n):
        a = i % agents
        aid, site = f"agent-{a:03d}", f"site-{a:03d}"
        out.append(camera_row(aid, site, record(i, aid, site)))
    return out


# ---- a real controller process over a seeded SQLite store ------------------------------------------------
PASSPHRASE = "camfleet-bench-passphrase"
ADMIN_PASSWORD = "camfleet-bench-admin-pw"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def seed(db: Path, n: int, start: int = 0, agents: int = 20) -> float:
    """Put cameras start..n-1 into the SQLite store through its own ingest path; returns seconds taken."""
    t0 = time.perf_counter()
    store = Store(db)
    await store.open()
    try:
        ids = [f"agent-{a:03d}" for a in range(agents)]
        for a, aid in enumerate(ids):
            await store.upsert_agent(AgentRow(agent_id=aid, site=f"site-{a:03d}", version="bench", boot_seq=1,
                                              online=True, last_seen=time.time(), capabilities=["inventory"],
                                              camera_count=0))  # fmt: skip
        for a, aid in enumerate(ids):
            mine = [
                camera_row(aid, f"site-{a:03d}", record(i, aid, f"site-{a:03d}"))
                for i in range(start + a, n, agents)
            ]
            seq = int(time.time() * 1000)
            await store.ingest_cameras(aid, mine, full=False, removed=[], seq=seq)
    finally:
        await store.close()
    return time.perf_counter() - t0


class ControllerProc:
    """`camfleet-controller serve` on loopback (embedded broker, SQLite in its state dir) with an admin user."""

    def __init__(self, root: Path | None = None, broker: tuple[int, Path, Path] | None = None) -> None:
        """`broker`: (port, CA file, PKI dir holding controller.crt/.key) of a Mosquitto on 127.0.0.1."""
        self.root = root or Path(tempfile.mkdtemp(prefix="camfleet-bench-ctl-"))
        self.broker = broker
        self.port = _free_port()
        self.cfg = self.root / "controller.toml"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        self._setup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.root / "state" / "fleet.db"

    def _run(self, *argv: str) -> str:
        env = {**os.environ, "CAMFLEET_KEY_PASSPHRASE": PASSPHRASE}
        res = subprocess.run([str(BIN / "camfleet-controller"), *argv], capture_output=True, text=True,
                             timeout=120, env=env)  # fmt: skip
        if res.returncode != 0:
            raise RuntimeError(f"camfleet-controller {argv[0]} failed: {res.stderr[-2000:]}")
        return res.stdout

    def _setup(self) -> None:
        secret = self.root / "passphrase"
        secret.write_text(PASSPHRASE)
        secret.chmod(0o600)
        if self.broker is None:
            broker = f"[broker]\nembedded_port = {_free_port()}\n\n"
        else:
            port, ca, pki = self.broker
            broker = (f'[broker]\nhost = "127.0.0.1"\nport = {port}\nca = "{ca}"\ncert = "{pki}/controller.crt"\n'
                      f'key = "{pki}/controller.key"\n\n')  # fmt: skip
        self.cfg.write_text(
            f'[controller]\nstate_dir = "{self.root / "state"}"\n\n[http]\nhost = "127.0.0.1"\nport = {self.port}\n'
            f"secure_cookies = false\n\n{broker}"
            f'[keys]\npassphrase_file = "{secret}"\n'
        )
        self._run("keyring", "--config", str(self.cfg), "--out", str(self.root / "keyring.json"))
        pw = self.root / "admin.pw"
        pw.write_text(ADMIN_PASSWORD)
        self._run("user", "--config", str(self.cfg), "admin", "--role", "admin", "--password-file", str(pw))
        self.token = self._run("token", "--config", str(self.cfg), "admin").strip()

    async def start(self) -> None:
        log = (self.root / "controller.log").open("ab")
        argv = [str(BIN / "camfleet-controller"), "serve", "--config", str(self.cfg)]
        # Spawning is quick; only the wait for /healthz below is long, and that one is async.
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)  # noqa: ASYNC220
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"controller exited: {(self.root / 'controller.log').read_text()[-2000:]}"
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with s.get(f"{self.url}/healthz") as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError("controller did not answer /healthz")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def login(self, session: aiohttp.ClientSession) -> None:
        """Log in through the real form (CSRF token from the page, session cookie kept by the session)."""
        async with session.get(f"{self.url}/login") as r:
            page = await r.text()
        m = re.search(r'name="csrf" value="([^"]+)"', page)
        if m is None:
            raise RuntimeError("no CSRF token on the login page")
        form = {
            "csrf": html.unescape(m.group(1)),
            "username": "admin",
            "password": ADMIN_PASSWORD,
            "next": "/",
        }
        async with session.post(f"{self.url}/login", data=form, allow_redirects=False) as r:
            if r.status not in (302, 303):
                raise RuntimeError(f"login failed: HTTP {r.status}")
