"""A real Mosquitto on loopback: PKI and configuration from the controller's own generators, on a free port."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from controller.broker_config import BrokerSettings, write_broker_config
from controller.pki import Pki
from devstack.net import ToolMissing, free_port


def mosquitto_path() -> str:
    path = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )
    if path is None:
        raise ToolMissing(
            "mosquitto is not installed: scripts/bootstrap installs it (apt-get install mosquitto)"
        )
    return path


@dataclass
class Broker:
    root: Path
    pki: Pki
    host: str
    port: int
    conf: Path
    proc: subprocess.Popen[bytes] | None = None

    def tls_context(self, name: str) -> ssl.SSLContext:
        """Client TLS for `name` ('controller' or an agent id issued by the PKI)."""
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        if name == "controller":
            ctx.load_cert_chain(self.pki.root / "controller.crt", self.pki.root / "controller.key")
        else:
            crt, key = self.pki.agent_paths(name)
            ctx.load_cert_chain(crt, key)
        return ctx

    def start(self) -> None:
        log = (self.root / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen([mosquitto_path(), "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {(self.root / 'mosquitto.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not open its port")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def reload_crl(self) -> None:
        """Mosquitto re-reads its CRL on SIGHUP, a moment later and without logging it at our log levels:
        wait for the effect (a revoked client refused), not for a fixed time."""
        assert self.proc is not None
        self.proc.send_signal(1)


def make_broker(agents: tuple[str, ...] = ("site-a", "site-b")) -> Broker:
    # A world-traversable directory: Mosquitto started as root drops to the mosquitto user and must still
    # reach its certificates (pytest's tmp_path is 0700).
    root = Path(tempfile.mkdtemp(prefix="camfleet-broker-"))
    os.chmod(root, 0o755)
    pki = Pki(root / "pki")
    pki.init()
    os.chmod(pki.root, 0o755)
    for a in agents:
        pki.issue_agent(a)
    os.chmod(pki.root / "agents", 0o755)
    persist = root / "data"
    persist.mkdir()
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError):
            pw = pwd.getpwnam("mosquitto")
            os.chown(persist, pw.pw_uid, pw.pw_gid)
    port = free_port()
    conf = write_broker_config(pki, root / "broker", BrokerSettings(port=port, persistence_dir=persist))
    os.chmod(root / "broker", 0o755)
    return Broker(root, pki, "127.0.0.1", port, conf)


@contextlib.contextmanager
def running_broker(agents: tuple[str, ...] = ("site-a", "site-b")) -> Iterator[Broker]:
    b = make_broker(agents)
    b.start()
    try:
        yield b
    finally:
        b.stop()
        shutil.rmtree(b.root, ignore_errors=True)
