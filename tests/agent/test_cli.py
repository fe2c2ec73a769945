"""The real camfleet-agent console script against a camsim subprocess: JSON output, exit codes, apply/rollback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest

from tests.camsim.conftest import find_free_port
from tests.camsim_process import camsim_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AGENT = str(Path(sys.executable).with_name("camfleet-agent"))


@dataclass
class Sim:
    dir: Path
    control: str
    targets: Path
    truth: list[dict[str, Any]]

    def get(self, path: str) -> Any:
        with urlopen(self.control + path, timeout=5) as r:
            return json.loads(r.read())


def agent(*args: str, cwd: Path) -> tuple[int, list[dict[str, Any]], str]:
    """Run the console script; returns (exit code, parsed JSON lines, stderr)."""
    proc = subprocess.run([AGENT, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc.returncode, lines, proc.stderr


def agent_streaming(*args: str, cwd: Path) -> tuple[list[dict[str, Any]], bool, int]:
    """Run the console script and read its JSON lines as they come; returns (lines, whether it was still running
    when the first line arrived, exit code)."""
    proc = subprocess.Popen(
        [AGENT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd
    )
    assert proc.stdout is not None
    try:
        first = json.loads(proc.stdout.readline())
        running_after_first = proc.poll() is None
        rest = [json.loads(line) for line in proc.stdout if line.strip()]
        proc.communicate(timeout=120)  # stderr too: an unread pipe could block a chatty process
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return [first, *rest], running_after_first, proc.returncode


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    out = tmp_path_factory.mktemp("camsim")
    with camsim_process(out, "--cameras", "8", "--seed", "5", "--mix", "hikvision=3,dahua=2,axis=1,generic=1,oem=2",
                        "--base-address", "127.0.10.1", "--port", str(find_free_port()), "--no-discovery") as control:  # fmt: skip
        yield Sim(out, control, out / "targets.csv", json.loads((out / "truth.json").read_text()))


def test_inventory_json_has_one_object_per_camera_with_origin(sim: Sim) -> None:
    rc, lines, _ = agent("inventory", "--targets", str(sim.targets), "--json", cwd=sim.dir)
    assert rc == 0
    assert len(lines) == len(sim.truth)
    truth = {(t["host"], t["port"]): t for t in sim.truth}
    for obj in lines:
        for key in ("host", "port", "manufacturer", "model", "firmware", "origin", "cloud", "errors"):
            assert key in obj
        t = truth[(obj["host"], obj["port"])]
        assert obj["model"] == t["model"] and obj["firmware"] == t["firmware"]
        o = obj["origin"]
        assert set(o) >= {"manufacturer", "covered", "confidence", "evidence"}
        if t["true_manufacturer"] != "generic":
            assert o["manufacturer"] == t["true_manufacturer"], obj["host"]
            assert o["covered"] is (t["true_manufacturer"] in ("hikvision", "dahua"))
            assert o["evidence"]
        assert obj["errors"] == []
        assert all(v in ("on", "off", "unsupported", "unknown") for v in obj["cloud"].values())


def test_plan_writes_nothing_apply_is_idempotent_and_rollback_restores(sim: Sim) -> None:
    before = {c["id"]: (c["network"], c["features"]) for c in sim.get("/cameras")}
    writes0 = sim.get("/stats")["writes"]
    rc, lines, _ = agent("plan", "disable_cloud", "--targets", str(sim.targets), "--json", cwd=sim.dir)
    assert rc == 0 and len(lines) == len(sim.truth)
    assert all(obj["dry_run"] for obj in lines)
    assert any(s["outcome"] == "would_change" for obj in lines for s in obj["settings"])
    assert sim.get("/stats")["writes"] == writes0

    state = sim.dir / "state.json"
    common = ["--targets", str(sim.targets), "--json", "--state", str(state)]
    rc, lines, err = agent("apply", "disable_cloud", *common, cwd=sim.dir)
    assert rc == 0, (err, lines)
    rc, lines, err = agent("apply", "restrict_network", "--allow", "127.0.8.10", "--keep", "RTSP",
                           "--second-source", "127.0.9.1", *common, cwd=sim.dir)  # fmt: skip
    # The generic camera has no IP filter at all: the goal is out of its reach, so the run is partial (1).
    unfiltered = {o["host"] for o in lines if o["goal"]["state"] == "not_reachable"}
    assert unfiltered == {t["host"] for t in sim.truth if t["true_manufacturer"] == "generic"}, lines
    assert rc == 1, (err, [o for o in lines if not o["ok"]])
    assert all(o["ok"] for o in lines if o["host"] not in unfiltered)
    assert all(o["isolation"]["result"] in ("refused", "not_applicable") for o in lines)
    stats = sim.get("/stats")
    assert stats["cloud_reachable"] == 0
    writes1 = stats["writes"]
    # Second run: already everywhere, not one write reaches a camera.
    snapshots = json.loads(state.read_text())["snapshots"]
    for action in (["disable_cloud"], ["restrict_network", "--allow", "127.0.8.10", "--keep", "RTSP"]):
        rc, lines, _ = agent("apply", *action, *common, cwd=sim.dir)
        assert rc in (0, 1)
        assert {s["outcome"] for o in lines for s in o["settings"]} <= {"already", "unsupported"}
    assert sim.get("/stats")["writes"] == writes1
    # A repeated apply that changed nothing added no snapshot.
    assert json.loads(state.read_text())["snapshots"] == snapshots

    # Each rollback undoes the last apply not undone yet, from the values found just before it.
    rc, lines, err = agent("rollback", *common, cwd=sim.dir)
    assert rc == 0, (err, lines)
    assert {o["action"] for o in lines} == {"rollback"}
    mid = {c["id"]: c["network"]["ip_filter"] for c in sim.get("/cameras")}
    assert mid == {cid: net["ip_filter"] for cid, (net, _) in before.items()}
    rc, lines, err = agent("rollback", *common, cwd=sim.dir)
    assert rc == 0, (err, lines)
    after = {c["id"]: (c["network"], c["features"]) for c in sim.get("/cameras")}
    assert after == before
    rc, _, err = agent("rollback", *common, cwd=sim.dir)
    assert rc == 0 and "nothing left to roll back" in err


def test_exit_codes_partial_failed_and_usage(sim: Sim, tmp_path: Path) -> None:
    dead = f"127.0.10.200,{find_free_port()},admin,nope\n"
    partial = tmp_path / "partial.csv"
    partial.write_text(sim.targets.read_text() + dead)
    rc, lines, _ = agent("inventory", "--targets", str(partial), "--json", "--timeout", "1", cwd=tmp_path)
    assert rc == 1
    bad = [o for o in lines if o["errors"]]
    assert len(bad) == 1 and bad[0]["errors"][0]["error_class"] == "unreachable"
    failed = tmp_path / "failed.csv"
    failed.write_text("host,port,username,password\n" + dead)
    rc, _, _ = agent("inventory", "--targets", str(failed), "--json", "--timeout", "1", cwd=tmp_path)
    assert rc == 2
    # Ranges only from configuration or an explicit allow flag.
    rc, _, err = agent("scan", "--range", "127.0.10.0/29", cwd=tmp_path)
    assert rc == 2 and "configur" in err
    rc, _, err = agent("scan", "--range", "127.0.10.0/24", "--allow-range", "127.0.10.0/29", cwd=tmp_path)
    assert rc == 2 and "not inside" in err
    rc, _, _ = agent("bogus", cwd=tmp_path)
    assert rc == 2


def test_human_output_is_a_table_with_progress(sim: Sim) -> None:
    proc = subprocess.run([AGENT, "inventory", "--targets", str(sim.targets)], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0
    header = proc.stdout.splitlines()[0].split()
    assert header[:4] == ["camera", "brand", "model", "firmware"]
    assert f"{len(sim.truth)}/{len(sim.truth)}" in proc.stderr
    passwords = [line.split(",")[3] for line in sim.targets.read_text().splitlines()[1:]]
    assert not any(p in proc.stdout + proc.stderr for p in passwords)


def test_vault_import(sim: Sim, tmp_path: Path) -> None:
    key = tmp_path / "vault.key"
    key.write_text("A" * 43 + "=\n")
    key.chmod(0o600)
    vault = tmp_path / "creds.vault"
    proc = subprocess.run([AGENT, "vault", "import", str(sim.targets), "--vault", str(vault), "--vault-key-file",
                           str(key)], capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"imported {len(sim.truth)}" in proc.stdout
    assert vault.exists()
    passwords = [line.split(",")[3] for line in sim.targets.read_text().splitlines()[1:]]
    assert not any(p.encode() in vault.read_bytes() for p in passwords)


def test_inventory_streams_each_camera_as_it_finishes(sim: Sim) -> None:
    """A slow camera does not hold back the others: their JSON lines are on stdout while it is still being read."""
    slow = sim.truth[0]["id"]
    req = Request(f"{sim.control}/cameras/{slow}/faults", data=json.dumps({"latency_ms": 400}).encode(),
                  method="PATCH", headers={"Content-Type": "application/json"})  # fmt: skip
    urlopen(req, timeout=5).close()
    try:
        lines, running_after_first, rc = agent_streaming("inventory", "--targets", str(sim.targets), "--json",
                                                         cwd=sim.dir)  # fmt: skip
    finally:
        urlopen(Request(f"{sim.control}/cameras/{slow}/faults", method="DELETE"), timeout=5).close()
    assert rc == 0
    assert running_after_first, "the first record came only when the whole sweep had ended"
    assert len(lines) == len(sim.truth)
    assert lines[-1]["host"] == next(c["host"] for c in sim.truth if c["id"] == slow)
