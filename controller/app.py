"""The controller's aiohttp application: store, embedded broker and MQTT hub as paired startup/shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator

from aiohttp import web

from controller import __version__
from controller.api import COMMANDS, STORE, add_routes, api_errors, refuse_nul_input, token_auth
from controller.campaign_api import add_campaign_routes
from controller.campaigns.engine import CampaignEngine
from controller.census_api import add_routes as add_census_routes
from controller.commands import CommandService
from controller.config import ControllerConfig
from controller.embedded_broker import EmbeddedBroker
from controller.files import private_dir
from controller.health import READINESS, SUPERVISOR, Readiness, add_health_routes
from controller.hub import Hub, HubSettings
from controller.lease import open_lease
from controller.publisher import Publisher
from controller.store import Store
from controller.supervise import Supervisor
from controller.web import mount as mount_dashboard
from protos.keys import Keyring, SigningKey

HUB = web.AppKey("hub", Hub)
CONFIG = web.AppKey("config", ControllerConfig)


def open_store(cfg: ControllerConfig) -> Store:
    """store.url (postgresql://... or sqlite:///path) or, by default, SQLite in the state directory."""
    if cfg.store_url:
        return Store(cfg.store_url)
    private_dir(cfg.state_dir)
    return Store(cfg.sqlite_path)


def hub_settings(cfg: ControllerConfig) -> HubSettings:
    if cfg.embedded_broker:
        # amqtt speaks MQTT 3.1.1 only, and the embedded broker is loopback-only without TLS.
        return HubSettings(
            host="127.0.0.1", port=cfg.embedded_port, tls=None, protocol=4, client_id=cfg.client_id
        )
    tls = None
    if cfg.broker_ca is not None:
        tls = ssl.create_default_context(cafile=str(cfg.broker_ca))
        if cfg.broker_cert is not None and cfg.broker_key is not None:
            tls.load_cert_chain(str(cfg.broker_cert), str(cfg.broker_key))
    return HubSettings(host=cfg.broker_host, port=cfg.broker_port, tls=tls, protocol=cfg.broker_protocol,
                       share_group=cfg.share_group, client_id=cfg.client_id)  # fmt: skip


def approver_keyring(cfg: ControllerConfig) -> Keyring | None:
    """The approver keys the controller pins (keys.approver_keyring); None when none is configured."""
    if cfg.approver_keyring is None:
        return None
    try:
        return Keyring.from_json(cfg.approver_keyring.read_text())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"keys.approver_keyring {cfg.approver_keyring}: {exc}") from exc


def build_app(
    cfg: ControllerConfig, key: SigningKey, *, store: Store | None = None, mqtt: bool = True
) -> web.Application:
    app = web.Application(
        middlewares=[api_errors, token_auth, refuse_nul_input], client_max_size=4 * 1024 * 1024
    )
    st = store or open_store(cfg)
    app[STORE] = st
    app[CONFIG] = cfg
    # Replicas on one PostgreSQL database: the leader lease decides who runs the singletons (campaign ticks,
    # dispatch of QUEUED commands, expiry); SQLite means one controller, whose lease is always held.
    lease = open_lease(cfg.store_url, cfg.client_id)
    engine_lock = lease.mutex()
    hub = Hub(st, hub_settings(cfg), [key.key_id], leader=lambda: lease.held, orphans=lease.take_orphans)
    sup = Supervisor()
    app[SUPERVISOR] = sup
    hub.spawn = sup.spawn
    app[HUB] = hub
    publisher = Publisher(st, key, hub.publish_command)
    app[COMMANDS] = CommandService(st, publisher)
    engine = CampaignEngine(st, publisher, approvals_required=cfg.approvals_required, lock=engine_lock,
                            leader=hub.leader, approver_keyring=approver_keyring(cfg))  # fmt: skip
    lease.listeners.append(lambda held: engine.wake() if held else None)

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        await st.open()
        await st.append_audit("controller", "controller.start", key.key_id, {"version": __version__})
        yield
        await st.close()

    async def broker_ctx(app: web.Application) -> AsyncIterator[None]:
        broker = EmbeddedBroker(port=cfg.embedded_port) if cfg.embedded_broker else None
        if broker is not None:
            await broker.start()
        yield
        if broker is not None:
            await broker.stop()

    async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
        task = sup.spawn("hub", hub.run())
        yield
        sup.stopping = True
        await hub.announce_offline()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def lease_ctx(app: web.Application) -> AsyncIterator[None]:
        task = sup.spawn("lease", lease.run())
        yield
        sup.stopping = True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        close = getattr(engine_lock, "close", None)
        if close is not None:
            close()

    app.cleanup_ctx.extend([store_ctx, lease_ctx])
    if mqtt:
        app.cleanup_ctx.extend([broker_ctx, hub_ctx])
    add_routes(app)
    add_census_routes(app)
    add_campaign_routes(app, engine, hub=hub)
    app[READINESS] = Readiness(hub if mqtt else None, lease)
    add_health_routes(app)
    mount_dashboard(app, secure_cookies=cfg.secure_cookies, hub=hub, limits=cfg.http_limits)
    return app
