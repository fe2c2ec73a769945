"""Leader lease and cluster mutex for controller replicas sharing one PostgreSQL database (advisory locks)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

# Advisory lock keys (64-bit, derived from a name so they never collide with the store's own keys, which are
# small ASCII constants in controller/store/postgres.py).
LEADER = "camfleet/leader"
ENGINE_MUTEX = "camfleet/campaign-engine"
CONNECT_TIMEOUT = 10.0
# A lease connection's application_name is this prefix and the replica's MQTT client id (keep ids <= 40
# characters: PostgreSQL cuts names at 63 bytes).
APP_PREFIX = "camfleet-lease "
ORPHAN_CHECKS = 3
# The lease connection is the liveness signal: a SIGKILLed holder's socket is closed by the kernel and the
# server drops its session (and lock) at once; a silent network loss is detected by TCP keepalives instead.
KEEPALIVES = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"}


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock(bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def _connect(dsn: str, app_name: str) -> asyncpg.Connection:
    try:
        conn: asyncpg.Connection = await asyncpg.connect(
            dsn, timeout=CONNECT_TIMEOUT, command_timeout=CONNECT_TIMEOUT,
            server_settings={"application_name": app_name, **KEEPALIVES},
        )  # fmt: skip
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        # The dsn may carry a password: name the failure only.
        raise ConnectionError(f"lease: cannot connect to PostgreSQL: {exc}") from exc
    return conn


class LocalLease:
    """One controller (SQLite, or PostgreSQL without replicas): the lease is always held, the mutex is local."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[bool], None]] = []

    def take_orphans(self) -> list[str]:
        return []

    @property
    def held(self) -> bool:
        return True

    def mutex(self) -> AbstractAsyncContextManager[Any]:
        return asyncio.Lock()

    async def run(self) -> None:
        for fn in self.listeners:
            fn(True)
        await asyncio.Event().wait()


class PgMutex:
    """A cluster-wide mutex: a session advisory lock taken and released on this replica's own connection.

    Tasks of one replica queue on a local lock first, so the connection serves one holder at a time. If the
    connection breaks (or the wait is cancelled) it is closed, which releases anything the server granted."""

    def __init__(self, dsn: str, name: str = ENGINE_MUTEX, timeout_s: float = 120.0) -> None:
        self.dsn = dsn
        self.key = lock_key(name)
        self.timeout_s = timeout_s
        self._local = asyncio.Lock()
        self._conn: asyncpg.Connection | None = None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()  # no round trip: the server ends the session and frees its advisory locks

    async def __aenter__(self) -> None:
        await self._local.acquire()
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await _connect(self.dsn, "camfleet-mutex")
            await self._conn.execute("SELECT pg_advisory_lock($1)", self.key, timeout=self.timeout_s)
        except BaseException as exc:
            # Also on cancellation: the lock may have been granted just as we stopped waiting for it.
            self._drop()
            self._local.release()
            if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError | TimeoutError):
                raise ConnectionError(f"cluster mutex: {exc}") from exc
            raise

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._conn is not None:
                await self._conn.execute("SELECT pg_advisory_unlock($1)", self.key, timeout=10)
        except BaseException as exc:
            # Closing the session releases the lock all the same. Also on cancellation: the unlock may still
            # be running on the connection, which the next holder must not share.
            self._drop()
            if not isinstance(exc, Exception):
                raise
        finally:
            self._local.release()

    def close(self) -> None:
        self._drop()


class PgLease:
    """Leader lease: a session advisory lock held on a dedicated connection for as long as it lives.

    `run()` keeps trying `pg_try_advisory_lock`; the holder checks its connection every `interval_s` and
    gives the lease up (listeners called with False) the moment the check fails. Listeners are called with
    True on acquisition, so the new holder can recover what the previous one left half done."""

    def __init__(self, dsn: str, name: str = LEADER, *, interval_s: float = 1.0, holder: str = "") -> None:
        self.dsn = dsn
        self.key = lock_key(name)
        self.interval_s = interval_s
        self.holder = holder
        self.listeners: list[Callable[[bool], None]] = []
        self._held = False
        self._conn: asyncpg.Connection | None = None
        # Peers: client ids of replicas seen alive (their lease connections name them). One that vanished is
        # an orphan: the holder adopts its MQTT session (Hub.adopt_session), where the broker parks the
        # shared-subscription messages it routed to the dead member.
        self.peers: set[str] = set()
        self._absent: dict[str, int] = {}
        self._orphans: list[str] = []
        self._reconnect = False

    @property
    def held(self) -> bool:
        return self._held

    def mutex(self) -> AbstractAsyncContextManager[Any]:
        return PgMutex(self.dsn)

    def _set(self, held: bool) -> None:
        if held == self._held:
            return
        self._held = held
        log.warning(
            "leader lease %s%s", "acquired" if held else "lost", f" by {self.holder}" if self.holder else ""
        )
        for fn in list(self.listeners):
            try:
                fn(held)
            except Exception:  # a listener must not take the lease loop down
                log.exception("lease listener failed")

    async def _once(self) -> None:
        """One connection's life: try for the lock until granted, then hold it while the connection answers."""
        # The holder in application_name lets an operator (and the tests) see who leads in pg_stat_activity.
        self._conn = await _connect(self.dsn, f"{APP_PREFIX}{self.holder}")
        twins = await self._conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
            f"{APP_PREFIX}{self.holder}", timeout=10,
        )  # fmt: skip
        if twins and not self._reconnect:  # a reconnect may overlap our own old session
            # Two replicas with one MQTT client id take each other's broker session over in turn.
            log.error(
                "another controller replica uses client id %r: give each its own broker.client_id",
                self.holder,
            )
        self._reconnect = True
        while True:
            if not self._held and await self._conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", self.key, timeout=10
            ):
                self._set(True)
            # Doubles as the holder's liveness check of its own connection.
            alive = {
                str(r[0]).removeprefix(APP_PREFIX)
                for r in await self._conn.fetch(
                    "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE $1",
                    APP_PREFIX + "%", timeout=self.interval_s * 3,
                )
            }  # fmt: skip
            self._watch(alive)
            await asyncio.sleep(self.interval_s)

    def _watch(self, alive: set[str]) -> None:
        """Track peers; one missing for ORPHAN_CHECKS checks in a row (not a blip) is handed to the holder."""
        self.peers |= alive - {self.holder}
        for peer in sorted(self.peers):
            self._absent[peer] = 0 if peer in alive else self._absent.get(peer, 0) + 1
            if self._held and self._absent[peer] >= ORPHAN_CHECKS:
                self.peers.discard(peer)
                del self._absent[peer]
                self._orphans.append(peer)

    def take_orphans(self) -> list[str]:
        """Client ids of replicas that died while another watched; each is returned once."""
        out, self._orphans = self._orphans, []
        return out

    async def run(self) -> None:
        while True:
            try:
                await self._once()
            except (
                ConnectionError,
                OSError,
                TimeoutError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
            ) as exc:
                log.warning("leader lease connection failed: %s", exc)
            finally:
                # Give up first: another replica may take the lease as soon as the server ends our session.
                self._set(False)
                conn, self._conn = self._conn, None
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(self.interval_s)


Lease = LocalLease | PgLease


def open_lease(store_url: str, holder: str) -> Lease:
    """A PostgreSQL store can have replicas, so it gets a real lease; SQLite has one controller."""
    if store_url.startswith(("postgres://", "postgresql://")):
        return PgLease(store_url, holder=holder)
    return LocalLease()


@contextlib.asynccontextmanager
async def running(lease: Lease) -> AsyncIterator[Lease]:
    """Run the lease loop in the background; on exit give it up (closing the connection frees the lock)."""
    task = asyncio.create_task(lease.run())
    try:
        yield lease
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
