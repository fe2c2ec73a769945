"""Two controller replicas on one database behind a plain load balancer (no sticky sessions): a dashboard login
on one is a login on the other, and a logout on either ends it everywhere. Both backends."""

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


async def test_a_login_on_one_replica_works_on_the_other(backend: Backend, tmp_path: Path) -> None:
    key = SigningKey.generate()
    servers = []
    for i in range(2):
        cfg = ControllerConfig(state_dir=tmp_path / f"r{i}", store_url=store_url(backend), secure_cookies=False,
                               client_id=f"replica-{i}")  # fmt: skip
        server = TestServer(build_app(cfg, key, mqtt=False), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
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
