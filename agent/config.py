"""The agent's configuration file (TOML), validated into a typed object with clear errors."""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def _path(base: Path, v: Any, key: str) -> Path:
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{key}: expected a path")
    p = Path(v)
    return p if p.is_absolute() else (base / p)


def _opt_path(base: Path, d: dict[str, Any], key: str, prefix: str = "") -> Path | None:
    return _path(base, d[key], prefix + key) if key in d else None


def _positive(d: dict[str, Any], key: str, default: float) -> float:
    try:
        value = float(d.get(key, default))
    except (TypeError, ValueError):
        raise ConfigError(f"cameras.{key}: expected seconds") from None
    if not value > 0:
        raise ConfigError(f"cameras.{key}: must be positive")
    return value


def _networks(value: Any, key: str) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected a list of addresses or CIDR networks")
    out = []
    for v in value:
        try:
            out.append(str(ipaddress.ip_network(str(v), strict=False)))
        except ValueError as exc:
            raise ConfigError(f"{key}: {v!r} is not an address or CIDR network") from exc
    return out


def _address(value: Any, key: str) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError as exc:
        raise ConfigError(f"{key}: {value!r} is not an IP address") from exc


def load_config(path: Path) -> AgentConfig:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse_config(raw, path.parent)


def _ports(d: dict[str, Any], key: str, default: list[int]) -> list[int]:
    value = d.get(key, default)
    if not isinstance(value, list) or not all(isinstance(p, int) and 1 <= p <= 65535 for p in value):
        raise ConfigError(f"census.{key}: expected a list of ports 1-65535")
    return list(value)


def _census(raw: dict[str, Any], discovery_ranges: list[str]) -> CensusSettings:
    c = raw.get("census", {})
    if not isinstance(c, dict):
        raise ConfigError("census: expected a table")
    unknown = set(c) - {"interfaces", "ranges", "http_ports", "rtsp_ports", "tls_ports", "interval_s", "window_s",
                        "rate_per_s", "max_messages", "enabled", "scope"}  # fmt: skip
    if unknown:
        raise ConfigError(f"census: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("interfaces", "ranges"):
        if not isinstance(c.get(key, []), list) or not all(isinstance(x, str) for x in c.get(key, [])):
            raise ConfigError(f"census.{key}: expected a list of strings")
    try:
        settings = CensusSettings(
            interfaces=list(c.get("interfaces", [])),
            ranges=list(c.get("ranges", discovery_ranges)),
            http_ports=_ports(c, "http_ports", [80]),
            rtsp_ports=_ports(c, "rtsp_ports", [554]),
            tls_ports=_ports(c, "tls_ports", [443]),
            interval_s=float(c.get("interval_s", 3600.0)),
            window_s=float(c.get("window_s", 2.0)),
            rate_per_s=float(c.get("rate_per_s", 200.0)),
            max_messages=int(c.get("max_messages", 20_000)),
            enabled=bool(c.get("enabled", bool(c))),
            scope=str(c.get("scope", "link")),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"census: {exc}") from exc
    if (
        settings.interval_s <= 0
        or settings.window_s <= 0
        or settings.rate_per_s <= 0
        or settings.max_messages < 1
    ):
        raise ConfigError("census: interval_s, window_s, rate_per_s and max_messages must be positive")
    return settings


def parse_config(raw: dict[str, Any], base: Path) -> AgentConfig:
    a = raw.get("agent", {})
    b = raw.get("broker", {})
    c = raw.get("cameras", {})
    k = raw.get("keys", {})
    try:
        agent_id = validate_agent_id(str(a.get("id", "")))
    except TopicError as exc:
        raise ConfigError(f"agent.id: {exc}") from exc
    if "controller_keyring" not in k:
        raise ConfigError("keys.controller_keyring: required (the pinned controller signing keys)")
    protocol = int(b.get("protocol", 5))
    if protocol not in (4, 5):
        raise ConfigError("broker.protocol: 5 (MQTT 5) or 4 (MQTT 3.1.1)")
    approvals = int(k.get("approvals_required", 2))
    if approvals < 1:
        raise ConfigError("keys.approvals_required: at least 1")
    return AgentConfig(
        agent_id=agent_id,
        site=str(a.get("site", agent_id)),
        state_dir=_path(base, a.get("state_dir", "state"), "agent.state_dir"),
        broker=BrokerConfig(
            host=str(b.get("host", "127.0.0.1")),
            port=int(b.get("port", 8883)),
            ca=_opt_path(base, b, "ca", "broker."),
            cert=_opt_path(base, b, "cert", "broker."),
            key=_opt_path(base, b, "key", "broker."),
            protocol=protocol,
            keepalive=int(b.get("keepalive", 30)),
        ),
        controller_keyring=_path(base, k["controller_keyring"], "keys.controller_keyring"),
        approver_keyring=_opt_path(base, k, "approver_keyring", "keys."),
        approvals_required=approvals,
        clock_slack_s=float(k.get("clock_slack_s", 30.0)),
        targets=_opt_path(base, c, "targets", "cameras."),
        vault=_opt_path(base, c, "vault", "cameras."),
        vault_key_file=_opt_path(base, c, "vault_key_file", "cameras."),
        concurrency=int(c.get("concurrency", 64)),
        timeout_s=float(c.get("timeout_s", 10.0)),
        inventory_interval_s=_positive(c, "inventory_interval_s", 900.0),
        check_interval_s=_positive(c, "check_interval_s", 60.0),
        discovery_ranges=[str(r) for r in c.get("discovery_ranges", [])],
        allow=[str(r) for r in c.get("allow", [])],
        network_allow=_networks(c.get("network_allow", []), "cameras.network_allow"),
        source_address=_address(c.get("source_address"), "cameras.source_address"),
        metrics_port=int(a["metrics_port"]) if "metrics_port" in a else None,
        log_json=bool(a.get("log_json", False)),
        census=_census(raw, [str(r) for r in c.get("discovery_ranges", [])]),
    )
