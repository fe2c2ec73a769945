"""fleetctl campaign/approve as a subprocess against the real controller app and campaign engine over HTTP.

Plans, start/pause/resume/abort/rollback, status tables and --json, --watch, approvals signed with keys from
`fleetctl approve --keygen` by two distinct approvers (and every refusal), exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import stat
import subprocess
import time
from collections.abc import AsyncIterator
from collections.abc import Set as AbstractSet
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from controller.api import STORE
from controller.app import build_app
from controller.auth import new_token, token_hash
from controller.campaign_api import ENGINE
from controller.campaigns.engine import CampaignEngine
from controller.config import ControllerConfig
from controller.fleetctl.campaign import FINAL_BATCH, parse_window
from controller.fleetctl.http import FleetctlError
from controller.store import Store
from controller.store.base import UserRow
from protos.keys import Keyring, SigningKey
from tests.camsim.conftest import find_free_port
from tests.controller.test_fleetctl import FLEETCTL, Fleet, Result, camera, report, stderr_until
from tests.timing import scaled

pytestmark = pytest.mark.integration

# hikvision+north and dahua+south: 10 cameras each among test_fleetctl's 60 (i % 6 == 0 and i % 6 == 1).
HIK_NORTH = ("--where", "origin=hikvision,site=north")
DAHUA_SOUTH = ("--where", "origin=dahua,site=south")
PASS = "correct horse battery staple"


class World(Fleet):
    engine: CampaignEngine
    keys: dict[str, Path]

    async def batch_state(self, cid: str, bid: str, want: AbstractSet[str], within: float = 60.0) -> str:
        deadline = time.monotonic() + scaled(within)
        while True:
            self.engine.wake()
            b = next(b for b in await self.store.campaign_batches(cid) if b.batch_id == bid)
            if b.state in want or time.monotonic() > deadline:
                assert b.state in want, (bid, b.state, b.reason)
                return b.state
            await asyncio.sleep(0.05)

    async def run_commands(self, cid: str, bid: str, n: int, within: float = 60.0) -> list[str]:
        """The command ids of the batch's run steps, once there are n of them."""
        deadline = time.monotonic() + scaled(within)
        while time.monotonic() < deadline:
            self.engine.wake()
            steps = [s for s in await self.store.campaign_steps(cid, bid) if s.kind == "run"]
            if len(steps) >= n:
                return [s.command_id for s in sorted(steps, key=lambda s: (s.attempt, s.created_at))]
            await asyncio.sleep(0.05)
        raise AssertionError(f"the engine sent no command for {cid}/{bid}")


@pytest.fixture(scope="module")
def approver_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Approver key pairs made by `fleetctl approve --keygen`, once per module (a fleetctl start costs about a
    second): ann's encrypted with a passphrase from the environment, ben's and adm's not."""
    d = tmp_path_factory.mktemp("keys")
    env = {**os.environ, "ANN_PASS": PASS}
    procs = {
        n: subprocess.Popen([FLEETCTL, "approve", "--keygen", str(d / f"{n}.pem"), "--json", *extra],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for n, extra in (("ann", ["--passphrase-env", "ANN_PASS"]), ("ben", []), ("adm", []))
    }  # fmt: skip
    try:
        for n, proc in procs.items():
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            doc = json.loads(out)
            assert doc["private_key"] == str(d / f"{n}.pem")
            assert doc["public_keyring"] == str(d / f"{n}.pem.pub.json") and doc["encrypted"] is (n == "ann")
    finally:
        for proc in procs.values():  # none outlives a failure here
            proc.kill()
            proc.wait()
    return {n: d / f"{n}.pem" for n in procs}


async def add_user(store: Store, name: str, role: str, approver_key: str) -> str:
    await store.put_user(UserRow(name, "!", role, approver_key))
    token = new_token()
    await store.add_token(token_hash(token), name, "test")
    return token


@pytest.fixture
async def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, approver_keys: dict[str, Path]
) -> AsyncIterator[World]:
    # The controller pins the approvers' public keys (keys.approver_keyring), as the agents do.
    ring = Keyring.of(*(k for p in approver_keys.values()
                        for k in Keyring.load(p.with_name(p.name + ".pub.json")).values()))  # fmt: skip
    (tmp_path / "approvers.json").write_text(ring.to_json())
    cfg = ControllerConfig(state_dir=tmp_path, approver_keyring=tmp_path / "approvers.json")
    app = build_app(cfg, SigningKey.generate(), mqtt=False)
    app[ENGINE].interval_s = 0.1  # the engine's own loop, just quicker than its production 2 s
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    store = app[STORE]
    cams = [camera(i) for i in range(60)]
    for site in ("north", "south"):
        await store.ingest_cameras(
            f"agent-{site}", [c for c in cams if c.site == site], full=True, removed=[], seq=1
        )
    w = World(str(server.make_url("")).rstrip("/"), store, {}, cams, secrets=[PASS])
    w.engine = app[ENGINE]
    monkeypatch.setenv("ANN_PASS", PASS)
    w.keys = approver_keys
    pubs = {n: k.with_name(k.name + ".pub.json").read_text() for n, k in approver_keys.items()}
    for name, role in (("vic", "viewer"), ("olga", "operator"), ("ann", "approver"), ("ben", "approver"),
                       ("adm", "admin")):  # fmt: skip
        w.tokens[name] = await add_user(store, name, role, pubs.get(name, ""))
    try:
        yield w
    finally:
        await w.reap()
        await server.close()


def rows(out: str) -> dict[str, list[str]]:
    """Batch table rows by batch id."""
    return {ln.split()[0]: ln.split() for ln in out.splitlines() if ln.startswith("b0")}


# ---- create, plan, start, pause, resume, abort, rollback, status ------------------------------------------
async def test_campaign_lifecycle_through_fleetctl(world: World) -> None:
    w = world
    res = await w.run("campaign", "create", *HIK_NORTH, "--name", "north hik", "--stages", "disable_cloud",
                      "--canary", "2", "--growth", "2", "--max-batch", "4", "--failure-threshold", "0.5",
                      "--min-executed", "2", "--preview", "none", "--ttl", "600", role="olga")  # fmt: skip
    assert res.rc == 0, res.err
    assert "10 cameras in 3 batches: 2 + 4 + 4" in res.out and "stages: disable_cloud" in res.out
    cid = res.out.split()[1]
    c = await w.store.campaign_get(cid)
    assert c is not None and c.created_by == "olga" and c.spec["ttl_s"] == 600
    assert c.spec["gate"] == {"success_threshold": 1.0, "failure_threshold": 0.5, "min_executed": 2,
                              "action": "pause"}  # fmt: skip

    res = await w.run("campaign", "plan", cid, role="vic")
    assert res.rc == 0, res.err
    plan = rows(res.out)
    assert [r[1:3] for r in plan.values()] == [["READY", "2"], ["PLANNED", "4"], ["PLANNED", "4"]]
    hik = w.select(lambda x: x.origin == "hikvision" and x.site == "north")
    assert f"{hik[0]}, {hik[1]}" in " ".join(plan["b001"]) and "2 + 4 + 4 = 10 cameras" in res.out
    res = await w.run("campaign", "plan", cid, "--json", role="vic")
    assert [b["camera_ids"] for b in res.json()["batches"]] == [hik[:2], hik[2:6], hik[6:]]

    res = await w.run("campaign", "start", cid, role="olga")
    assert res.rc == 0 and f"campaign {cid} started: now RUNNING" in res.out, res.err
    (cmd1,) = await w.run_commands(cid, "b001", 1)
    await report(w.store, cmd1, "SUCCEEDED")
    await w.batch_state(cid, "b001", {"SUCCEEDED"})

    # --watch follows with a progress bar until the campaign settles: here a gate pauses it.
    watch = await w.spawn("campaign", "status", cid, "--watch", "--interval", "0.1", role="vic")
    (cmd2,) = await w.run_commands(cid, "b002", 1)
    b2 = hik[2:6]
    assert watch.stderr is not None
    seen: list[str] = []
    await stderr_until(watch, "2/10", seen)  # fleetctl is up and watching
    await report(w.store, cmd2, "SUCCEEDED", cameras=b2[:1])
    await stderr_until(watch, "3/10", seen)  # and showed that camera before the next one fails
    await report(w.store, cmd2, "FAILED", cameras=b2[1:2], error=("AuthError", "locked out"))
    res = await w.finish(watch)
    assert res.rc == 1, res.err  # a camera failed
    bars = [ln for ln in ("".join(seen) + res.err).splitlines() if ln.startswith("[")]
    assert len(bars) >= 2 and "2/10" in bars[0] and "RUNNING" in bars[0] and "PAUSED" in bars[-1]
    st = rows(res.out)
    assert st["b001"][1] == "SUCCEEDED" and st["b002"][1:3] == ["PAUSED", "4"]
    assert "1 ok 1 failed / 4" in res.out and "tripped" in st["b002"]
    assert f"campaign {cid}  'north hik'  PAUSED" in res.out

    res = await w.run("campaign", "status", cid, "--json", role="vic")
    doc = res.json()
    assert res.rc == 1 and doc["state"] == "PAUSED" and doc["settled"] and doc["exit_code"] == 1
    assert doc["batches"][1]["stages"][0]["counts"] == {
        "total": 4,
        "succeeded": 1,
        "failed": 1,
        "canceled": 0,
    }

    res = await w.run("campaign", "resume", cid, role="olga")
    assert res.rc == 0 and "resumed: now RUNNING" in res.out, res.err
    retry = (await w.run_commands(cid, "b002", 2))[1]  # retry_failed_only: the failed camera alone
    assert [e.camera_id for e in await w.store.executions(retry)] == b2[1:2]
    res = await w.run("campaign", "pause", cid, "--reason", "shift change", role="olga")
    assert res.rc == 0 and "paused: now PAUSED" in res.out
    assert (await w.store.campaign_get(cid)).reason == "shift change"  # type: ignore[union-attr]
    res = await w.run("campaign", "abort", cid, "--reason", "vendor call", "--json", role="olga")
    assert res.rc == 0 and res.json()["state"] == "ABORTED"
    assert {b.batch_id: b.state for b in await w.store.campaign_batches(cid)} == {
        "b001": "SUCCEEDED", "b002": "ABORTED", "b003": "ABORTED"}  # fmt: skip
    res = await w.run("campaign", "status", cid, role="vic")
    assert res.rc == 1 and "ABORTED (vendor call)" in res.out

    res = await w.run("campaign", "rollback", cid, "b001", role="olga")
    assert res.rc == 0 and "batch b001: rollback requested" in res.out, res.err
    assert await w.batch_state(cid, "b001", {"ROLLING_BACK", "ROLLED_BACK"})
    res = await w.run("campaign", "list", role="vic")
    assert res.rc == 0 and cid in res.out and "north hik" in res.out and "ABORTED" in res.out
    actions = {e.action for e in await w.store.audit_entries(limit=1000)}
    assert {"campaign.create", "campaign.batch.approve"} - actions == {"campaign.batch.approve"}
    assert (await w.store.verify_audit()).ok


async def test_watch_ends_when_the_campaign_completes(world: World) -> None:
    w = world
    res = await w.run("campaign", "create", "--where", "ids=cam-0000,cam-0006,cam-0012", "--stages",
                      "disable_cloud", "--canary", "1", "--growth", "2", "--preview", "none", "--json",
                      role="olga")  # fmt: skip
    doc = res.json()
    assert res.rc == 0 and [b["size"] for b in doc["batches"]] == [1, 2] and doc["state"] == "CREATED"
    cid = doc["campaign_id"]
    assert (await w.run("campaign", "start", cid, role="olga")).rc == 0
    watch = await w.spawn("campaign", "status", cid, "-w", "--interval", "0.1", role="vic")
    for bid in ("b001", "b002"):
        (cmd,) = await w.run_commands(cid, bid, 1)
        await report(w.store, cmd, "SUCCEEDED")
        await w.batch_state(cid, bid, FINAL_BATCH)
    res = await w.finish(watch)
    assert res.rc == 0, res.err
    assert "COMPLETED" in res.out and "3/3 100%" in res.err.splitlines()[-1]
    # --watch with a deadline on a campaign that will not move: exit 1 and how to follow it.
    res = await w.run("campaign", "create", *HIK_NORTH, "--stages", "disable_cloud", "--preview", "none",
                      "--window", "01:00-01:01", role="olga")  # fmt: skip
    cid2 = res.out.split()[1]
    await w.run("campaign", "start", cid2, role="olga")
    res = await w.run(
        "campaign", "status", cid2, "--watch", "--interval", "0.1", "--wait-timeout", "0.5", role="vic"
    )
    assert res.rc == 1 and "not settled yet" in res.out


# ---- create variants ----------------------------------------------------------------------------------
async def test_create_from_a_spec_file_with_flags_on_top(world: World, tmp_path: Path) -> None:
    spec = {"name": "from file", "where": {"origin": "dahua"}, "preview": "none",
            "stages": [{"action": "disable_cloud"},
                       {"action": "restrict_network", "params": {"allow": ["10.9.0.0/24"]}}],
            "plan": {"canary": 3, "growth": 1.5, "max_batch": 10}}  # fmt: skip
    f = tmp_path / "spec.json"
    f.write_text(json.dumps(spec))
    res = await w_run_create(world, "--spec", str(f), "--max-batch", "5", "--window", "mon-fri@22:00-06:00",
                             "--window", '{"days": [5, 6], "start": "00:00", "end": "24:00"}', "--retry-all",
                             "--on-failure", "abort", "--json")  # fmt: skip
    doc = res.json()
    assert res.rc == 0, res.err
    s = doc["spec"]
    assert s["name"] == "from file" and s["where"] == {"origin": "dahua"}
    assert s["plan"] == {"canary": 3, "growth": 1.5, "max_batch": 5} and s["gate"]["action"] == "abort"
    assert s["stages"][1]["params"]["allow"] == ["10.9.0.0/24"] and s["retry_failed_only"] is False
    assert s["windows"] == [{"days": [0, 1, 2, 3, 4], "start": "22:00", "end": "06:00"},
                            {"days": [5, 6], "start": "00:00", "end": "24:00"}]  # fmt: skip
    assert [b["size"] for b in doc["batches"]] == [3, 5, 5, 5, 2]
    # Stage parameters from flags reach the API document as the command parameters.
    res = await w_run_create(world, *HIK_NORTH, "--stages", "restrict_network,decommission", "--allow",
                             "10.0.0.5,10.0.0.6", "--ntp", "10.0.0.1", "--keep", "rtsp,https",
                             "--mode", "hard", "--wipe-users", "--print-spec", "--json")  # fmt: skip
    body = res.json()
    assert body["stages"] == [
        {"action": "restrict_network", "params": {"allow": ["10.0.0.5", "10.0.0.6"], "ntp_server": "10.0.0.1",
                                                  "keep_protocols": ["RTSP", "HTTPS"]}},
        {"action": "decommission", "params": {"mode": "hard", "wipe_users": True}},
    ]  # fmt: skip
    assert (
        await world.store.campaign_list() and len(await world.store.campaign_list()) == 1
    )  # print-spec sent nothing
    res = await w_run_create(world, *HIK_NORTH, "--stages", "restrict_network", "--allow", "10.0.0.5",
                             "--accept-recording-gap", "--print-spec", "--json")  # fmt: skip
    assert res.json()["stages"][0]["params"] == {"allow": ["10.0.0.5"], "accept_recording_gap": True}


async def test_dry_run_preview_of_the_canary(world: World) -> None:
    w = world
    res = await w_run_create(w, *HIK_NORTH, "--stages", "disable_cloud,decommission", "--canary", "2",
                             "--preview", "canary", "--json")  # fmt: skip
    cid = res.json()["campaign_id"]
    steps = [st for st in await w.store.campaign_steps(cid) if st.kind == "preview"]
    cmd = await w.store.get_command(steps[0].command_id)
    assert len(steps) == 1 and cmd is not None and cmd.dry_run
    await report(w.store, steps[0].command_id, "SUCCEEDED",
                 [("cloud.ezviz", "would_change", {"enabled": True}, {"enabled": False}),
                  ("upnp", "already", False, False)])  # fmt: skip
    res = await w.run("campaign", "preview", cid, role="vic")
    assert res.rc == 0, res.err
    lines = {
        (ln.split()[0], ln.split()[1]): ln.split() for ln in res.out.splitlines() if ln.startswith("cam-")
    }
    canary = w.select(lambda c: c.origin == "hikvision" and c.site == "north")[:2]
    assert sorted({cam for cam, _ in lines}) == canary
    assert all(
        lines[(c, "disable_cloud")][2:7] == ["SUCCEEDED", "cloud.ezviz", "1", "0", "0"] for c in canary
    )
    assert all(lines[(c, "decommission")][2] == "NOT_PREVIEWED" for c in canary)
    assert "0 still pending" in res.out


async def w_run_create(w: World, *args: str) -> Result:
    return await w.run("campaign", "create", *args, role="olga")


def test_window_formats() -> None:
    assert parse_window("sat,sun@00:00-24:00") == {"days": [5, 6], "start": "00:00", "end": "24:00"}
    assert parse_window("fri-mon@23:00-04:00")["days"] == [0, 4, 5, 6]
    assert parse_window("02:00-03:30") == {"days": list(range(7)), "start": "02:00", "end": "03:30"}
    for bad in ("22-06", "xyz@01:00-02:00", '{"when": 1}'):
        with pytest.raises(FleetctlError):
            parse_window(bad)


# ---- approvals -----------------------------------------------------------------------------------------
async def test_two_distinct_approvers_sign_with_fleetctl(world: World) -> None:
    w = world
    res = await w.run("campaign", "create", *DAHUA_SOUTH, "--stages", "decommission", "--mode", "hard",
                      "--wipe-users", "--canary", "2", "--preview", "none", role="adm")  # fmt: skip
    assert res.rc == 0, res.err
    cid = res.out.split()[1]
    assert f"fleetctl approve {cid} b001 --key" in res.out
    res = await w.run("campaign", "status", cid, role="vic")
    assert rows(res.out)["b001"][1:3] == ["AWAITING_APPROVAL", "2"] and "0/2" in rows(res.out)["b001"]
    batch = next(b for b in await w.store.campaign_batches(cid) if b.batch_id == "b001")
    cams = w.select(lambda c: c.origin == "dahua" and c.site == "south")[:2]

    # The creator cannot approve (four eyes), even an admin with a registered approver key.
    res = await w.run("approve", cid, "b001", "--key", str(w.keys["adm"]), "--yes", role="adm")
    assert res.rc == 3 and "created a campaign cannot approve" in res.err
    # Viewers and operators may not approve at all.
    for who in ("vic", "olga"):
        res = await w.run("approve", cid, "b001", "--key", str(w.keys["ann"]), "--passphrase-env", "ANN_PASS",
                          "--yes", role=who)  # fmt: skip
        assert res.rc == 3, (who, res.err)

    # ann: her encrypted key, passphrase from the environment; she sees exactly what she signs.
    res = await w.run("approve", cid, "b001", "--key", str(w.keys["ann"]), "--passphrase-env", "ANN_PASS",
                      "--yes", role="ann")  # fmt: skip
    assert res.rc == 0, res.err
    assert "action:  decommission (factory reset: hard, wipe users: yes)" in res.out
    assert "cameras: 2" in res.out and all(f"  {c}\n" in res.out for c in cams)
    assert f"digest (SHA-256 of the manifest): {batch.manifest_digest}" in res.out
    assert "1 of 2 approvals; batch b001 is AWAITING_APPROVAL" in res.out
    # The same approver twice is refused (409 -> 2) ...
    res = await w.run("approve", cid, "b001", "--key", str(w.keys["ann"]), "--passphrase-env", "ANN_PASS",
                      "--yes", role="ann")  # fmt: skip
    assert res.rc == 2 and "already approved" in res.err
    # ... and so is ben signing with ann's key (not the one registered for him).
    res = await w.run("approve", cid, "b001", "--key", str(w.keys["ann"]), "--passphrase-env", "ANN_PASS",
                      "--yes", role="ben")  # fmt: skip
    assert res.rc == 2 and "not the approver key registered" in res.err
    res = await w.run("approve", cid, "b001", "--key", str(w.keys["ben"]), "--yes", "--json", role="ben")
    doc = res.json()
    assert res.rc == 0 and doc["state"] == "READY" and doc["approvals"] == 2 and doc["required"] == 2
    assert doc["digest"] == batch.manifest_digest and "decommission" in res.err  # the summary, on stderr
    approvals = await w.store.campaign_approvals(cid, "b001")
    assert sorted(a.username for a in approvals) == ["ann", "ben"]
    res = await w.run("campaign", "status", cid, "--json", role="vic")
    b1 = res.json()["batches"][0]
    assert b1["state"] == "READY" and [a["username"] for a in b1["approval"]["approvers"]] == ["ann", "ben"]
    res = await w.run("campaign", "status", cid, role="vic")
    assert "2/2" in rows(res.out)["b001"]
    # A batch that is no longer awaiting approval: the approver is told, the controller refuses.
    res = await w.run("approve", cid, "b001", "--key", str(w.keys["ben"]), "--yes", role="ben")
    assert res.rc == 2 and "not awaiting approval" in res.err


async def test_approve_refusals_before_anything_is_sent(world: World) -> None:
    w = world
    res = await w.run("campaign", "create", *DAHUA_SOUTH, "--stages", "decommission", "--canary", "2",
                      "--preview", "none", role="olga")  # fmt: skip
    cid = res.out.split()[1]
    # A wrong passphrase: refused, and the passphrase is never shown (Fleet.finish checks PASS is absent).
    os.environ["WRONG_PASS"] = "not it"
    try:
        res = await w.run("approve", cid, "b001", "--key", str(w.keys["ann"]), "--passphrase-env",
                          "WRONG_PASS", "--yes", role="ann")  # fmt: skip
    finally:
        del os.environ["WRONG_PASS"]
    assert res.rc == 2 and "wrong passphrase" in res.err
    # An encrypted key with no passphrase source and no terminal; an unset variable; a missing file.
    res = await w.run("approve", cid, "b001", "--key", str(w.keys["ann"]), "--yes", role="ann")
    assert res.rc == 2 and "is encrypted" in res.err
    res = await w.run("approve", cid, "b001", "--key", str(w.keys["ann"]), "--passphrase-env", "NOPE_UNSET",
                      "--yes", role="ann")  # fmt: skip
    assert res.rc == 2 and "NOPE_UNSET is not set" in res.err
    res = await w.run("approve", cid, "b001", "--key", "/nonexistent.pem", "--yes", role="ann")
    assert res.rc == 2 and "cannot read" in res.err
    # No terminal and no --yes: nothing is signed.
    res = await w.run("approve", cid, "b001", "--key", str(w.keys["ben"]), role="ben")
    assert res.rc == 2 and "--yes" in res.err
    # At a terminal, "n" means no.
    master, slave = pty.openpty()
    try:
        proc = await w.spawn("approve", cid, "b001", "--key", str(w.keys["ben"]), role="ben", stdin=slave)
        os.write(master, b"n\n")
        res = await w.finish(proc)
    finally:
        os.close(slave)
        os.close(master)
    assert res.rc == 2 and "sign this manifest with key" in res.err and "not signed" in res.err
    assert await w.store.campaign_approvals(cid, "b001") == []
    # ... and "y" signs.
    master, slave = pty.openpty()
    try:
        proc = await w.spawn("approve", cid, "b001", "--key", str(w.keys["ben"]), role="ben", stdin=slave)
        os.write(master, b"y\n")
        res = await w.finish(proc)
    finally:
        os.close(slave)
        os.close(master)
    assert res.rc == 0 and "1 of 2 approvals" in res.out, res.err
    assert [a.username for a in await w.store.campaign_approvals(cid, "b001")] == ["ben"]
    # A batch with no destructive stage has no manifest (404 -> 5); an unknown batch too.
    res = await w.run("campaign", "create", *HIK_NORTH, "--stages", "disable_cloud", "--preview", "none",
                      role="olga")  # fmt: skip
    res = await w.run("approve", res.out.split()[1], "b001", "--key", str(w.keys["ben"]), "--yes", role="ben")
    assert res.rc == 5 and "needs no approval" in res.err
    res = await w.run("approve", cid, "b999", "--key", str(w.keys["ben"]), "--yes", role="ben")
    assert res.rc == 5
    res = await w.run("approve", cid, role="ben")
    assert res.rc == 2 and "--keygen" in res.err


async def test_keygen_files(world: World, tmp_path: Path) -> None:
    w = world
    ann = w.keys["ann"]
    assert stat.S_IMODE(ann.stat().st_mode) == 0o600
    assert b"ENCRYPTED" in ann.read_bytes() and b"ENCRYPTED" not in w.keys["ben"].read_bytes()
    ring = Keyring.load(ann.with_name("ann.pem.pub.json"))
    key = SigningKey.from_pem(ann.read_bytes(), PASS.encode())
    assert list(ring) == [key.key_id]
    out = tmp_path / "new.pem"
    res = await w.run("approve", "--keygen", str(out), "--public", str(tmp_path / "new.json"), role=None)
    assert res.rc == 0 and "NOT encrypted" in res.out and "--approver-key" in res.out
    kid = res.out.split()[2]
    assert list(Keyring.load(tmp_path / "new.json")) == [kid]
    assert SigningKey.from_pem(out.read_bytes()).key_id == kid
    # Never overwritten by accident, and nothing half-written when only the public file is in the way.
    before = out.read_bytes()
    other = tmp_path / "other.pem"
    other.with_name("other.pem.pub.json").write_text("{}")
    res1, res2 = await asyncio.gather(w.run("approve", "--keygen", str(out), role=None),
                                      w.run("approve", "--keygen", str(other), role=None))  # fmt: skip
    assert res1.rc == 2 and "exists" in res1.err and out.read_bytes() == before
    assert res2.rc == 2 and "other.pem.pub.json exists" in res2.err and not other.exists()


# ---- exit codes ----------------------------------------------------------------------------------------
async def test_exit_codes(world: World) -> None:
    w = world
    free = f"http://127.0.0.1:{find_free_port()}"
    # Independent checks run side by side (each is its own fleetctl process).
    checks: list[tuple[tuple[str, ...], str, int, str]] = [
        (("campaign", "status", "no-such-campaign"), "vic", 5, "no campaign"),
        (("campaign", "status", "../../api/v1/cameras"), "vic", 2, "not a campaign or batch id"),
        (("campaign", "create", *HIK_NORTH, "--stages", "explode"), "olga", 2, "unknown explode"),
        (("campaign", "create", *HIK_NORTH, "--stages", "restrict_network"), "olga", 2,
         "stages.0.params.allow: required"),  # the controller's 400
        (("campaign", "create", "--stages", "disable_cloud"), "olga", 2, "--where"),
        (("campaign", "create", "--where", "orign=hik", "--stages", "disable_cloud"), "olga", 2,
         "unknown key"),
        (("campaign", "create", "--where", "origin=nobody", "--stages", "disable_cloud"), "olga", 2,
         "no camera matches"),  # the controller's 400
        (("campaign", "create", *HIK_NORTH, "--stages", "disable_cloud", "--canary", "0"), "olga", 2,
         "canary"),
        (("campaign", "create", *HIK_NORTH, "--stages", "disable_cloud"), "vic", 3, "HTTP 403"),
        (("campaign", "list", "--url", free), "vic", 4, "cannot reach the controller"),
    ]  # fmt: skip
    results = await asyncio.gather(*(w.run(*args, role=who) for args, who, _, _ in checks))
    for (args, _, rc, msg), res in zip(checks, results, strict=True):
        assert res.rc == rc and msg in res.err, (args, res.rc, res.err)

    res = await w.run("campaign", "create", *HIK_NORTH, "--stages", "disable_cloud", "--preview", "none",
                      role="olga")  # fmt: skip
    cid = res.out.split()[1]
    first = await asyncio.gather(
        w.run("campaign", "start", cid, role="vic"),
        w.run("campaign", "start", cid, role="ann"),  # approvers do not start work
        w.run("campaign", "resume", cid, role="olga"),  # not paused (409)
        w.run("campaign", "status", cid, role=None),
    )
    assert [r.rc for r in first] == [3, 3, 2, 3], [r.err for r in first]
    assert (await w.run("campaign", "start", cid, role="olga")).rc == 0
    again, rollback, missing = await asyncio.gather(
        w.run("campaign", "start", cid, "--json", role="olga"),
        w.run("campaign", "rollback", cid, "b001", role="olga"),
        w.run("campaign", "rollback", cid, "b404", role="olga"),
    )
    assert (
        again.rc == 2 and again.json()["status"] == 409 and "only a CREATED campaign" in again.json()["error"]
    )
    assert rollback.rc == 2 and "abort it first" in rollback.err
    assert missing.rc == 5
