"""Command line of the camfleet controller: serve, PKI, broker configuration, keys, users and audit."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from controller import __version__
from controller.auth import hash_password, new_token, parse_role, token_hash
from controller.broker_config import BrokerSettings, write_broker_config
from controller.config import ConfigError, ControllerConfig, load_config
from controller.keystore import SigningKeyError, load_or_create, write_keyring
from controller.logs import setup_logging
from controller.pki import Pki, PkiError
from controller.store import Store, migrate
from controller.store.base import UserRow
from controller.store.migrate import SchemaError

log = logging.getLogger("camfleet.controller")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="camfleet-controller", description=__doc__)
    p.add_argument("--version", action="version", version=f"camfleet-controller {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="run the controller (MQTT hub, REST API, dashboard)")
    s.add_argument("--config", type=Path, required=True)

    pk = sub.add_parser("pki", help="certificate authority for the broker, the controller and the agents")
    pk.add_argument("--dir", type=Path, required=True, help="PKI directory")
    pks = pk.add_subparsers(dest="pki_cmd", required=True)
    init = pks.add_parser("init", help="create the CA, broker and controller certificates and an empty CRL")
    init.add_argument(
        "--broker-host", action="append", default=[], help="name or address on the broker certificate"
    )
    ia = pks.add_parser("issue-agent", help="issue (or rotate) an agent's client certificate; CN = agent id")
    ia.add_argument("name")
    rv = pks.add_parser("revoke", help="revoke every certificate of an agent and rewrite the CRL")
    rv.add_argument("name")
    pks.add_parser(
        "crl", help="re-sign the CRL (it is valid for 30 days; Mosquitto refuses everyone once it expires)"
    )

    bc = sub.add_parser("broker-config", help="write mosquitto.conf and its ACL for the fleet")
    bc.add_argument("--pki", type=Path, required=True)
    bc.add_argument("--out", type=Path, required=True)
    bc.add_argument("--host", default="127.0.0.1")
    bc.add_argument("--port", type=int, default=8883)
    bc.add_argument("--persistence", type=Path)
    bc.add_argument("--max-queued", type=int, default=100_000)

    kr = sub.add_parser("keyring", help="write the controller's public keyring that agents pin")
    kr.add_argument("--config", type=Path, required=True)
    kr.add_argument("--out", type=Path, required=True)

    us = sub.add_parser("user", help="add or change a person (viewer, operator, approver, admin)")
    us.add_argument("--config", type=Path, required=True)
    us.add_argument("username")
    us.add_argument("--role", required=True)
    us.add_argument(
        "--password-file",
        type=Path,
        help="read the password from this file (else prompt, or CAMFLEET_PASSWORD)",
    )
    us.add_argument(
        "--approver-key", type=Path, help="the person's Ed25519 approver public keyring entry (JSON)"
    )

    tk = sub.add_parser("token", help="create an API token for a person (printed once)")
    tk.add_argument("--config", type=Path, required=True)
    tk.add_argument("username")
    tk.add_argument("--name", default="cli")

    au = sub.add_parser("audit", help="audit log")
    aus = au.add_subparsers(dest="audit_cmd", required=True)
    av = aus.add_parser("verify", help="verify the hash chain; exit 1 on any edited or deleted entry")
    av.add_argument("--config", type=Path, required=True)

    db = sub.add_parser("db", help="the store's schema (the controller also upgrades it itself at start)")
    dbs = db.add_subparsers(dest="db_cmd", required=True)
    up = dbs.add_parser("upgrade", help="upgrade the schema (default: to the newest this version knows)")
    up.add_argument("--to", default="head", metavar="REVISION")
    down = dbs.add_parser("downgrade", help="back to an older revision (never past the baseline)")
    down.add_argument("revision")
    dbs.add_parser("current", help="print the schema revision of the database and the newest known")
    for d in (up, down, dbs.choices["current"]):
        d.add_argument("--config", type=Path, required=True)
    return p


async def _with_store(
    cfg: ControllerConfig, fn: Callable[[Store], Awaitable[int]], *, upgrade: bool = True
) -> int:
    from controller.app import open_store

    store = open_store(cfg)
    await store.open(upgrade=upgrade)
    try:
        return await fn(store)
    finally:
        await store.close()


async def _db(args: argparse.Namespace, store: Store) -> int:
    if args.db_cmd == "upgrade":
        await store.upgrade(args.to)
    elif args.db_cmd == "downgrade":
        await store.downgrade(args.revision)
    print(f"schema revision {await store.revision() or 'none'} (newest known: {migrate.head()})")
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_file:
        return str(args.password_file.read_text().strip())
    if os.environ.get("CAMFLEET_PASSWORD"):
        return os.environ["CAMFLEET_PASSWORD"]
    return getpass.getpass(f"password for {args.username}: ")


async def _serve(cfg: ControllerConfig) -> int:
    from aiohttp import web

    from controller.app import build_app
    from controller.health import SUPERVISOR
    from controller.web.limits import server_limits

    key = load_or_create(cfg)
    app = build_app(cfg, key)
    # Slowloris: a client that trickles its request line or headers is cut off (aiohttp's own read timeouts).
    runner = web.AppRunner(app, access_log=None, **server_limits(cfg.http_limits))
    await runner.setup()
    site = web.TCPSite(runner, cfg.http_host, cfg.http_port)
    await site.start()
    print(f"camfleet controller listening on http://{cfg.http_host}:{cfg.http_port}/ (signing key {key.key_id})",
          flush=True)  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sup = app[SUPERVISOR]
    sup.on_failure = stop.set
    await stop.wait()
    await runner.cleanup()
    if sup.failed:
        # Non-zero, so systemd (Restart=on-failure) starts a fresh controller.
        print(f"camfleet-controller: stopped because a background task died: {sup.failed}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.cmd == "pki":
            pki = Pki(args.dir)
            if args.pki_cmd == "init":
                pki.init(broker_hosts=tuple(args.broker_host) or ("localhost", "127.0.0.1"))
                print(f"CA, broker and controller certificates written to {args.dir}")
            elif args.pki_cmd == "issue-agent":
                issued = pki.issue_agent(args.name)
                print(f"issued {issued.cert} (serial {issued.serial:x})")
            elif args.pki_cmd == "crl":
                pki.write_crl()
                print(f"re-signed {pki.crl}; reload the broker (SIGHUP)")
            else:
                n = pki.revoke(args.name)
                print(
                    f"revoked {n} certificate(s) of {args.name}; reload the broker (SIGHUP) to apply the CRL"
                )
            return 0
        if args.cmd == "broker-config":
            conf = write_broker_config(
                Pki(args.pki), args.out,
                BrokerSettings(host=args.host, port=args.port, persistence_dir=args.persistence,
                               max_queued_messages=args.max_queued),
            )  # fmt: skip
            print(f"wrote {conf} and {conf.parent / 'acl'}")
            return 0
        cfg = load_config(args.config)
        setup_logging(json_logs=cfg.log_json)
        if args.cmd == "serve":
            return asyncio.run(_serve(cfg))
        if args.cmd == "keyring":
            write_keyring(load_or_create(cfg), args.out)
            print(f"wrote {args.out}")
            return 0
        if args.cmd == "user":
            role = parse_role(args.role)
            approver = args.approver_key.read_text().strip() if args.approver_key else ""
            row = UserRow(args.username, hash_password(_password(args)), role.value, approver)

            async def put(store: Store) -> int:
                async with store.tx() as tx:
                    await tx.people.put_user(row)
                    await tx.audit.append("cli", "user.put", row.username, {"role": row.role})
                return 0

            rc = asyncio.run(_with_store(cfg, put))
            print(f"user {args.username} is {role.value}")
            return rc
        if args.cmd == "token":
            token = new_token()

            async def add(store: Store) -> int:
                if await store.get_user(args.username) is None:
                    print(f"no user {args.username}; add it with `camfleet-controller user`", file=sys.stderr)
                    return 2
                async with store.tx() as tx:
                    await tx.people.add_token(token_hash(token), args.username, args.name)
                    await tx.audit.append("cli", "token.create", args.username, {"name": args.name})
                return 0

            rc = asyncio.run(_with_store(cfg, add))
            if rc == 0:
                print(token)
            return rc
        if args.cmd == "audit":

            async def verify(store: Store) -> int:
                rep = await store.verify_audit()
                print(json.dumps({"ok": rep.ok, "entries": rep.entries, "problems": rep.problems}, indent=2))
                return 0 if rep.ok else 1

            return asyncio.run(_with_store(cfg, verify))
        if args.cmd == "db":
            return asyncio.run(_with_store(cfg, partial(_db, args), upgrade=False))
    except (ConfigError, PkiError, SigningKeyError, SchemaError, ValueError, OSError) as exc:
        print(f"camfleet-controller: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
