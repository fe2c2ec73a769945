"""The whole system on one machine, as real processes: camsim, Mosquitto (or the embedded broker), the controller
and one agent per site. Used by the end-to-end tests and by scripts/demo."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from controller.broker_config import BrokerSettings, write_broker_config
from controller.pki import Pki
from devstack.net import free_port

BIN = Path(sys.executable).parent
PASSPHRASE = "camfleet-demo-passphrase"
ADMIN_PASSWORD = "camfleet-admin-pw"


@dataclass
class Proc:
    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.popen = subprocess.Popen(self.argv, stdout=out, stderr=out, start_new_session=True)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(sig)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


@dataclass
class Stack:
    """Everything under `root`; traffic stays on loopback (camsim on 127.0.x.y, services on 127.0.0.1)."""

    cameras: int = 30
    sites: tuple[str, ...] = ("north", "south", "east")
    seed: int = 7
    broker: str = "mosquitto"  # or "embedded"
    latency: str = "5ms"
    base_address: str = "127.0.1.1"
    camsim_args: tuple[str, ...] = ()
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="camfleet-stack-")))
    http_port: int = field(default_factory=free_port)
    mqtt_port: int = field(default_factory=free_port)
    cam_port: int = field(default_factory=free_port)
    control_port: int = field(default_factory=free_port)
    procs: dict[str, Proc] = field(default_factory=dict)
    token: str = ""
    approver_keys: list[Path] = field(default_factory=list)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    # Replicas: `controllers` > 1 needs a shared `store_url` (PostgreSQL, e.g. from devstack/pg.py); each replica
    # gets its own HTTP port, state dir and MQTT client id, and they share ingest through `share_group`.
    controllers: int = 1
    store_url: str = ""
    share_group: str = "camfleet"
    extra_http_ports: list[int] = field(default_factory=list)
    # Agents: full reads of every camera this often, cheap reachability/identity checks in between.
    inventory_interval_s: float = 30.0
    check_interval_s: float = 10.0
    # Census (issue 15): these sites' agents also search without credentials (multicast on lo, passive probes of
    # the camsim block, scope "ranges" so other simulators on the machine stay out); camsim answers discovery.
    census_sites: tuple[str, ...] = ()
    # Which targets a site's agent holds: "recorders" or "cameras" (default: a round-robin share of all).
    site_targets: dict[str, str] = field(default_factory=dict)
    # More [http] settings of controller.toml (limits: header_timeout_s, sse_per_session, ...).
    http_extra: dict[str, Any] = field(default_factory=dict)
    # Approvers made at start (approvers/<name>.pem, unencrypted): controller and agents pin their keys.
    approver_names: tuple[str, ...] = ()

    # ---- paths --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def replica_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.replica_port(i)}"

    def replica_port(self, i: int) -> int:
        while len(self.extra_http_ports) < self.controllers - 1:
            self.extra_http_ports.append(free_port())
        return self.http_port if i == 0 else self.extra_http_ports[i - 1]

    @staticmethod
    def replica_name(i: int) -> str:
        return "controller" if i == 0 else f"controller-{i}"

    @property
    def camsim_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    def agent_id(self, site: str) -> str:
        return f"agent-{site}"

    def truth(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads((self.root / "camsim" / "truth.json").read_text())
        return data

    # ---- pieces -------------------------------------------------------------------------------
    def _run(self, *argv: str) -> str:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=self._env())
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:3])} failed: {res.stderr.strip()[-2000:]}")
        return res.stdout

    def _env(self) -> dict[str, str]:
        return {**os.environ, "CAMFLEET_KEY_PASSPHRASE": PASSPHRASE}

    def _proc(self, name: str, *argv: str) -> Proc:
        p = Proc(name, list(argv), self.root / "logs" / f"{name}.log")
        self.procs[name] = p
        p.start()
        return p

    def start_camsim(self) -> None:
        self._proc(
            "camsim", str(BIN / "camsim"), "--cameras", str(self.cameras), "--seed", str(self.seed),
            "--port", str(self.cam_port), "--control-port", str(self.control_port), "--latency", self.latency,
            "--base-address", self.base_address, "--export", str(self.root / "camsim"),
            *(() if self.census_sites else ("--no-discovery",)),
            "--state", str(self.root / "camsim" / "state.json"), *self.camsim_args,
        )  # fmt: skip

    def split_targets(self) -> None:
        with (self.root / "camsim" / "targets.csv").open() as f:
            rows = list(csv.DictReader(f))
        recorders = (
            {t["host"] for t in self.truth() if t.get("kind") == "recorder"} if self.site_targets else set()
        )
        shared = [s for s in self.sites if s not in self.site_targets]
        for site in self.sites:
            d = self.root / "agents" / site
            d.mkdir(parents=True, exist_ok=True)
            kind = self.site_targets.get(site)
            if kind == "recorders":
                mine = [r for r in rows if r["host"] in recorders]
            elif kind == "cameras":
                mine = [r for r in rows if r["host"] not in recorders]
            else:
                i = shared.index(site)
                mine = [r for r in rows if r["host"] not in recorders or not self.site_targets][
                    i :: len(shared)
                ]
            with (d / "targets.csv").open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=["host", "port", "username", "password"])
                w.writeheader()
                w.writerows(mine)

    def setup_pki(self) -> None:
        # World-traversable: Mosquitto started as root drops to the mosquitto user and must read its files.
        os.chmod(self.root, 0o755)
        pki = Pki(self.root / "pki")
        pki.init()
        os.chmod(pki.root, 0o755)
        for site in self.sites:
            pki.issue_agent(self.agent_id(site))
        os.chmod(pki.root / "agents", 0o755)
        data = self.root / "mqtt-data"
        data.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            with contextlib.suppress(KeyError):
                pw = pwd.getpwnam("mosquitto")
                os.chown(data, pw.pw_uid, pw.pw_gid)
        write_broker_config(
            pki, self.root / "broker", BrokerSettings(port=self.mqtt_port, persistence_dir=data)
        )
        os.chmod(self.root / "broker", 0o755)

    def start_mosquitto(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self._proc("mosquitto", exe, "-c", str(self.root / "broker" / "mosquitto.conf"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.mqtt_port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {self.procs['mosquitto'].tail()}")

    def write_controller_config(self, replica: int = 0) -> Path:
        d = self.root / self.replica_name(replica)
        d.mkdir(parents=True, exist_ok=True)
        pki = self.root / "pki"
        broker = (
            f'[broker]\nhost = "127.0.0.1"\nport = {self.mqtt_port}\nca = "{pki}/ca.crt"\n'
            f'cert = "{pki}/controller.crt"\nkey = "{pki}/controller.key"\n'
            if self.broker == "mosquitto"
            else f"[broker]\nembedded_port = {self.mqtt_port}\n"
        )
        shared = ""
        if self.controllers > 1:
            # One signing key (agents pin it), one database, distinct MQTT sessions, one shared-subscription group.
            broker += f'client_id = "camfleet-controller-{replica}"\nshare_group = "{self.share_group}"\n'
            shared = f'signing_key = "{self.root / "controller-signing.pem"}"\n'
        store = f'[store]\nurl = "{self.store_url}"\n\n' if self.store_url else ""
        approvers = self.root / "approvers.json"
        secret = d / "passphrase"
        secret.write_text(PASSPHRASE)
        secret.chmod(0o600)
        (d / "controller.toml").write_text(
            f'[controller]\nstate_dir = "{d / "state"}"\n\n[http]\nhost = "127.0.0.1"\n'
            f"port = {self.replica_port(replica)}\n"
            + "".join(f"{k} = {json.dumps(v)}\n" for k, v in self.http_extra.items())
            + f'secure_cookies = false\n\n{broker}\n{store}[keys]\npassphrase_file = "{secret}"\n{shared}'
            + (f'approver_keyring = "{approvers}"\n' if approvers.exists() else "")
        )
        return d / "controller.toml"

    def start_controller(self) -> None:
        cfg = self.write_controller_config()
        self._run(str(BIN / "camfleet-controller"), "keyring", "--config", str(cfg), "--out",
                  str(self.root / "controller-keyring.json"))  # fmt: skip
        pw = self.root / "controller" / "admin.pw"
        pw.write_text(ADMIN_PASSWORD)
        self._run(str(BIN / "camfleet-controller"), "user", "--config", str(cfg), "admin", "--role", "admin",
                  "--password-file", str(pw))  # fmt: skip
        self.token = self._run(
            str(BIN / "camfleet-controller"), "token", "--config", str(cfg), "admin"
        ).strip()
        self._proc("controller", str(BIN / "camfleet-controller"), "serve", "--config", str(cfg))
        for i in range(1, self.controllers):
            self.start_replica(i)

    def start_replica(self, i: int) -> None:
        """(Re)start replica i (> 0) of a multi-controller stack; users and keys are in the shared store."""
        cfg = self.write_controller_config(i)
        name = self.replica_name(i)
        self._proc(name, str(BIN / "camfleet-controller"), "serve", "--config", str(cfg))

    def write_agent_config(self, site: str) -> Path:
        d = self.root / "agents" / site
        pki = self.root / "pki"
        aid = self.agent_id(site)
        tls = (
            f'ca = "{pki}/ca.crt"\ncert = "{pki}/agents/{aid}.crt"\nkey = "{pki}/agents/{aid}.key"\nprotocol = 5\n'
            if self.broker == "mosquitto"
            else "protocol = 4\n"
        )
        approvers = self.root / "approvers.json"
        self.metrics_ports[site] = self.metrics_ports.get(site) or free_port()
        (d / "agent.toml").write_text(
            f'[agent]\nid = "{aid}"\nsite = "{site}"\nstate_dir = "{d / "state"}"\n'
            f"metrics_port = {self.metrics_ports[site]}\n\n"
            f'[broker]\nhost = "127.0.0.1"\nport = {self.mqtt_port}\n{tls}\n'
            f'[keys]\ncontroller_keyring = "{self.root / "controller-keyring.json"}"\n'
            + (f'approver_keyring = "{approvers}"\n' if approvers.exists() else "")
            + f'\n[cameras]\ntargets = "{d / "targets.csv"}"\nconcurrency = 32\ntimeout_s = 5\n'
            f"inventory_interval_s = {self.inventory_interval_s:g}\ncheck_interval_s = {self.check_interval_s:g}\n"
            + (self._census_toml() if site in self.census_sites else "")
        )
        return d / "agent.toml"

    def census_range(self) -> str:
        """The /24 camsim's fleet starts in (census ranges and discovery_ranges of census sites)."""
        return ".".join(self.base_address.split(".")[:3]) + ".0/24"

    def _census_toml(self) -> str:
        r = self.census_range()
        return (
            f'discovery_ranges = ["{r}"]\n\n[census]\ninterfaces = ["127.0.0.1"]\nranges = ["{r}"]\n'
            f'http_ports = [{self.cam_port}]\nwindow_s = 1.5\ninterval_s = 20\nscope = "ranges"\n'
        )

    def start_agent(self, site: str) -> None:
        cfg = self.write_agent_config(site)
        self._proc(f"agent-{site}", str(BIN / "camfleet-agent"), "run", "--config", str(cfg))

    def make_approvers(self) -> None:
        """One Ed25519 key per approver name, and the keyring (approvers.json) controller and agents pin."""
        from protos.keys import Keyring, SigningKey

        d = self.root / "approvers"
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys = []
        for name in self.approver_names:
            key = SigningKey.generate()
            pem = d / f"{name}.pem"
            fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key.to_pem(None))
            (d / f"{name}.pub.json").write_text(Keyring.of(key.public_key).to_json())
            keys.append(key.public_key)
        (self.root / "approvers.json").write_text(Keyring.of(*keys).to_json())

    def add_user(self, name: str, role: str, *, approver: bool = False) -> str:
        """A dashboard/API user (password ADMIN_PASSWORD; with its approver key registered) and an API token."""
        cfg = str(self.root / "controller" / "controller.toml")
        pw = self.root / "controller" / "admin.pw"
        extra = ["--approver-key", str(self.root / "approvers" / f"{name}.pub.json")] if approver else []
        self._run(str(BIN / "camfleet-controller"), "user", "--config", cfg, name, "--role", role,
                  "--password-file", str(pw), *extra)  # fmt: skip
        return self._run(str(BIN / "camfleet-controller"), "token", "--config", cfg, name).strip()

    # ---- whole ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start everything; if any part fails to come up, what was already started is stopped before the error
        goes on (callers start the stack before their own try/finally, and leaked camsims held ports)."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        if self.approver_names:
            self.make_approvers()
        self.start_camsim()
        # camsim writes targets.csv, then truth.json (each atomically): waiting for the last one means both
        # are there. Waiting for targets.csv let split_targets read a truth.json not yet written.
        _wait_file(self.root / "camsim" / "truth.json", 30, self.procs["camsim"])
        self.split_targets()
        if self.broker == "mosquitto":
            self.setup_pki()
            self.start_mosquitto()
        self.start_controller()
        for i in range(self.controllers):
            asyncio.run(self.wait_http(f"{self.replica_url(i)}/healthz", 30, self.replica_name(i)))
        for site in self.sites:
            self.start_agent(site)

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            self.procs[name].stop()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- waiting and asking -------------------------------------------------------------------
    async def wait_http(self, url: str, seconds: float, name: str) -> None:
        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s:
            while time.monotonic() < deadline:
                p = self.procs.get(name)
                if p is not None and not p.alive():
                    raise RuntimeError(f"{name} exited: {p.tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with s.get(url) as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{name} not ready at {url}")

    async def api(self, method: str, path: str, *, replica: int = 0, **kw: Any) -> Any:
        async with (
            aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self.token}"}, timeout=aiohttp.ClientTimeout(total=30)
            ) as s,
            s.request(method, f"{self.replica_url(replica)}{path}", **kw) as r,
        ):
            if r.content_type == "application/json":
                return await r.json()
            return await r.text()

    async def wait_inventory(self, seconds: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        summary: dict[str, Any] = {}
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if not p.alive():
                    raise RuntimeError(f"{name} exited: {p.tail()}")
            summary = await self.api("GET", "/api/v1/summary")
            if summary.get("total") == self.cameras:
                return summary
            await asyncio.sleep(0.5)
        raise RuntimeError(f"inventory incomplete after {seconds} s: {summary}")

    async def wait_command(self, command_id: str, seconds: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        final = {"SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED"}
        detail: dict[str, Any] = {}
        while time.monotonic() < deadline:
            detail = await self.api("GET", f"/api/v1/commands/{command_id}")
            if detail.get("executions") and all(e["state"] in final for e in detail["executions"]):
                return detail
            await asyncio.sleep(0.3)
        raise RuntimeError(f"command {command_id} not final after {seconds} s: {detail.get('counts')}")

    async def camsim(self, method: str, path: str, **kw: Any) -> Any:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s,
            s.request(method, f"{self.camsim_url}{path}", **kw) as r,
        ):
            return await r.json()


def _wait_file(path: Path, seconds: float, proc: Proc) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > 0:
            return
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited: {proc.tail()}")
        time.sleep(0.1)
    raise RuntimeError(f"{path} did not appear")


async def wait_until(check: Any, seconds: float, step: float = 0.3) -> bool:
    """Poll an async predicate until it holds or the time is up; returns its last answer."""
    deadline = time.monotonic() + seconds  # wall time: a loaded machine makes each check slower
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(step)
    return bool(await check())
