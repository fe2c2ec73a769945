"""A whole camfleet for browser tests: controller (own thread, real socket), store, camsim, Mosquitto, agents."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from controller.api import STORE
from controller.app import build_app
from controller.auth import hash_password
from controller.config import ControllerConfig
from controller.store import Store
from controller.store.base import CameraFilter, UserRow
from devstack.broker import Broker, make_broker
from protos.keys import Keyring, SigningKey
from tests.camsim.conftest import find_free_port
from tests.timing import scaled, wait_for

T = TypeVar("T")
BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery"
ROLES = ("viewer", "operator", "approver", "admin")
SITES = ("north", "south")


@dataclass
class People:
    """Dashboard accounts (one per role, two approvers with their own Ed25519 keys) and their password."""

    password: str = PASSWORD
    approver_keys: dict[str, SigningKey] = field(default_factory=dict)

    def users(self) -> list[UserRow]:
        pw = hash_password(self.password)
        rows = [UserRow(r, pw, r) for r in ROLES if r != "approver"]
        for name in ("alice", "bob"):
            key = self.approver_keys.setdefault(name, SigningKey.generate())
            rows.append(UserRow(name, pw, "approver", approver_key=Keyring.of(key.public_key).to_json()))
        return rows

    def keyring(self) -> Keyring:
        return Keyring.of(*(k.public_key for k in self.approver_keys.values()))


class ControllerThread:
    """The real controller app (build_app) served by aiohttp on a free loopback port, in its own thread and
    event loop, so that synchronous Playwright can drive it while tests still reach the store directly."""

    def __init__(self, cfg: ControllerConfig, key: SigningKey, *, mqtt: bool) -> None:
        self.cfg, self.key, self.mqtt = cfg, key, mqtt
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="controller", daemon=True)
        self.runner: web.AppRunner | None = None
        self.app: web.Application | None = None
        self.url = ""

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        async def run() -> T:
            return await fn()

        fut: Future[T] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return fut.result(timeout)

    @property
    def store(self) -> Store:
        assert self.app is not None
        return self.app[STORE]

    def start(self) -> None:
        self.thread.start()

        async def up() -> None:
            self.app = build_app(self.cfg, self.key, mqtt=self.mqtt)
            self.runner = web.AppRunner(self.app, shutdown_timeout=2.0)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            host, port = self.runner.addresses[0][:2]
            self.url = f"http://{host}:{port}"

        self.call(up, timeout=60)

    def stop(self) -> None:
        if self.runner is not None:
            with contextlib.suppress(Exception):
                self.call(self.runner.cleanup, timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def camera_total(self, **flt: Any) -> int:
        async def q() -> int:
            return (await self.store.query_cameras(CameraFilter(**flt), limit=1))[1]

        return self.call(q)


@dataclass
class Camsim:
    """camsim as a subprocess (the real simulator, its control API and its exported truth)."""

    proc: subprocess.Popen[str]
    control_url: str
    truth: list[dict[str, Any]]
    targets: Path

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """camsim's JSON control API (synchronous: Playwright's sync API owns this thread's event loop)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.control_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_camsim(root: Path, cameras: int, seed: int, base_address: str) -> Camsim:
    export = root / "camsim"
    port = find_free_port()
    proc = subprocess.Popen(
        [str(BIN / "camsim"), "--cameras", str(cameras), "--seed", str(seed), "--base-address", base_address,
         "--port", str(port), "--control-port", "0", "--no-discovery", "--export", str(export)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + scaled(60)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"camsim exited ({proc.wait()})")
        m = re.search(r"control=(\S+)", line)
        if m:
            # Keep draining its output so a chatty camsim never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
            truth = json.loads((export / "truth.json").read_text())
            return Camsim(proc, m.group(1).rstrip("/"), truth, export / "targets.csv")
    stop_process(proc)
    raise RuntimeError("camsim did not get ready")


def split_targets(targets: Path, out: Path) -> dict[str, Path]:
    """One targets file per site: cameras alternate between the two sites."""
    rows = list(csv.reader(targets.open()))
    header, body = rows[0], rows[1:]
    paths = {}
    for i, site in enumerate(SITES):
        p = out / f"targets-{site}.csv"
        with p.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(body[i :: len(SITES)])
        os.chmod(p, 0o600)
        paths[site] = p
    return paths


def agent_available() -> bool:
    """The daemon CLI exists (helper agent-core): then the fleet is real agents over Mosquitto."""
    exe = BIN / "camfleet-agent"
    if not exe.exists():
        return False
    try:
        r = subprocess.run([str(exe), "run", "--help"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


@dataclass
class Fleet:
    """What the browser tests run against. `live` says whether agents (over Mosquitto) manage the cameras;
    without them the store is seeded with the agent's own inventory of the same camsim cameras."""

    controller: ControllerThread
    camsim: Camsim
    people: People
    live: bool
    root: Path
    broker: Broker | None = None
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def site_of_host(self) -> dict[str, str]:
        return {t["host"]: SITES[i % len(SITES)] for i, t in enumerate(self.camsim.truth)}

    def wait_inventory(self, n: int, timeout: float = 90.0) -> None:
        wait_for(
            lambda: self.controller.camera_total() >= n, timeout, f"the inventory of {n} cameras", step=0.3
        )

    def stop(self) -> None:
        for p in self.agents:
            stop_process(p)
        self.controller.stop()
        if self.broker is not None:
            self.broker.stop()
            shutil.rmtree(self.broker.root, ignore_errors=True)
        self.camsim.stop()


def _write_agent_config(
    fleet: Fleet, site: str, targets: Path, controller_ring: Path, approvers: Path
) -> Path:
    assert fleet.broker is not None
    crt, key = fleet.broker.pki.agent_paths(f"site-{site}")
    d = fleet.root / f"agent-{site}"
    d.mkdir()
    cfg = d / "agent.toml"
    cfg.write_text(
        f"""[agent]
id = "site-{site}"
site = "{site}"
state_dir = "{d / "state"}"

[broker]
host = "127.0.0.1"
port = {fleet.broker.port}
ca = "{fleet.broker.pki.ca_cert}"
cert = "{crt}"
key = "{key}"
protocol = 5

[keys]
controller_keyring = "{controller_ring}"
approver_keyring = "{approvers}"
approvals_required = 2

[cameras]
targets = "{targets}"
timeout_s = 5
concurrency = 16
inventory_interval_s = 20
"""
    )
    return cfg


def _seed_from_agent_inventory(fleet: Fleet, targets: dict[str, Path]) -> None:
    """No daemon yet: inventory the camsim cameras with the agent's own camera layer (agent.fleet) and store
    the records as the hub would. Attribution, risk and cloud state are the agent's, not made up here."""
    from agent.fleet import CameraFleet
    from agent.targets import load_targets
    from controller.ingest import camera_row

    async def seed() -> None:
        store = fleet.controller.store
        for seq, (site, path) in enumerate(targets.items(), start=1):
            agent_id = f"site-{site}"
            async with CameraFleet(load_targets(path), agent_id=agent_id, site=site, timeout=5.0) as cf:
                records = await cf.inventory()
            rows = [camera_row(agent_id, site, r) for r in records]
            await store.ingest_cameras(agent_id, rows, full=True, removed=[], seq=seq)

    fleet.controller.call(seed, timeout=120)


@contextlib.contextmanager
def running_fleet(
    root: Path, *, cameras: int = 24, seed: int = 7, live: bool | None = None
) -> Iterator[Fleet]:
    live = agent_available() if live is None else live
    people = People()
    key = SigningKey.generate()
    base = f"127.0.{20 + os.getpid() % 200}.1"
    sim = start_camsim(root, cameras, seed, base)
    broker: Broker | None = None
    try:
        targets = split_targets(sim.targets, root)
        users = people.users()
        approvers = root / "approvers.json"
        approvers.write_text(people.keyring().to_json())
        cfg = ControllerConfig(
            state_dir=root / "controller", secure_cookies=False, approver_keyring=approvers,
            client_id=f"controller-{uuid.uuid4().hex[:8]}",
        )  # fmt: skip
        if live:
            broker = make_broker(tuple(f"site-{s}" for s in SITES))
            broker.start()
            cfg = ControllerConfig(
                state_dir=cfg.state_dir, secure_cookies=False, approver_keyring=approvers,
                client_id=cfg.client_id, broker_host="127.0.0.1", broker_port=broker.port,
                broker_ca=broker.pki.ca_cert, broker_cert=broker.pki.root / "controller.crt",
                broker_key=broker.pki.root / "controller.key", broker_protocol=5,
            )  # fmt: skip
        controller = ControllerThread(cfg, key, mqtt=live)
        controller.start()
        fleet = Fleet(controller, sim, people, live, root, broker)
    except BaseException:
        sim.stop()
        if broker is not None:
            broker.stop()
        raise
    try:

        async def add_users() -> None:
            for u in users:
                await controller.store.put_user(u)

        controller.call(add_users)
        if live:
            ring = root / "controller-keyring.json"
            ring.write_text(Keyring.of(key.public_key).to_json())
            for site, path in targets.items():
                conf = _write_agent_config(fleet, site, path, ring, approvers)
                log = (root / f"agent-{site}.log").open("ab")
                fleet.agents.append(
                    subprocess.Popen(
                        [str(BIN / "camfleet-agent"), "run", "--config", str(conf)], stdout=log, stderr=log
                    )
                )
        else:
            _seed_from_agent_inventory(fleet, targets)
        fleet.wait_inventory(cameras)
        yield fleet
    finally:
        fleet.stop()
