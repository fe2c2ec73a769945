"""Two controller replicas on one database behind a plain load balancer (no sticky sessions): a dashboard login
on one is a login on the other, a logout on either ends it everywhere, and a browser's device cookie (it logged
in before) counts on every replica and after a restart. Both backends."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer

from controller.app import build_app
from controller.auth import hash_password
from controller.config import ControllerConfig
from controller.store.base import UserRow
from protos.keys import SigningKey
from tests.controller.conftest import Backend, PostgresBackend, SqliteBackend

PW = "a long enough password"


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def store_url(backend: Backend) -> str:
    if isinstance(backend, SqliteBackend):
        return f"sqlite:///{backend.path}"
    assert isinstance(backend, PostgresBackend)
    return backend.url


async def replica(backend: Backend, tmp_path: Path, key: SigningKey, name: str) -> TestServer:
    cfg = ControllerConfig(state_dir=tmp_path / name, store_url=store_url(backend), secure_cookies=False,
                           client_id=name)  # fmt: skip
    server = TestServer(build_app(cfg, key, mqtt=False), host="127.0.0.1")
    await server.start_server()
    return server


async def test_a_login_on_one_replica_works_on_the_other(backend: Backend, tmp_path: Path) -> None:
    key = SigningKey.generate()
    servers = [await replica(backend, tmp_path, key, f"replica-{i}") for i in range(2)]
    store = await backend.new_store()
    await store.put_user(UserRow("olga", hash_password(PW), "operator"))
    a, b = (str(s.make_url("")).rstrip("/") for s in servers)
    try:
        # One browser; the load balancer sends each request wherever it likes. Cookies are per host, and both
        # replicas are 127.0.0.1, so the browser sends the same cookie to both, as behind one address.
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
            async with s.get(a + "/login") as r:
                token = _csrf(await r.text())
            async with s.post(b + "/login", data={"csrf": token, "username": "olga", "password": PW, "next": "/"},
                              allow_redirects=False) as r:  # fmt: skip
                assert r.status == 302, await r.text()  # the form came from A, the login went to B
            async with s.get(a + "/cameras", allow_redirects=False) as r:
                assert r.status == 200 and "olga" in await r.text()
                page_csrf = _csrf(await r.text())
            async with s.get(b + "/", allow_redirects=False) as r:
                assert r.status == 200
            # Logged out on A: B no longer knows the session either.
            async with s.post(a + "/logout", data={"csrf": page_csrf}, allow_redirects=False) as r:
                assert r.status == 302
            async with s.get(b + "/", allow_redirects=False) as r:
                assert r.status == 302 and r.headers["Location"].startswith("/login")
        # The id is stored only hashed: the database alone opens no session.
        async with store.read() as rd:
            rows = (await rd.conn.exec_driver_sql("SELECT sid_hash FROM dashboard_sessions")).all()
        assert all(len(r[0]) == 64 for r in rows)
    finally:
        for server in servers:
            await server.close()


async def try_login(s: ClientSession, url: str, username: str, password: str) -> int:
    async with s.get(url + "/login") as r:
        token = _csrf(await r.text())
    async with s.post(url + "/login", data={"csrf": token, "username": username, "password": password},
                      allow_redirects=False) as r:  # fmt: skip
        return r.status


async def guessed_at(url: str) -> None:
    """Someone at the same address guesses olga's password until this replica makes the address wait."""
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
        statuses = [await try_login(s, url, "olga", "guess") for _ in range(6)]
    assert statuses == [401] * 5 + [429], statuses


async def test_a_device_cookie_counts_on_every_replica_and_after_a_restart(
    backend: Backend, tmp_path: Path
) -> None:
    key = SigningKey.generate()
    a, b = [await replica(backend, tmp_path, key, f"replica-{i}") for i in range(2)]
    store = await backend.new_store()
    await store.put_user(UserRow("olga", hash_password(PW), "operator"))
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
        try:
            url_a, url_b = (str(s.make_url("")).rstrip("/") for s in (a, b))
            assert (
                await try_login(browser, url_a, "olga", PW) == 302
            )  # olga's browser now has a device cookie
            assert any(c.key == "camfleet_device" for c in browser.cookie_jar)
            await guessed_at(url_b)
            # The address waits on B, but olga's own browser, known from A, gets in there.
            assert await try_login(browser, url_b, "olga", PW) == 302
        finally:
            await a.close()
            await b.close()
        # Every controller restarted: the cookie it set before still counts.
        c = await replica(backend, tmp_path, key, "replica-2")
        try:
            url_c = str(c.make_url("")).rstrip("/")
            await guessed_at(url_c)
            async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as stranger:
                assert await try_login(stranger, url_c, "olga", PW) == 429  # the address itself waits
            assert await try_login(browser, url_c, "olga", PW) == 302
        finally:
            await c.close()
    async with store.read() as rd:
        rows = (await rd.conn.exec_driver_sql("SELECT name, value FROM controller_secrets")).all()
    assert [(r[0], len(r[1])) for r in rows] == [("dashboard_device_cookie", 32)]
