"""Supervised ingest and strict configuration: a message the store fails on is quarantined and ingest goes on; a
dead background task stops `serve` with a non-zero exit; a typo in a configuration file stops the program."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from controller.hub import Hub, HubSettings
from controller.store import Store
from controller.store.base import CameraFilter
from devstack.net import free_port
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb

BIN = Path(sys.executable).parent


def report(agent: str, seq: int, *cams: str) -> tuple[str, bytes]:
    rep = pb.InventoryReport(agent_id=agent, seq=seq)
    for c in cams:
        rep.cameras.add(camera_id=c, host="10.0.0.1", port=80, site=agent).identity.model = "M"
    return topics.agent_topic(agent, "inventory"), rep.SerializeToString()


async def test_a_store_failure_quarantines_one_message_and_ingest_goes_on(tmp_path: Path) -> None:
    store = Store(tmp_path / "fleet.db")
    await store.open()
    try:
        real = store.ingest_inventory

        async def flaky(agent_id: str, *args: Any, **kw: Any) -> int:
            if agent_id == "site-b":  # the database refuses this one write (disk full, a constraint, a bug)
                raise OSError("injected: database is locked")
            return await real(agent_id, *args, **kw)

        store.ingest_inventory = flaky  # type: ignore[method-assign]
        hub = Hub(store, HubSettings(), [])
        await hub.handle_many(
            [report("site-a", 1, "a-1"), report("site-b", 1, "b-1"), report("site-c", 1, "c-1")]
        )
        rows, _ = await store.query_cameras(CameraFilter(), limit=10)
        assert sorted(r.camera_id for r in rows) == ["a-1", "c-1"]  # the messages after it were applied
        q = await store.quarantine_list()
        assert [(m.agent_id, m.kind) for m in q] == [("site-b", "inventory")]
        assert "injected: database is locked" in q[0].reason and q[0].payload == report("site-b", 1, "b-1")[1]
        # Undecodable and unsequenced messages are quarantined too, each with its reason.
        await hub.handle(topics.agent_topic("site-a", "result"), b"\xff\xff")
        await hub.handle(*report("site-a", 0, "a-2"))
        reasons = [m.reason for m in await store.quarantine_list()]
        assert any(r.startswith("undecodable") for r in reasons) and any("sequence" in r for r in reasons)
        assert await store.quarantine_count() == 3
    finally:
        await store.close()


def controller_config(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "passphrase").write_text("supervision-test-passphrase")
    cfg = tmp_path / "controller.toml"
    cfg.write_text(textwrap.dedent(f"""\
        [controller]
        state_dir = "{tmp_path / "state"}"
        [http]
        host = "127.0.0.1"
        port = {free_port()}
        [broker]
        embedded_port = {free_port()}
        [keys]
        passphrase_file = "{tmp_path / "passphrase"}"
        """) + extra)  # fmt: skip
    return cfg


@pytest.mark.integration
def test_a_dead_dispatcher_stops_serve_with_a_non_zero_exit(tmp_path: Path) -> None:
    cfg = controller_config(tmp_path)
    # The real `serve`, with its dispatcher's store query failing (as a lost database connection would).
    code = textwrap.dedent(f"""\
        import sys
        from controller.store.store import Store

        async def boom(self, state, now):
            raise RuntimeError("injected: the dispatcher's query failed")

        Store.commands_in_state = boom
        from controller.cli import main
        sys.exit(main(["serve", "--config", {str(cfg)!r}]))
        """)
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stderr[-3000:]
    assert "dispatcher" in res.stderr and "injected" in res.stderr, res.stderr[-3000:]
    assert time.monotonic() - started < 120


def test_a_config_typo_stops_the_controller_naming_key_and_file(tmp_path: Path) -> None:
    cfg = controller_config(tmp_path, '[store]\nurll = "postgresql://x"\n')
    text = cfg.read_text().replace("[broker]\n", '[broker]\nhots = "10.0.0.1"\n')
    cfg.write_text(text.replace("port = ", 'port = "', 1).replace("\n[broker]", '"\n[broker]', 1))
    res = subprocess.run([str(BIN / "camfleet-controller"), "serve", "--config", str(cfg)], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert res.returncode == 2
    for what in (str(cfg), "broker.hots: unknown key", "store.urll: unknown key", "http.port"):
        assert what in res.stderr, (what, res.stderr)
    assert not (tmp_path / "state").exists()  # refused before anything was created


def test_a_config_typo_stops_the_agent_naming_key_and_file(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text('[agent]\nid = "agent-x"\n[broker]\nhots = "127.0.0.1"\n[cameras]\nconcurrency = "8"\n'
                   '[keys]\ncontroller_keyring = "ring.json"\n')  # fmt: skip
    res = subprocess.run([str(BIN / "camfleet-agent"), "run", "--config", str(cfg)], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert res.returncode == 2, res.stderr
    for what in (str(cfg), "broker.hots: unknown key", "cameras.concurrency"):
        assert what in res.stderr, (what, res.stderr)
