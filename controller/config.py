"""The controller's configuration file (TOML), validated into a typed object with clear errors."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key."""


@dataclass(frozen=True)
class ControllerConfig:
    state_dir: Path
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Broker: none configured (host empty) means the embedded amqtt broker on loopback (MQTT 3.1.1, no TLS).
    broker_host: str = ""
    broker_port: int = 8883
    broker_ca: Path | None = None
    broker_cert: Path | None = None
    broker_key: Path | None = None
    broker_protocol: int = 5
    share_group: str | None = None
    client_id: str = "camfleet-controller"
    embedded_port: int = 1883
    store_url: str = ""  # "" = SQLite in state_dir; postgresql://... for scale
    signing_key: Path | None = None  # default state_dir/controller-signing.pem
    approver_keyring: Path | None = None
    approvals_required: int = 2
    passphrase_env: str = "CAMFLEET_KEY_PASSPHRASE"
    passphrase_file: Path | None = None
    secure_cookies: bool = True
    log_json: bool = False

    @property
    def embedded_broker(self) -> bool:
        return not self.broker_host

    @property
    def key_path(self) -> Path:
        return self.signing_key or self.state_dir / "controller-signing.pem"

    @property
    def sqlite_path(self) -> Path:
        return self.state_dir / "fleet.db"


def _p(base: Path, v: Any, key: str) -> Path:
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{key}: expected a path")
    p = Path(v)
    return p if p.is_absolute() else base / p


def load_config(path: Path) -> ControllerConfig:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse_config(raw, path.parent)


def parse_config(raw: dict[str, Any], base: Path) -> ControllerConfig:
    c, b, s, k, h = (raw.get(x, {}) for x in ("controller", "broker", "store", "keys", "http"))
    opt = {key: _p(base, b[key], f"broker.{key}") for key in ("ca", "cert", "key") if key in b}
    protocol = int(b.get("protocol", 5))
    if protocol not in (4, 5):
        raise ConfigError("broker.protocol: 5 (MQTT 5) or 4 (MQTT 3.1.1)")
    return ControllerConfig(
        state_dir=_p(base, c.get("state_dir", "state"), "controller.state_dir"),
        http_host=str(h.get("host", "127.0.0.1")),
        http_port=int(h.get("port", 8080)),
        secure_cookies=bool(h.get("secure_cookies", True)),
        broker_host=str(b.get("host", "")),
        broker_port=int(b.get("port", 8883)),
        broker_ca=opt.get("ca"),
        broker_cert=opt.get("cert"),
        broker_key=opt.get("key"),
        broker_protocol=protocol,
        share_group=str(b["share_group"]) if "share_group" in b else None,
        client_id=str(b.get("client_id", "camfleet-controller")),
        embedded_port=int(b.get("embedded_port", 1883)),
        store_url=str(s.get("url", "")),
        signing_key=_p(base, k["signing_key"], "keys.signing_key") if "signing_key" in k else None,
        approver_keyring=_p(base, k["approver_keyring"], "keys.approver_keyring")
        if "approver_keyring" in k
        else None,
        approvals_required=int(k.get("approvals_required", 2)),
        passphrase_env=str(k.get("passphrase_env", "CAMFLEET_KEY_PASSPHRASE")),
        passphrase_file=_p(base, k["passphrase_file"], "keys.passphrase_file")
        if "passphrase_file" in k
        else None,
        log_json=bool(c.get("log_json", False)),
    )
