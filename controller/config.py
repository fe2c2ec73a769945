"""The controller's configuration file (TOML), validated into a typed object with clear errors."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError


@dataclass(frozen=True)
class HttpLimits:
    # A connection must deliver a whole request (line and headers) this soon after it opens or after its
    # previous answer; aiohttp's keep-alive timer enforces it (3630 s by default).
    header_timeout_s: float = 15.0
    # A request body must arrive within this (a client trickling its body holds a handler otherwise).
    body_timeout_s: float = 30.0
    # Live streams (/events): per session (or API token user) and in all.
    sse_per_session: int = 4
    sse_total: int = 200
    # Reverse proxies whose X-Forwarded-For names the real client (login throttling is per client address).
    trusted_proxies: list[str] = field(default_factory=list)


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
    http_limits: HttpLimits = field(default_factory=HttpLimits)

    @property
    def embedded_broker(self) -> bool:
        return not self.broker_host

    @property
    def key_path(self) -> Path:
        return self.signing_key or self.state_dir / "controller-signing.pem"

    @property
    def sqlite_path(self) -> Path:
        return self.state_dir / "fleet.db"


# ---- the file's shape: every section strict (an unknown key or a wrong type stops the program) -------
class _Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


Text = Annotated[str, StringConstraints(min_length=1)]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Controller(_Section):
    state_dir: Text = "state"
    log_json: bool = False


class _Http(_Section):
    host: Text = "127.0.0.1"
    port: Port = 8080
    secure_cookies: bool = True
    header_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 15.0
    body_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    sse_per_session: Annotated[int, Field(ge=1, le=1000)] = 4
    sse_total: Annotated[int, Field(ge=1, le=100_000)] = 200
    trusted_proxies: list[Text] = []


class _Broker(_Section):
    host: str = ""
    port: Port = 8883
    ca: Text | None = None
    cert: Text | None = None
    key: Text | None = None
    protocol: Literal[4, 5] = 5
    share_group: Text | None = None
    client_id: Text = "camfleet-controller"
    embedded_port: Port = 1883


class _Store(_Section):
    url: str = ""


class _Keys(_Section):
    signing_key: Text | None = None
    approver_keyring: Text | None = None
    approvals_required: Annotated[int, Field(ge=2, le=16)] = 2
    passphrase_env: Text = "CAMFLEET_KEY_PASSPHRASE"
    passphrase_file: Text | None = None


class _File(_Section):
    controller: _Controller = _Controller()
    http: _Http = _Http()
    broker: _Broker = _Broker()
    store: _Store = _Store()
    keys: _Keys = _Keys()


def _p(base: Path, v: str | None) -> Path | None:
    if v is None:
        return None
    p = Path(v)
    return p if p.is_absolute() else base / p


def load_config(path: Path) -> ControllerConfig:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse_config(raw, path.parent, name=str(path))


def parse_config(raw: dict[str, Any], base: Path, name: str = "controller.toml") -> ControllerConfig:
    """The TOML document as a ControllerConfig; ConfigError names the file and every bad key."""
    try:
        f = _File.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: "
            f"{'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"{name}: {problems}") from None
    c, h, b, k = f.controller, f.http, f.broker, f.keys
    return ControllerConfig(
        state_dir=_p(base, c.state_dir) or base / "state",
        http_host=h.host, http_port=h.port, secure_cookies=h.secure_cookies,
        broker_host=b.host, broker_port=b.port, broker_ca=_p(base, b.ca), broker_cert=_p(base, b.cert),
        broker_key=_p(base, b.key), broker_protocol=b.protocol, share_group=b.share_group,
        client_id=b.client_id, embedded_port=b.embedded_port, store_url=f.store.url,
        signing_key=_p(base, k.signing_key), approver_keyring=_p(base, k.approver_keyring),
        approvals_required=k.approvals_required, passphrase_env=k.passphrase_env,
        passphrase_file=_p(base, k.passphrase_file), log_json=c.log_json,
        http_limits=HttpLimits(h.header_timeout_s, h.body_timeout_s, h.sse_per_session, h.sse_total,
                               list(h.trusted_proxies)),
    )  # fmt: skip
