"""The agent's configuration file (TOML), validated into a typed object with clear errors."""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from protos.topics import TopicError, validate_agent_id


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key."""


@dataclass(frozen=True)
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 8883
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    protocol: int = 5  # 5 (MQTT 5) or 4 (MQTT 3.1.1)
    keepalive: int = 30


@dataclass(frozen=True)
class CensusSettings:
    """[census]: the credential-free search. Multicast only out of `interfaces` (addresses of this host), passive
    probes only on `ranges` (default: cameras.discovery_ranges), at most `rate_per_s` and `max_messages`."""

    interfaces: list[str] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)
    http_ports: list[int] = field(default_factory=lambda: [80])
    rtsp_ports: list[int] = field(default_factory=lambda: [554])
    tls_ports: list[int] = field(default_factory=lambda: [443])
    interval_s: float = 3600.0
    window_s: float = 2.0
    rate_per_s: float = 200.0
    max_messages: int = 20_000
    enabled: bool = False
    scope: str = "link"  # link | ranges (see agent.census.runner.CensusConfig)


@dataclass(frozen=True)
class AgentConfig:
    agent_id: str
    site: str
    state_dir: Path
    broker: BrokerConfig
    controller_keyring: Path
    approver_keyring: Path | None = None
    approvals_required: int = 2
    clock_slack_s: float = 30.0
    targets: Path | None = None
    vault: Path | None = None
    vault_key_file: Path | None = None
    concurrency: int = 64
    timeout_s: float = 10.0
    inventory_interval_s: float = 900.0  # full reads of every camera
    check_interval_s: float = 60.0  # cheap reachability/identity checks in between
    discovery_ranges: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    # restrict_network: what stays allowed when a command names nothing (the site's recorders / VMS).
    network_allow: list[str] = field(default_factory=list)
    source_address: str | None = None  # the local address cameras are reached from (multi-homed hosts)
    metrics_port: int | None = None
    log_json: bool = False
    census: CensusSettings = field(default_factory=CensusSettings)


# ---- the file's shape: every section strict (an unknown key or a wrong type stops the agent) ----------
class _Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


Text = Annotated[str, StringConstraints(min_length=1)]
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0)]


def _network(v: str) -> str:
    try:
        return str(ipaddress.ip_network(v, strict=False))
    except ValueError as exc:
        raise ValueError(f"{v!r} is not an address or CIDR network") from exc


def _address(v: str) -> str:
    try:
        return str(ipaddress.ip_address(v))
    except ValueError as exc:
        raise ValueError(f"{v!r} is not an IP address") from exc


Network = Annotated[str, AfterValidator(_network)]
Address = Annotated[str, AfterValidator(_address)]


class _Agent(_Section):
    id: str = ""
    site: Text | None = None
    state_dir: Text = "state"
    metrics_port: Port | None = None
    log_json: bool = False


class _Broker(_Section):
    host: Text = "127.0.0.1"
    port: Port = 8883
    ca: Text | None = None
    cert: Text | None = None
    key: Text | None = None
    protocol: Literal[4, 5] = 5
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 30


class _Cameras(_Section):
    targets: Text | None = None
    vault: Text | None = None
    vault_key_file: Text | None = None
    concurrency: Annotated[int, Field(ge=1, le=10_000)] = 64
    timeout_s: Seconds = 10.0
    inventory_interval_s: Seconds = 900.0
    check_interval_s: Seconds = 60.0
    discovery_ranges: list[Text] = []
    allow: list[Text] = []
    # restrict_network: what stays allowed when a command names nothing (the site's recorders / VMS).
    network_allow: list[Network] = []
    source_address: Address | None = None  # the local address cameras are reached from (multi-homed hosts)


class _Keys(_Section):
    controller_keyring: Text | None = None
    approver_keyring: Text | None = None
    approvals_required: Annotated[int, Field(ge=1, le=16)] = 2
    clock_slack_s: Annotated[float, Field(ge=0, le=3600)] = 30.0


class _Census(_Section):
    interfaces: list[Text] = []
    ranges: list[Text] | None = None  # default: cameras.discovery_ranges
    http_ports: list[Port] = [80]
    rtsp_ports: list[Port] = [554]
    tls_ports: list[Port] = [443]
    interval_s: Seconds = 3600.0
    window_s: Seconds = 2.0
    rate_per_s: Seconds = 200.0
    max_messages: Annotated[int, Field(ge=1)] = 20_000
    enabled: bool | None = None  # default: on when the [census] table says anything
    scope: Literal["link", "ranges"] = "link"  # agent.census.runner.CensusConfig


class _File(_Section):
    agent: _Agent = _Agent()
    broker: _Broker = _Broker()
    cameras: _Cameras = _Cameras()
    keys: _Keys = _Keys()
    census: _Census = _Census()


def _p(base: Path, v: str | None) -> Path | None:
    if v is None:
        return None
    p = Path(v)
    return p if p.is_absolute() else (base / p)


def load_config(path: Path) -> AgentConfig:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse_config(raw, path.parent, name=str(path))


def parse_config(raw: dict[str, Any], base: Path, name: str = "agent.toml") -> AgentConfig:
    """The TOML document as an AgentConfig; ConfigError names the file and every bad key."""
    try:
        f = _File.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: "
            f"{'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"{name}: {problems}") from None
    a, b, c, k, z = f.agent, f.broker, f.cameras, f.keys, f.census
    try:
        agent_id = validate_agent_id(a.id)
    except TopicError as exc:
        raise ConfigError(f"{name}: agent.id: {exc}") from exc
    controller_keyring = _p(base, k.controller_keyring)
    if controller_keyring is None:
        raise ConfigError(f"{name}: keys.controller_keyring: required (the pinned controller signing keys)")
    census = CensusSettings(
        interfaces=list(z.interfaces), ranges=list(c.discovery_ranges if z.ranges is None else z.ranges),
        http_ports=list(z.http_ports), rtsp_ports=list(z.rtsp_ports), tls_ports=list(z.tls_ports),
        interval_s=z.interval_s, window_s=z.window_s, rate_per_s=z.rate_per_s, max_messages=z.max_messages,
        enabled=z.enabled if z.enabled is not None else bool(raw.get("census")), scope=z.scope,
    )  # fmt: skip
    return AgentConfig(
        agent_id=agent_id, site=a.site or agent_id, state_dir=_p(base, a.state_dir) or base / "state",
        broker=BrokerConfig(host=b.host, port=b.port, ca=_p(base, b.ca), cert=_p(base, b.cert),
                            key=_p(base, b.key), protocol=b.protocol, keepalive=b.keepalive),
        controller_keyring=controller_keyring, approver_keyring=_p(base, k.approver_keyring),
        approvals_required=k.approvals_required, clock_slack_s=k.clock_slack_s,
        targets=_p(base, c.targets), vault=_p(base, c.vault), vault_key_file=_p(base, c.vault_key_file),
        concurrency=c.concurrency, timeout_s=c.timeout_s, inventory_interval_s=c.inventory_interval_s,
        check_interval_s=c.check_interval_s, discovery_ranges=list(c.discovery_ranges), allow=list(c.allow),
        network_allow=list(c.network_allow), source_address=c.source_address,
        metrics_port=a.metrics_port, log_json=a.log_json, census=census,
    )  # fmt: skip
