"""Writes deploy/examples/controller.toml and agent.toml: every key the loaders read, with an example value and
what it does; `--check` fails when the files are stale. tests/test_config_examples.py loads both files with
the real loaders (controller.config, agent.config) and checks every key lands in its field.

The loaders are strict models (pydantic: controller/config.py, agent/config.py): an unknown key or a wrong type
stops the program. The key tables below add an example and a sentence per key; the test keeps them honest.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "deploy" / "examples"


@dataclass(frozen=True)
class Key:
    section: str
    key: str
    field: str  # the attribute of the loaded config object ("broker.port" for a nested one)
    example: object
    doc: str
    path: bool = False  # a path: relative ones are taken from the file's directory


CONTROLLER = [
    Key("controller", "state_dir", "state_dir", "state", "SQLite store, signing key and other state", path=True),
    Key("controller", "log_json", "log_json", False, "JSON-lines logs (journald, ELK) instead of plain text"),
    Key("http", "host", "http_host", "127.0.0.1", "REST API and dashboard listen address"),
    Key("http", "port", "http_port", 8080, "REST API and dashboard port"),
    Key("http", "secure_cookies", "secure_cookies", True, "Secure flag on session cookies (false only without TLS)"),
    Key("http", "header_timeout_s", "http_limits.header_timeout_s", 15.0,
        "a connection must send a whole request (line and headers) this soon, or it is closed (slowloris)"),
    Key("http", "body_timeout_s", "http_limits.body_timeout_s", 30.0, "a request body must arrive within this"),
    Key("http", "sse_per_session", "http_limits.sse_per_session", 4, "live dashboard streams per session"),
    Key("http", "sse_total", "http_limits.sse_total", 200, "live dashboard streams in all"),
    Key("http", "trusted_proxies", "http_limits.trusted_proxies", ["10.0.0.10/32"],
        "reverse proxies whose X-Forwarded-For names the client (login throttling is per client address)"),
    Key("broker", "host", "broker_host", "broker.example.org",
        "MQTT broker; leave the whole [broker] table out for the embedded loopback broker"),
    Key("broker", "port", "broker_port", 8883, "MQTT over TLS"),
    Key("broker", "ca", "broker_ca", "pki/ca.crt", "CA of the broker certificate", path=True),
    Key("broker", "cert", "broker_cert", "pki/controller.crt", "controller client certificate (mTLS)", path=True),
    Key("broker", "key", "broker_key", "pki/controller.key", "its private key", path=True),
    Key("broker", "protocol", "broker_protocol", 5, "5 (MQTT 5, shared subscriptions) or 4 (MQTT 3.1.1)"),
    Key("broker", "client_id", "client_id", "camfleet-controller-1", "MQTT client id: one per replica"),
    Key("broker", "share_group", "share_group", "camfleet",
        "MQTT 5 shared-subscription group: replicas split the ingest between them"),
    Key("broker", "embedded_port", "embedded_port", 1883, "port of the embedded broker (no [broker] host)"),
    Key("store", "url", "store_url", "postgresql://camfleet@db.example.org/camfleet",
        "PostgreSQL for fleets and replicas; leave out for SQLite in state_dir"),
    Key("keys", "signing_key", "signing_key", "state/controller-signing.pem",
        "the controller's Ed25519 signing key (encrypted at rest)", path=True),
    Key("keys", "approver_keyring", "approver_keyring", "approvers.json", "pinned approver public keys", path=True),
    Key("keys", "approvals_required", "approvals_required", 2, "distinct approvers per destructive batch (>= 2)"),
    Key("keys", "passphrase_env", "passphrase_env", "CAMFLEET_KEY_PASSPHRASE",
        "environment variable holding the signing key passphrase"),
    Key("keys", "passphrase_file", "passphrase_file", "passphrase",
        "or a file holding it (mode 0600)", path=True),
]  # fmt: skip

AGENT = [
    Key("agent", "id", "agent_id", "site-north", "the agent id (= its certificate CN and MQTT username; required)"),
    Key("agent", "site", "site", "north", "site name shown by the controller"),
    Key("agent", "state_dir", "state_dir", "state", "outbox, seen commands, journal, snapshots", path=True),
    Key("agent", "metrics_port", "metrics_port", 9464, "Prometheus metrics on 127.0.0.1 (leave out: off)"),
    Key("agent", "log_json", "log_json", False, "JSON-lines logs instead of plain text"),
    Key("broker", "host", "broker.host", "broker.example.org", "MQTT broker"),
    Key("broker", "port", "broker.port", 8883, "MQTT over TLS"),
    Key("broker", "ca", "broker.ca", "pki/ca.crt", "CA of the broker certificate", path=True),
    Key("broker", "cert", "broker.cert", "pki/site-north.crt", "this agent's client certificate", path=True),
    Key("broker", "key", "broker.key", "pki/site-north.key", "its private key", path=True),
    Key("broker", "protocol", "broker.protocol", 5, "5 (MQTT 5) or 4 (MQTT 3.1.1)"),
    Key("broker", "keepalive", "broker.keepalive", 30, "MQTT keepalive, seconds"),
    Key("keys", "controller_keyring", "controller_keyring", "controller-keyring.json",
        "pinned controller signing keys (required)", path=True),
    Key("keys", "approver_keyring", "approver_keyring", "approvers.json", "pinned approver public keys", path=True),
    Key("keys", "approvals_required", "approvals_required", 2, "approver signatures a destructive command needs"),
    Key("keys", "clock_slack_s", "clock_slack_s", 30.0, "tolerated clock difference for command validity"),
    Key("cameras", "targets", "targets", "targets.csv", "host,port,username,password per camera", path=True),
    Key("cameras", "vault", "vault", "site.vault", "or an encrypted credential vault", path=True),
    Key("cameras", "vault_key_file", "vault_key_file", "vault.key", "the vault's passphrase file", path=True),
    Key("cameras", "concurrency", "concurrency", 64, "cameras talked to at once"),
    Key("cameras", "timeout_s", "timeout_s", 10.0, "per request to a camera"),
    Key("cameras", "inventory_interval_s", "inventory_interval_s", 900.0, "seconds between full reads of every camera"),
    Key("cameras", "check_interval_s", "check_interval_s", 60.0,
        "seconds between cheap checks (one pre-auth request per camera; changed cameras read in full)"),
    Key("cameras", "discovery_ranges", "discovery_ranges", ["10.1.2.0/24"], "address ranges swept (only these)"),
    Key("cameras", "allow", "allow", ["10.1.2.0/24"], "the agent refuses to touch anything outside these"),
    Key("cameras", "network_allow", "network_allow", ["10.1.2.3/32"],
        "restrict_network keeps these allowed when a command names none (the recorders, the VMS)"),
    Key("cameras", "source_address", "source_address", "10.1.2.5",
        "the local address cameras are reached from (a host with legs in several networks)"),
    Key("census", "enabled", "census.enabled", True,
        "run the credential-free census (on by default when the table is present)"),
    Key("census", "interfaces", "census.interfaces", ["10.1.2.5"],
        "addresses of this host's interfaces to search from (SADP, DHIP, SSDP, WS-Discovery multicast, TTL 1)"),
    Key("census", "ranges", "census.ranges", ["10.1.2.0/24"],
        "ranges probed passively (HTTP, ONVIF pre-auth, RTSP, TLS); inside discovery_ranges; default: those"),
    Key("census", "scope", "census.scope", "ranges",
        "link: every device answering on the segment; ranges: only those inside the ranges"),
    Key("census", "http_ports", "census.http_ports", [80, 8000], "HTTP ports fingerprinted"),
    Key("census", "rtsp_ports", "census.rtsp_ports", [554], "RTSP ports fingerprinted (OPTIONS, DESCRIBE)"),
    Key("census", "tls_ports", "census.tls_ports", [443], "TLS ports whose certificate subject is read"),
    Key("census", "interval_s", "census.interval_s", 3600.0, "seconds between census runs"),
    Key("census", "window_s", "census.window_s", 2.0, "seconds multicast replies are collected"),
    Key("census", "rate_per_s", "census.rate_per_s", 200.0, "messages per second, all sources together"),
    Key("census", "max_messages", "census.max_messages", 20000, "messages per run at most"),
]  # fmt: skip


def _toml(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return repr(v)


def render(title: str, keys: list[Key]) -> str:
    out = [
        f"# {title}",
        "# Generated by `python -m devstack.config_examples`; every key is optional unless noted.",
        "",
    ]
    section = ""
    for k in keys:
        if k.section != section:
            if section:
                out.append("")
            out.append(f"[{k.section}]")
            section = k.section
        out.append(f"# {k.doc}")
        out.append(f"{k.key} = {_toml(k.example)}")
    return "\n".join(out) + "\n"


FILES = {
    "controller.toml": (
        "camfleet-controller configuration (camfleet-controller serve --config FILE)",
        CONTROLLER,
    ),
    "agent.toml": ("camfleet-agent configuration (camfleet-agent run --config FILE)", AGENT),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--check", action="store_true", help="exit 1 if a file differs from what would be written"
    )
    args = ap.parse_args(argv)
    stale = []
    for name, (title, keys) in FILES.items():
        text, path = render(title, keys), OUT / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)}; run python -m devstack.config_examples", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
