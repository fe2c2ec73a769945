"""fleetctl as a real subprocess against the real controller app over loopback HTTP: tables, --json, filters,
pagination, commands with progress and summaries, exports, audit, exit codes, and the token never shown."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import pty
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from controller.api import STORE
from controller.app import build_app
from controller.auth import new_token, token_hash
from controller.config import ControllerConfig
from controller.fleetctl.output import ProgressBar, table
from controller.fleetctl.where import WhereError, parse_where
from controller.store import Store
from controller.store.base import FINAL_STATES, AgentRow, CameraRow, ExecutionRow, UserRow
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.keys import SigningKey
from tests.camsim.conftest import find_free_port
from tests.timing import scaled

pytestmark = pytest.mark.integration

#: The fleetctl entry point installed beside the interpreter running the tests (the project's .venv).
FLEETCTL = str(Path(sys.executable).with_name("fleetctl"))
OEM = {"hikvision": "ANNKE", "dahua": "Lorex"}


def camera(i: int) -> CameraRow:
    origin = ["hikvision", "dahua", "axis"][i % 3]
    site = ["north", "south"][i % 2]
    oem = i % 5 == 0 and origin in OEM
    rec = pb.CameraRecord(camera_id=f"cam-{i:04d}", host=f"127.0.1.{i + 1}", port=80)
    rec.origin.manufacturer = origin
    return CameraRow(
        camera_id=f"cam-{i:04d}", agent_id=f"agent-{site}", site=site, host=rec.host, port=80,
        manufacturer=OEM[origin] if oem else origin.upper(), model=f"DS-{i}", firmware="V5.5.0",
        origin=origin, covered=origin in OEM, oem_rebrand=oem, confidence=0.9,
        risk_score=80 if origin in OEM else 10, risk_level="high" if origin in OEM else "low",
        cloud_reachable=i % 4 == 0, fingerprint=f"fp{i}", reachable=True, observed_at=time.time(),
        record=rec.SerializeToString(),
    )  # fmt: skip


@dataclass
class Result:
    rc: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)  # exactly one document: json.loads refuses anything after it


@dataclass
class Fleet:
    url: str
    store: Store
    tokens: dict[str, str]
    cameras: list[CameraRow]
    secrets: list[str] = field(default_factory=list)
    # Every fleetctl started, so the fixture kills what a failed test left running (a --watch never ends).
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)

    def env(self, role: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMFLEET_")}
        env["CAMFLEET_URL"] = self.url
        if role is not None:
            env["CAMFLEET_TOKEN"] = self.tokens[role]
        return env

    async def spawn(
        self, *args: str, role: str | None = "operator", stdin: int = asyncio.subprocess.DEVNULL
    ) -> asyncio.subprocess.Process:
        # A subprocess driven from the test's event loop, so the in-process controller keeps serving.
        proc = await asyncio.create_subprocess_exec(
            FLEETCTL, *args, env=self.env(role), stdin=stdin,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    async def reap(self) -> None:
        """Kill every fleetctl still running (a test that failed before it ended) and wait for it."""
        for proc in self.procs:
            await kill(proc)
        self.procs.clear()

    async def finish(self, proc: asyncio.subprocess.Process, within: float = 90.0) -> Result:
        try:
            out, err = await asyncio.wait_for(proc.communicate(), scaled(within))
        except BaseException:
            await kill(proc)
            raise
        res = Result(proc.returncode if proc.returncode is not None else -1, out.decode(), err.decode())
        for secret in [*self.tokens.values(), *self.secrets]:
            assert secret not in res.out and secret not in res.err, "a token reached fleetctl's output"
        return res

    async def run(self, *args: str, role: str | None = "operator") -> Result:
        return await self.finish(await self.spawn(*args, role=role))

    def select(self, pred: Callable[[CameraRow], bool]) -> list[str]:
        return sorted(c.camera_id for c in self.cameras if pred(c))


async def kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    # Plain-HTTP cookies, so a test can also use the dashboard of this controller (test_allow_list).
    cfg = ControllerConfig(state_dir=tmp_path, secure_cookies=False)
    app = build_app(cfg, SigningKey.generate(), mqtt=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    store = app[STORE]
    tokens = {}
    for role in ("viewer", "operator", "admin"):
        # Token-only users: no password needed (a hash that matches nothing keeps scrypt out of every test).
        await store.put_user(UserRow(role, "!", role))
        tokens[role] = new_token()
        await store.add_token(token_hash(tokens[role]), role, "test")
    cams = [camera(i) for i in range(60)]
    for site in ("north", "south"):
        await store.ingest_cameras(
            f"agent-{site}", [c for c in cams if c.site == site], full=True, removed=[], seq=1
        )
    f = Fleet(str(server.make_url("")).rstrip("/"), store, tokens, cams)
    try:
        yield f
    finally:
        await f.reap()
        await server.close()


_seq = iter(range(1, 10**9))


async def report(
    store: Store,
    command_id: str,
    state: str,
    settings: list[tuple[str, str, Any, Any]] | None = None,
    cameras: list[str] | None = None,
    error: tuple[str, str] = ("", ""),
) -> None:
    """What the hub does with an agent's ExecutionUpdate, at the store level (the MQTT path is tested elsewhere)."""
    for e in await store.executions(command_id):
        if e.state in FINAL_STATES or (cameras is not None and e.camera_id not in cameras):
            continue
        upd = ExecutionRow(
            command_id=command_id, camera_id=e.camera_id, agent_id=e.agent_id, state=state, seq=next(_seq),
            settings=[{"setting": s, "outcome": o, "before": b, "after": a, "reason": ""}
                      for s, o, b, a in settings or []],
            error_class=error[0], message=error[1],
        )  # fmt: skip
        assert await store.apply_update(upd)


async def stderr_until(
    proc: asyncio.subprocess.Process, needle: str, seen: list[str], within: float = 30
) -> None:
    """Read a running fleetctl's stderr until a line contains `needle`; the lines read are kept in `seen`
    (prepend them to what `finish` returns). This is how a test knows fleetctl has shown a state."""
    assert proc.stderr is not None

    async def read() -> None:
        while True:
            line = (await proc.stderr.readline()).decode()  # type: ignore[union-attr]
            if not line:
                raise AssertionError(f"fleetctl ended before printing {needle!r}: {seen}")
            seen.append(line)
            if needle in line:
                return

    await asyncio.wait_for(read(), scaled(within))


async def created_commands(store: Store, n: int, within: float = 60.0) -> list[str]:
    deadline = time.monotonic() + scaled(within)
    while time.monotonic() < deadline:
        cmds = await store.list_commands()
        if len(cmds) >= n:
            return [c.command_id for c in cmds]
        await asyncio.sleep(0.05)
    raise AssertionError("fleetctl created no command")


# ---- cameras -------------------------------------------------------------------------------------
async def test_cameras_table_shows_origin_and_oem_rebrands(fleet: Fleet) -> None:
    res = await fleet.run("cameras", "--origin", "hikvision", "--site", "north", role="viewer")
    assert res.rc == 0, res.err
    want = fleet.select(lambda c: c.origin == "hikvision" and c.site == "north")
    lines = res.out.splitlines()
    assert lines[0].split()[:3] == ["ID", "SITE", "HOST"] and "MANUFACTURER → ORIGIN" in lines[0]
    assert [ln.split()[0] for ln in lines[1:-1]] == want
    # cam-0000 is an ANNKE (OEM rebrand of Hikvision): the table says who really made it.
    row0 = next(ln for ln in lines if ln.startswith("cam-0000"))
    assert "ANNKE → hikvision (OEM)" in row0 and "high 80" in row0 and "yes" in row0
    assert lines[-1] == f"{len(want)} of {len(want)} cameras"


async def test_cameras_json_and_filters(fleet: Fleet) -> None:
    cases: list[tuple[list[str], Callable[[CameraRow], bool]]] = [
        (["--where", "origin=dahua,site=south"], lambda c: c.origin == "dahua" and c.site == "south"),
        (["--vendor", "Lorex"], lambda c: c.manufacturer == "Lorex"),
        (["--cloud-reachable", "--risk", "high"], lambda c: c.cloud_reachable and c.risk_level == "high"),
        (["--search", "DS-1"], lambda c: "DS-1" in c.model),
        (["--where", "ids=cam-0003,cam-0007,site=south"], lambda c: c.camera_id in ("cam-0003", "cam-0007")),
    ]
    for flags, pred in cases:
        res = await fleet.run("cameras", *flags, "--all", "--json", role="viewer")
        assert res.rc == 0, (flags, res.err)
        doc = res.json()
        assert [c["camera_id"] for c in doc["cameras"]] == fleet.select(pred), flags
        assert doc["total"] == len(fleet.select(pred))


async def test_cameras_pagination(fleet: Fleet) -> None:
    everything = fleet.select(lambda c: True)
    res = await fleet.run("cameras", "--all", "--page-size", "7", "--json", role="viewer")
    doc = res.json()
    assert res.rc == 0 and doc["total"] == 60 and [c["camera_id"] for c in doc["cameras"]] == everything
    res = await fleet.run("cameras", "--limit", "20", "--page-size", "7", "--json", role="viewer")
    assert [c["camera_id"] for c in res.json()["cameras"]] == everything[:20]
    res = await fleet.run("cameras", "--limit", "5", "--offset", "10", role="viewer")
    assert [ln.split()[0] for ln in res.out.splitlines()[1:-1]] == everything[10:15]
    assert res.out.splitlines()[-1] == "5 of 60 cameras; 45 more: --all, or --offset 15"


# ---- run, status ---------------------------------------------------------------------------------
async def test_run_waits_with_progress_and_summarises(fleet: Fleet) -> None:
    proc = await fleet.spawn(
        "run", "disable-cloud", "--where", "origin=hikvision,site=north", "--interval", "0.1"
    )
    (cid,) = await created_commands(fleet.store, 1)
    cams = fleet.select(lambda c: c.origin == "hikvision" and c.site == "north")
    seen: list[str] = []
    await stderr_until(proc, f"0/{len(cams)}", seen)  # fleetctl is watching
    await report(fleet.store, cid, "IN_PROGRESS", cameras=cams[:1])
    ezviz = [
        ("cloud.ezviz", "changed", {"enabled": True}, {"enabled": False}),
        ("upnp", "already", False, False),
    ]
    await report(fleet.store, cid, "SUCCEEDED", ezviz, cameras=cams[:3])
    await stderr_until(proc, f"3/{len(cams)}", seen)  # it showed the partial progress
    await report(fleet.store, cid, "SUCCEEDED", ezviz)
    res = await fleet.finish(proc)
    res.err = "".join(seen) + res.err
    assert res.rc == 0, res.err
    cmd = await fleet.store.get_command(cid)
    assert (
        cmd is not None
        and cmd.action == "disable_cloud"
        and not cmd.dry_run
        and cmd.agent_id == "agent-north"
    )
    # A progress bar on stderr (one line per change when stderr is not a terminal), reaching 100 %.
    bars = [ln for ln in res.err.splitlines() if ln.startswith("[")]
    assert len(bars) >= 2 and f"{len(cams)}/{len(cams)} 100%" in bars[-1]
    assert any(f"3/{len(cams)}" in b for b in bars)
    rows = {ln.split()[0]: ln.split() for ln in res.out.splitlines() if ln.startswith("cam-")}
    assert sorted(rows) == cams
    assert all(r[1:7] == ["agent-north", "SUCCEEDED", "1", "1", "0", "0"] for r in rows.values())
    assert f"{len(cams)} cameras: {len(cams)} succeeded" in res.out
    assert f"settings: {len(cams)} changed, {len(cams)} already" in res.out


async def test_dry_run_shows_the_per_setting_diff(fleet: Fleet) -> None:
    proc = await fleet.spawn("run", "disable-cloud", "--where", "origin=dahua,site=south", "--dry-run",
                             "--interval", "0.1")  # fmt: skip
    (cid,) = await created_commands(fleet.store, 1)
    await report(fleet.store, cid, "SUCCEEDED", [("p2p.t2u", "would_change", {"enabled": True}, {"enabled": False}),
                                                 ("ntp", "unsupported", None, None)])  # fmt: skip
    res = await fleet.finish(proc)
    assert res.rc == 0, res.err
    cmd = await fleet.store.get_command(cid)
    assert cmd is not None and cmd.dry_run
    cams = fleet.select(lambda c: c.origin == "dahua" and c.site == "south")
    diff = [ln for ln in res.out.splitlines() if "p2p.t2u" in ln]
    assert len(diff) == len(cams)
    assert diff[0].split() == [
        cams[0],
        "p2p.t2u",
        '{"enabled":true}',
        "→",
        '{"enabled":false}',
        "would_change",
    ]
    assert "DRY RUN" in res.out and "WOULD CHANGE" in res.out


async def test_no_wait_creates_commands_with_params(fleet: Fleet) -> None:
    res = await fleet.run("run", "restrict-network", "--where", "origin=hikvision", "--allow", "10.0.0.5/32",
                          "--allow", "10.0.9.0/24", "--ntp", "10.0.0.1", "--keep", "rtsp,https", "--no-wait",
                          "--json")  # fmt: skip
    assert res.rc == 0, res.err
    doc = res.json()
    assert doc["waited"] is False and {c["agent_id"] for c in doc["commands"]} == {
        "agent-north",
        "agent-south",
    }
    for c in doc["commands"]:
        row = await fleet.store.get_command(c["command_id"])
        assert row is not None and row.action == "restrict_network" and not row.dry_run
        # Stored as signed: every parameter, defaults included.
        assert row.params == {"allow": ["10.0.0.5/32", "10.0.9.0/24"], "clear_gateway": True, "clear_dns": True,
                              "ntp_server": "10.0.0.1", "keep_protocols": ["RTSP", "HTTPS"],
                              "accept_recording_gap": False, "agent_only": False}  # fmt: skip
        execs = await fleet.store.executions(row.command_id)
        site = row.agent_id.removeprefix("agent-")
        assert sorted(e.camera_id for e in execs) == fleet.select(
            lambda x, site=site: x.origin == "hikvision" and x.site == site  # type: ignore[misc]
        )
    # Human output: a table of created commands and how to follow them.
    res = await fleet.run("run", "reboot", "--site", "south", "--origin", "axis", "--no-wait")
    assert res.rc == 0 and "agent-south" in res.out and "fleetctl status --wait" in res.out


async def test_accepting_the_recording_gap_is_carried_to_the_command(fleet: Fleet) -> None:
    res = await fleet.run("run", "restrict-network", "--where", "origin=dahua,site=north", "--allow", "10.0.0.5/32",
                          "--accept-recording-gap", "--no-wait", "--json")  # fmt: skip
    assert res.rc == 0, res.err
    (c,) = res.json()["commands"]
    row = await fleet.store.get_command(c["command_id"])
    assert row is not None and row.params["accept_recording_gap"] is True


async def test_a_person_at_a_terminal_is_asked_first(fleet: Fleet) -> None:
    for answer, created in ((b"n\n", 0), (b"y\n", 1)):
        master, slave = pty.openpty()
        try:
            proc = await fleet.spawn(
                "run", "reboot", "--where", "origin=axis,site=north", "--no-wait", stdin=slave
            )
            os.write(master, answer)  # held by the terminal until fleetctl reads its answer
            res = await fleet.finish(proc)
        finally:
            os.close(slave)
            os.close(master)
        n = len(fleet.select(lambda c: c.origin == "axis" and c.site == "north"))
        assert f"reboot on {n} cameras (origin=axis,site=north)? [y/N]" in res.err
        assert len(await fleet.store.list_commands()) == created
        assert res.rc == (0 if created else 2), res.err


async def test_status_of_finished_and_pending_commands(fleet: Fleet) -> None:
    res = await fleet.run("run", "inventory", "--where", "origin=axis", "--no-wait", "--json")
    ids = [c["command_id"] for c in res.json()["commands"]]
    # Nothing reported yet: still running is not a failure for a plain status ...
    res = await fleet.run("status", *ids, role="viewer")
    assert res.rc == 0 and "QUEUED" in res.out
    # ... but it is when --wait gives up before the cameras are done.
    res = await fleet.run(
        "status", *ids, "--wait", "--wait-timeout", "0.5", "--interval", "0.1", role="viewer"
    )
    assert res.rc == 1 and "still running" in res.out
    axis = fleet.select(lambda c: c.origin == "axis")
    broken = axis[0]
    for cid in ids:
        await report(fleet.store, cid, "FAILED", cameras=[broken], error=("unreachable", "connect timeout"))
        await report(fleet.store, cid, "SUCCEEDED")
    res = await fleet.run("status", *ids, role="viewer")
    assert res.rc == 1
    bad = next(ln for ln in res.out.splitlines() if ln.startswith(broken))
    assert "FAILED" in bad and "unreachable: connect timeout" in bad
    assert f"{len(axis)} cameras: 1 failed, {len(axis) - 1} succeeded" in res.out
    res = await fleet.run("status", *ids, "--json", role="viewer")
    doc = res.json()
    assert res.rc == 1 and doc["exit_code"] == 1 and doc["complete"] is True
    assert doc["totals"]["states"] == {"FAILED": 1, "SUCCEEDED": len(axis) - 1}
    # All good: exit 0.
    res = await fleet.run("run", "reboot", "--where", "ids=cam-0002", "--no-wait", "--json")
    (cid,) = [c["command_id"] for c in res.json()["commands"]]
    await report(fleet.store, cid, "SUCCEEDED")
    res = await fleet.run("status", cid, "--wait", "--interval", "0.1")
    assert res.rc == 0 and "1 cameras: 1 succeeded" in res.out


async def test_cancel_and_commands_list(fleet: Fleet) -> None:
    res = await fleet.run("run", "reboot", "--where", "site=north,origin=dahua", "--no-wait", "--json")
    (cid,) = [c["command_id"] for c in res.json()["commands"]]
    res = await fleet.run("cancel", cid, "--json")
    n = len(fleet.select(lambda c: c.site == "north" and c.origin == "dahua"))
    assert res.rc == 0 and res.json() == {"results": [{"command_id": cid, "canceled": n}]}
    assert {e.state for e in await fleet.store.executions(cid)} == {"CANCELED"}
    res = await fleet.run("commands", role="viewer")
    assert res.rc == 0 and cid in res.out and "CANCELED" in res.out


# ---- agents, export, audit -----------------------------------------------------------------------
async def test_summary_answers_how_many_where_how_exposed(fleet: Fleet) -> None:
    res = await fleet.run("summary", role="viewer")
    assert res.rc == 0, res.err
    lines = dict(ln.split(":", 1) for ln in res.out.splitlines())
    oem = len(fleet.select(lambda c: c.oem_rebrand))
    assert (
        lines["cameras"].strip() == "60" and lines["by origin"].strip() == "axis 20, dahua 20, hikvision 20"
    )
    assert lines["covered makers"].strip() == f"40 (NDAA §889), of which OEM rebrands {oem}"
    assert lines["cloud-reachable"].strip() == str(len(fleet.select(lambda c: c.cloud_reachable)))
    res = await fleet.run("summary", "--site", "north", "--json", role="viewer")
    doc = res.json()
    assert doc["total"] == 30 and doc["site"] == {"north": 30}


async def test_agents(fleet: Fleet) -> None:
    now = time.time()
    await fleet.store.upsert_agent(AgentRow("agent-north", "north", "0.1.0", 3, True, now, [], 30))
    await fleet.store.upsert_agent(AgentRow("agent-south", "south", "0.1.0", 1, False, now - 600, [], 30))
    res = await fleet.run("agents", role="viewer")
    assert res.rc == 0
    north = next(ln for ln in res.out.splitlines() if ln.startswith("agent-north")).split()
    south = next(ln for ln in res.out.splitlines() if ln.startswith("agent-south")).split()
    assert north[:3] == ["agent-north", "north", "online"] and south[2:5] == ["OFFLINE", "10m", "ago"]
    assert res.out.splitlines()[-1] == "2 agents, 1 online"
    res = await fleet.run("agents", "--json", role="viewer")
    assert {a["agent_id"]: a["online"] for a in res.json()["agents"]} == {
        "agent-north": True,
        "agent-south": False,
    }


async def test_export_csv_to_a_file_and_json(fleet: Fleet, tmp_path: Path) -> None:
    out = tmp_path / "hik.csv"
    res = await fleet.run("export", "--format", "csv", "--where", "origin=hikvision", "--output", str(out),
                          role="viewer")  # fmt: skip
    assert res.rc == 0, res.err
    want = fleet.select(lambda c: c.origin == "hikvision")
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["camera_id"] for r in rows] == want and {r["origin"] for r in rows} == {"hikvision"}
    assert f"wrote {len(want)} cameras (csv)" in res.err and res.out == ""
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".hik.csv")]  # no temp file left behind
    res = await fleet.run("export", "--json", "--site", "south", role="viewer")
    assert [c["camera_id"] for c in res.json()["cameras"]] == fleet.select(lambda c: c.site == "south")
    res = await fleet.run("export", "--json", "--format", "csv", "--output", str(out), role="viewer")
    assert res.rc == 0 and res.json()["rows"] == 60


async def test_json_is_one_document_everywhere_and_csv_goes_to_stdout(fleet: Fleet) -> None:
    for args in (["cameras"], ["summary"], ["agents"], ["commands"], ["audit"], ["audit", "--verify"],
                 ["export"], ["status", "nope"], ["cancel", "nope"]):  # fmt: skip
        res = await fleet.run(*args, "--json", "--quiet", role="viewer")
        doc = res.json()  # raises on anything but exactly one JSON document
        assert isinstance(doc, dict) and res.rc in (0, 5), (args, res.err)
    res = await fleet.run("export", "--origin", "dahua", role="viewer")
    rows = list(csv.DictReader(io.StringIO(res.out)))
    assert res.rc == 0 and [r["camera_id"] for r in rows] == fleet.select(lambda c: c.origin == "dahua")


async def test_audit_and_verify(fleet: Fleet) -> None:
    res = await fleet.run("run", "reboot", "--where", "ids=cam-0001", "--no-wait", "--json")
    cid = res.json()["commands"][0]["command_id"]
    res = await fleet.run("audit", "--json", role="viewer")
    entries = res.json()["entries"]
    assert any(e["action"] == "command.create" and e["subject"] == cid for e in entries)
    res = await fleet.run("audit", role="viewer")
    assert res.rc == 0 and "command.create" in res.out and "operator" in res.out
    res = await fleet.run("audit", "--verify", role="viewer")
    assert res.rc == 0 and "audit chain intact" in res.out


# ---- exit codes and errors -----------------------------------------------------------------------
async def test_usage_and_bad_requests_exit_2(fleet: Fleet) -> None:
    res = await fleet.run("run", "restrict-network", "--where", "origin=dahua", "--allow", "not-an-ip")
    assert res.rc == 2 and "HTTP 400" in res.err and "'not-an-ip' is not an address" in res.err
    res = await fleet.run("run", "reboot", "--where", "orign=hikvision", "--no-wait")
    assert res.rc == 2 and "unknown key 'orign'" in res.err
    res = await fleet.run("run", "reboot", "--no-wait")
    assert res.rc == 2 and "--where" in res.err
    res = await fleet.run("run", "reboot", "--where", "site=nowhere", "--no-wait", "--json")
    assert res.rc == 2 and res.json() == {"error": "POST /api/v1/commands: HTTP 400: bad request: no camera "
                                          "matches the selection", "exit_code": 2, "status": 400}  # fmt: skip
    res = await fleet.run("cameras", "--json", "--limit", "0")
    assert res.rc == 2 and res.json()["exit_code"] == 2
    res = await fleet.run("frobnicate", "--json")
    assert res.rc == 2 and "invalid choice" in res.json()["error"]
    assert await fleet.store.list_commands() == []


async def test_auth_errors_exit_3_and_never_show_the_token(fleet: Fleet) -> None:
    forged = "cf_" + "Z" * 40
    fleet.secrets.append(forged)
    res = await fleet.run("--token", forged, "cameras", role=None)
    assert res.rc == 3 and "invalid or revoked API token" in res.err
    res = await fleet.run("cameras", "--json", role=None)
    assert res.rc == 3 and res.json()["status"] == 401
    res = await fleet.run("run", "reboot", "--where", "origin=axis", "--no-wait", role="viewer")
    assert res.rc == 3 and "HTTP 403" in res.err and "may not" in res.err
    assert await fleet.store.list_commands() == []


async def test_unreachable_and_timeout_exit_4(fleet: Fleet) -> None:
    port = find_free_port()
    res = await fleet.run("--url", f"http://127.0.0.1:{port}", "cameras")
    assert res.rc == 4 and f"cannot reach the controller at http://127.0.0.1:{port}" in res.err
    # A controller that accepts but never answers: the request timeout ends it.
    conns: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        hung = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        t0 = time.monotonic()
        res = await fleet.run("--url", hung, "agents", "--timeout", "0.5", "--json")
        assert res.rc == 4 and "within 0.5s" in res.json()["error"] and time.monotonic() - t0 < 10
    finally:
        for w in conns:
            w.close()
        server.close()
        await server.wait_closed()


async def test_not_found_exits_5(fleet: Fleet) -> None:
    res = await fleet.run("status", "no-such-command", role="viewer")
    assert res.rc == 5 and "no such command" in res.err
    res = await fleet.run("cancel", "no-such-command", "--json")
    assert res.rc == 5 and res.json()["status"] == 404


async def test_token_from_a_file_and_url_credentials_are_hidden(fleet: Fleet, tmp_path: Path) -> None:
    tf = tmp_path / "token"
    tf.write_text(fleet.tokens["viewer"] + "\n")
    res = await fleet.run("--token-file", str(tf), "cameras", "--limit", "1", "--json", role=None)
    assert res.rc == 0 and res.json()["count"] == 1
    fleet.secrets.append("hunter2pass")
    port = find_free_port()
    res = await fleet.run("--url", f"http://admin:hunter2pass@127.0.0.1:{port}", "agents")
    assert res.rc == 2 and f"no user or password in the URL (http://127.0.0.1:{port})" in res.err


# ---- pure parts ----------------------------------------------------------------------------------
def test_where_parsing() -> None:
    assert parse_where(["origin=hikvision,site=north", "cloud-reachable=yes"]) == {
        "origin": "hikvision", "site": "north", "cloud_reachable": "true"
    }  # fmt: skip
    assert parse_where(["ids=cam-1,cam-2", "ids=cam-3,vendor=ANNKE"]) == {
        "ids": "cam-1,cam-2,cam-3", "manufacturer": "ANNKE"
    }  # fmt: skip
    for bad, why in ((["orign=x"], "unknown key"), (["site=a,b"], "not KEY=VALUE"), (["site="], "needs a value"),
                     (["site=a,site=b"], "twice"), (["covered=maybe"], "true or false")):  # fmt: skip
        with pytest.raises(WhereError, match=why):
            parse_where(bad)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_in_place_on_a_terminal() -> None:
    tty = _Tty()
    bar = ProgressBar(tty)
    bar.update(1, 4, "ok 1")
    bar.update(1, 4, "ok 1")  # unchanged: not redrawn
    bar.update(4, 4, "ok 4")
    bar.close()
    text = tty.getvalue()
    assert text.count("\r\x1b[2K") == 2 and "[#######" in text and "4/4 100%  ok 4" in text
    assert text.endswith("\n") and text.count("\n") == 1


def test_table_cuts_long_cells_and_flattens_newlines() -> None:
    out = table(["a", "b"], [["x" * 60, "line1\nline2"]], max_width=11).splitlines()
    assert out[0].split() == ["A", "B"] and out[1].split() == ["x" * 10 + "…", "line1", "line2"]
