"""`camfleet-agent inventory --workers N` against a camsim subprocess: the same output as one process, streamed,
no second failed login across runs, and a dead worker costs only its own unread cameras."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest

from tests.agent.test_cli import AGENT, Sim, agent, agent_streaming
from tests.camsim.conftest import find_free_port
from tests.camsim_process import camsim_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WRONG = 3  # the targets row (0-based) whose password is wrong


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """40 cameras of camsim's default mix; the targets file has a wrong password for one of them."""
    out = tmp_path_factory.mktemp("camsim")
    with camsim_process(out, "--cameras", "40", "--seed", "16", "--base-address", "127.0.61.1",
                        "--port", str(find_free_port()), "--no-discovery") as control:  # fmt: skip
        rows = (out / "targets.csv").read_text().splitlines()
        rows[1 + WRONG] += "-wrong"
        (out / "targets.csv").write_text("\n".join(rows) + "\n")
        yield Sim(out, control, out / "targets.csv", json.loads((out / "truth.json").read_text()))


def _row(sim: Sim, i: int) -> dict[str, Any]:
    host, port = sim.targets.read_text().splitlines()[1 + i].split(",")[:2]
    return next(c for c in sim.truth if (c["host"], c["port"]) == (host, int(port)))


def _post(sim: Sim, path: str, body: dict[str, Any], method: str = "POST") -> None:
    req = Request(sim.control + path, data=json.dumps(body).encode(), method=method,
                  headers={"Content-Type": "application/json"})  # fmt: skip
    urlopen(req, timeout=5).close()


@pytest.fixture(autouse=True)
def unlocked(sim: Sim) -> None:
    """Each test starts with the wrong-password camera's failure count at zero (it would lock after a few)."""
    _post(sim, f"/cameras/{_row(sim, WRONG)['id']}/unlock", {})


def _by_camera(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for obj in lines:
        obj = dict(obj)
        obj.pop("clock_offset_s")  # the camera's clock against ours at the moment of the read
        assert obj["camera_id"] not in out, f"{obj['camera_id']} reported twice"
        out[obj["camera_id"]] = obj
    return out


def test_two_workers_print_the_same_records_and_exit_code_as_one(sim: Sim, tmp_path: Path) -> None:
    runs = {}
    for n in ("1", "2"):
        cwd = tmp_path / n
        cwd.mkdir()
        rc, lines, err = agent("inventory", "--targets", str(sim.targets), "--json", "--workers", n, cwd=cwd)
        runs[n] = rc, _by_camera(lines)
        assert len(lines) == len(sim.truth), err
    (rc1, one), (rc2, two) = runs["1"], runs["2"]
    assert rc1 == rc2 == 1  # every camera read but the one with the wrong password
    assert one.keys() == two.keys()
    for cid in one:
        for key in one[cid]:
            assert two[cid][key] == one[cid][key], f"{cid} {key}"
    wrong = _row(sim, WRONG)
    bad = [cid for cid, obj in two.items() if obj["errors"]]
    assert bad == [f"{wrong['host']}:{wrong['port']}"]
    assert {e["error_class"] for e in two[bad[0]]["errors"]} == {"auth"}


def test_two_workers_stream_each_camera_as_it_finishes(sim: Sim, tmp_path: Path) -> None:
    """A slow camera in one worker holds back neither that worker's other cameras nor the other worker's."""
    slow = _row(sim, 0)
    _post(sim, f"/cameras/{slow['id']}/faults", {"latency_ms": 400}, method="PATCH")
    try:
        lines, running_after_first, rc = agent_streaming("inventory", "--targets", str(sim.targets), "--json",
                                                         "--workers", "2", cwd=tmp_path)  # fmt: skip
    finally:
        urlopen(Request(f"{sim.control}/cameras/{slow['id']}/faults", method="DELETE"), timeout=5).close()
    assert rc == 1
    assert running_after_first, "the first record came only when the whole sweep had ended"
    assert len(_by_camera(lines)) == len(sim.truth)
    assert lines[-1]["host"] == slow["host"]


def _camera(sim: Sim, i: int) -> dict[str, Any]:
    state: dict[str, Any] = sim.get(f"/cameras/{_row(sim, i)['id']}")
    return state


def test_a_refusal_in_a_worker_spares_the_camera_in_every_later_run(sim: Sim, tmp_path: Path) -> None:
    """At most one failed login per camera, whatever the number of workers: the second --workers 2 run (and a
    --workers 1 run after it) sends the refused credential nowhere."""
    before = _camera(sim, WRONG)
    args = ("inventory", "--targets", str(sim.targets), "--json", "--state", str(tmp_path / "state.json"))
    rc, lines, _ = agent(*args, "--workers", "2", cwd=tmp_path)
    assert rc == 1 and len(lines) == len(sim.truth)
    after_first = _camera(sim, WRONG)
    assert after_first["failed_logins"] == before["failed_logins"] + 1
    assert after_first["traffic"]["credentials"] > before["traffic"].get("credentials", 0)
    memory = tmp_path / "state.json.auth.jsonl"
    assert memory.stat().st_mode & 0o777 == 0o600
    wrong = _row(sim, WRONG)
    assert [json.loads(line)["camera"] for line in memory.read_text().splitlines()[1:]] == [
        f"{wrong['host']}:{wrong['port']}"
    ]
    for workers in ("2", "1"):
        rc, lines, _ = agent(*args, "--workers", workers, cwd=tmp_path)
        assert rc == 1 and len(lines) == len(sim.truth)
        now = _camera(sim, WRONG)
        assert now["traffic"]["credentials"] == after_first["traffic"]["credentials"], f"--workers {workers}"
        assert now["failed_logins"] == after_first["failed_logins"]
        refused = next(o for o in lines if o["host"] == wrong["host"])
        assert refused["errors"][0]["message"].startswith("not sent: refused on")


def _workers_of(pid: int) -> dict[str, int]:
    """The agent's worker processes by their --shard argument (i/n)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))
        if ppid == pid and b"agent.inventory_shards" in argv:
            out[argv[argv.index(b"--shard") + 1].decode()] = int(entry.name)
    return out


def test_a_killed_worker_costs_its_unread_cameras_only(sim: Sim, tmp_path: Path) -> None:
    """Worker 1/2 is killed while it reads a slow camera: the parent does not hang, the other worker's cameras
    are all read, every camera has its line, the unread ones fail with class internal, and the exit code says so."""
    slow = _row(sim, 0)  # row 0 is in shard 1/2 (round robin)
    _post(sim, f"/cameras/{slow['id']}/faults", {"latency_ms": 3000}, method="PATCH")
    try:
        proc = subprocess.Popen([AGENT, "inventory", "--targets", str(sim.targets), "--json", "--workers", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        first = json.loads(proc.stdout.readline())  # the workers are running
        workers = _workers_of(proc.pid)
        assert "1/2" in workers  # it reads the slow camera; 2/2 may have finished its whole shard already
        os.kill(workers["1/2"], signal.SIGKILL)
        rest = [json.loads(line) for line in proc.stdout if line.strip()]
        rc = proc.wait(timeout=60)
        err = proc.stderr.read()
    finally:
        urlopen(Request(f"{sim.control}/cameras/{slow['id']}/faults", method="DELETE"), timeout=5).close()
    lines = _by_camera([first, *rest])
    assert len(lines) == len(sim.truth)
    assert rc == 1
    assert "inventory worker 1/2 was killed by SIGKILL" in err
    rows = sim.targets.read_text().splitlines()[1:]
    lost = {cid for cid, obj in lines.items() if any(e["error_class"] == "internal" for e in obj["errors"])}
    assert f"{slow['host']}:{slow['port']}" in lost
    shard2 = {":".join(r.split(",")[:2]) for r in rows[1::2]}
    assert not lost & shard2, "the other worker's cameras were all read"
    for cid in lost:
        assert lines[cid]["status"] == "failed" and lines[cid]["reachable"] is False
        assert "not read: inventory worker 1/2 was killed by SIGKILL" in lines[cid]["errors"][0]["message"]
    passwords = [r.split(",")[3] for r in rows]
    assert not any(p in err for p in passwords)
