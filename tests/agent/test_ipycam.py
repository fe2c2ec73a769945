"""camfleet-agent against ipycam, an ONVIF camera nobody here wrote (PyPI, its own virtualenv, on loopback).

ipycam demands WS-UsernameToken authentication on every ONVIF call (GetSystemDateAndTime included), accepts a
token only within 300 s of its own clock, answers every other path with HTTP Basic only, and implements a
handful of device operations (the rest fault "Action not supported" with HTTP 200). It routes by substring,
so the device GetServiceCapabilities gets its PTZ capabilities: the agent's capability gates say "unknown" and
each read is tried (and answered unsupported). It has no device-management Set operation to apply.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest

from tests.camsim.conftest import find_free_port
from tests.timing import scaled

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
VENV_PYTHON = REPO / ".venv-ipycam" / "bin" / "python"
SERVER = Path(__file__).with_name("ipycam_server.py")
AGENT = str(Path(sys.executable).with_name("camfleet-agent"))
PASSWORD = "Ipy-cam-2024"
HOST = f"127.0.77.{os.getpid() % 250 + 1}"  # one address per test run: parallel helpers' runs do not collide


@dataclass
class Ipycam:
    host: str
    port: int
    control: str
    dir: Path

    def counters(self, **change: object) -> dict[str, Any]:
        """GET the server's counters; with `change` (offset=..., reset=1) POST it first."""
        query = "&".join(f"{k}={v}" for k, v in change.items())
        req = Request(f"{self.control}/counters?{query}", method="POST" if change else "GET")
        with urlopen(req, timeout=5) as r:
            data: dict[str, Any] = json.loads(r.read())
        return data

    def state(self) -> dict[str, Any]:
        """ipycam's own configuration (CameraConfig, password left out), read in its process."""
        with urlopen(f"{self.control}/state", timeout=5) as r:
            data: dict[str, Any] = json.loads(r.read())
        return data

    def targets(self, password: str = PASSWORD) -> Path:
        path = self.dir / f"targets-{abs(hash(password))}.csv"
        path.write_text(f"host,port,username,password\n{self.host},{self.port},admin,{password}\n")
        return path


def _venv() -> Path:
    """The ipycam virtualenv (.ci/run makes it first; a developer's first run makes it here, once)."""
    if not VENV_PYTHON.exists():
        done = subprocess.run(
            [str(REPO / "scripts" / "ipycam-venv")], capture_output=True, text=True, timeout=900
        )
        if done.returncode != 0:
            msg = f"cannot create the ipycam virtualenv: {done.stderr[-2000:]}"
            if os.environ.get("CI"):
                pytest.fail(msg)
            pytest.skip(msg)
    return VENV_PYTHON


@pytest.fixture(scope="module")
def ipycam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ipycam]:
    python = _venv()
    port = find_free_port()
    where = tmp_path_factory.mktemp("ipycam")
    proc = subprocess.Popen(
        [str(python), str(SERVER), "--host", HOST, "--port", str(port), "--password", PASSWORD],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=where,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()  # blocks until ready (or the process died: empty line)
        assert line.startswith("ready "), f"ipycam did not start: {line}{proc.stdout.read()[-2000:]}"
        control = line.split("control=", 1)[1].strip()
        yield Ipycam(HOST, port, control, where)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def agent(*args: str, cwd: Path) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run(
        [AGENT, *args], capture_output=True, text=True, timeout=scaled(120), cwd=cwd, check=False
    )
    return (
        proc.returncode,
        [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")],
        proc.stderr,
    )


def test_inventory_reads_ipycam_and_sends_no_credential_where_it_does_not_belong(ipycam: Ipycam) -> None:
    ipycam.counters(reset=1, offset=0)
    rc, lines, err = agent("inventory", "--targets", str(ipycam.targets()), "--json", cwd=ipycam.dir)
    assert rc == 0, (err, lines)
    [rec] = lines
    assert rec["status"] == "ok" and rec["errors"] == []
    assert (rec["manufacturer"], rec["model"]) == ("PythonCam", "VirtualCam-1")
    assert rec["serial"] and rec["firmware"]
    # Every vendor API answered with a Basic challenge: not here, nothing sent, never an auth failure.
    assert set(rec["vendor_apis"]) == {"hikvision", "dahua", "axis"}
    for api in rec["vendor_apis"].values():
        assert api == {"status": "absent", "reason": "server offered Basic only; nothing sent",
                       "credentials_sent": False}  # fmt: skip
    # Operations ipycam does not implement are answers ("unsupported"), not errors; unread fields are unknown.
    assert rec["capabilities"]["IPFilter"] is False
    seen = ipycam.counters()
    assert seen["rejected_logins"] == 0 and seen["credentials_to_foreign_path"] == 0


def test_plans_against_ipycam_report_unsupported_and_the_goal(ipycam: Ipycam) -> None:
    ipycam.counters(reset=1, offset=0)
    rc, lines, err = agent(
        "plan", "disable_cloud", "--targets", str(ipycam.targets()), "--json", cwd=ipycam.dir
    )
    assert rc == 0, (err, lines)
    [cloud] = lines
    assert cloud["dry_run"] is True and cloud["errors"] == []
    rows = {s["setting"]: s for s in cloud["settings"]}
    assert set(rows) == {"onvif.dyndns", "onvif.zero_configuration", "onvif.discovery_mode"}
    assert {s["outcome"] for s in rows.values()} == {"unsupported"}
    # Its discovery mode cannot be read: that is unknown exposure, not a reached goal.
    assert cloud["goal"]["state"] == "partly_reached"
    assert any("WS-Discovery" in r for r in cloud["goal"]["residual_exposure"])

    rc, lines, err = agent("plan", "restrict_network", "--allow", "127.0.8.10", "--targets",
                           str(ipycam.targets()), "--json", cwd=ipycam.dir)  # fmt: skip
    assert rc == 0, (err, lines)
    [net] = lines
    [filt] = [s for s in net["settings"] if s["setting"].endswith("ip_filter")]
    assert filt["outcome"] == "unsupported"  # said, not silently dropped
    assert net["goal"]["state"] == "not_reachable"
    assert {s["outcome"] for s in net["settings"]} <= {"unsupported", "already", "would_change"}
    assert ipycam.counters()["rejected_logins"] == 0


def test_restrict_network_without_an_allow_list_is_a_usage_error(ipycam: Ipycam) -> None:
    before = ipycam.counters()["requests"]
    rc, _, err = agent("plan", "restrict_network", "--targets", str(ipycam.targets()), cwd=ipycam.dir)
    assert rc == 2 and "--allow" in err and "recorder" in err
    assert ipycam.counters()["requests"] == before  # refused before any traffic


def test_a_wrong_password_is_exactly_one_rejected_login(ipycam: Ipycam) -> None:
    ipycam.counters(reset=1, offset=0)
    rc, lines, err = agent("inventory", "--targets", str(ipycam.targets("not-the-password")), "--json",
                           cwd=ipycam.dir)  # fmt: skip
    assert rc == 2, (err, lines)
    [rec] = lines
    assert rec["status"] == "failed"
    assert [e["error_class"] for e in rec["errors"]] == ["auth"]
    assert "WS-UsernameToken rejected" in rec["errors"][0]["message"]
    assert ipycam.counters()["rejected_logins"] == 1  # counted in ipycam itself

    # The engineer runs it again with the same password: the refusal was kept beside --state
    # (agent.auth_memory), so nothing is presented and the camera counts no second failure.
    rc, lines, err = agent("inventory", "--targets", str(ipycam.targets("not-the-password")), "--json",
                           cwd=ipycam.dir)  # fmt: skip
    assert rc == 2, (err, lines)
    [rec] = lines
    assert [e["error_class"] for e in rec["errors"]] == ["auth"]
    assert rec["errors"][0]["message"].startswith("not sent: refused on "), rec["errors"]
    assert ipycam.counters()["rejected_logins"] == 1
    memory = ipycam.dir / "camfleet-agent-state.json.auth.jsonl"
    assert memory.stat().st_mode & 0o777 == 0o600
    assert "not-the-password" not in memory.read_text()

    # The right password is a new question: it goes out, works, and the camera leaves the memory.
    rc, lines, err = agent("inventory", "--targets", str(ipycam.targets()), "--json", cwd=ipycam.dir)
    assert rc == 0, (err, lines)
    assert ipycam.counters()["rejected_logins"] == 1
    assert len(memory.read_text().splitlines()) == 1  # the header alone: nothing held back


@pytest.mark.parametrize("offset_h", [2, -3])
def test_inventory_works_with_the_camera_clock_hours_off(ipycam: Ipycam, offset_h: int) -> None:
    """ipycam wants credentials even for GetSystemDateAndTime: the offset comes from the Date header of its
    refusal, and the token's Created is shifted by it (outside ±300 s of ipycam's clock it would be refused)."""
    ipycam.counters(reset=1, offset=offset_h * 3600)
    try:
        rc, lines, err = agent("inventory", "--targets", str(ipycam.targets()), "--json", cwd=ipycam.dir)
    finally:
        after = ipycam.counters(offset=0)
    assert rc == 0, (err, lines)
    [rec] = lines
    assert rec["status"] == "ok" and rec["model"] == "VirtualCam-1"
    assert abs(rec["clock_offset_s"] - offset_h * 3600) < 30
    assert after["rejected_logins"] == 0


#: ONVIF operations that change a device (agent/onvif_session._WRITE_PREFIXES, and the reboot/reset pair).
WRITES = ("Set", "Add", "Remove", "Create", "Delete", "SystemReboot")
#: Per setting the agent plans, the read ipycam 1.3.0 answers "Action not supported" (ipycam/onvif.py routes
#: only Get* identity/media/PTZ operations); it implements none of the matching Set operations either.
READS = {
    "restrict_network": {"onvif.ip_filter": "GetIPAddressFilter", "onvif.gateway": "GetNetworkDefaultGateway",
                         "onvif.dns": "GetDNS", "onvif.ntp": "GetNTP", "onvif.protocols": "GetNetworkProtocols"},
    "disable_cloud": {"onvif.dyndns": "GetDynamicDNS", "onvif.zero_configuration": "GetZeroConfiguration",
                      "onvif.discovery_mode": "GetDiscoveryMode"},
}  # fmt: skip
APPLY = {
    # Loopback only (the allow list, the NTP server and the second source address for the isolation proof).
    "restrict_network": [
        "--allow",
        "127.0.8.10",
        "--ntp",
        "127.0.0.1",
        "--keep",
        "RTSP",
        "--second-source",
        "127.0.9.1",
    ],
    "disable_cloud": [],
}
# (goal state, what the residual exposure must name): without an IP filter restrict_network cannot get there;
# disable_cloud has nothing to switch off, but the WS-Discovery mode it cannot read is unknown exposure.
GOAL = {
    "restrict_network": ("not_reachable", "IP filter"),
    "disable_cloud": ("partly_reached", "WS-Discovery"),
}


def _writes(counters: dict[str, Any]) -> dict[str, int]:
    return {op: n for op, n in counters["actions"].items() if op.startswith(WRITES)}


def _fresh_read(ipycam: Ipycam) -> dict[str, Any]:
    """What the agent's inventory reads from ipycam over ONVIF now (the fields an action could touch)."""
    rc, lines, err = agent("inventory", "--targets", str(ipycam.targets()), "--json", cwd=ipycam.dir)
    assert rc == 0, (err, lines)
    [rec] = lines
    keys = ("manufacturer", "model", "serial", "firmware", "network", "users", "capabilities", "cloud")
    return {k: rec[k] for k in keys}


@pytest.mark.parametrize("action", ["restrict_network", "disable_cloud"])
def test_apply_and_rollback_against_ipycam_write_nothing_it_cannot_change_and_say_so(
    ipycam: Ipycam, tmp_path: Path, action: str
) -> None:
    """ipycam 1.3.0 has no device-management Set operation at all (see ipycam_server's docstring): an honest
    apply reports every setting unsupported, sends no write, takes no snapshot, and does not claim the goal;
    rollback then has nothing to restore and says so. Checked on ipycam's side: the operations it executed and
    faulted, its configuration, and a fresh ONVIF read."""
    ipycam.counters(reset=1, offset=0)
    config0, read0 = ipycam.state(), _fresh_read(ipycam)
    state = tmp_path / "state.json"
    common = ["--targets", str(ipycam.targets()), "--json", "--state", str(state)]
    goal_state, exposure = GOAL[action]
    reports = []
    for _ in range(2):  # a second identical apply: the same answers, and still nothing reaches the camera
        ipycam.counters(reset=1)
        rc, lines, err = agent("apply", action, *APPLY[action], *common, cwd=ipycam.dir)
        assert rc == 1, (err, lines)  # partial: the goal is not reached, and that is no success
        [rep] = lines
        assert (rep["status"], rep["ok"], rep["dry_run"], rep["errors"]) == ("partial", False, False, [])
        assert rep["goal"]["state"] == goal_state
        assert any(r.startswith(exposure) for r in rep["goal"]["residual_exposure"]), rep["goal"]
        rows = {s["setting"]: s for s in rep["settings"]}
        assert set(rows) == set(READS[action])
        unsupported = {n for n, s in rows.items() if s["outcome"] == "unsupported"}
        assert unsupported == set(rows), f"ipycam {rows} now implements something: check it changed there"
        assert all(s["before"] is None and s["after"] is None for s in rows.values())
        assert rep["snapshot"] == {}
        if action == "restrict_network":
            # No filter on the camera: no isolation to prove, and none claimed.
            assert rep["isolation"] == {"source": "127.0.9.1", "result": "not_applicable"}
        seen = ipycam.counters()
        # Each "unsupported" is a read ipycam itself answered with a fault; not one write was sent to it.
        for setting, op in READS[action].items():
            assert seen["faults"].get(op, 0) >= 1, (setting, seen["actions"])
        assert _writes(seen) == {}, seen["actions"]
        assert seen["rejected_logins"] == 0 and seen["credentials_to_foreign_path"] == 0
        assert seen["config_saves"] == 0
        # No write, so no snapshot was stored: the state file was not even created.
        assert not state.exists()
        reports.append(rep)
    assert reports[0]["settings"] == reports[1]["settings"] and reports[0]["goal"] == reports[1]["goal"]
    assert ipycam.state() == config0
    assert _fresh_read(ipycam) == read0

    ipycam.counters(reset=1)
    for _ in range(2):
        rc, lines, err = agent("rollback", *common, cwd=ipycam.dir)
        # Nothing was changed, so there is nothing to restore: said (exit 2, as for any state file without a
        # snapshot), and not one request reaches the camera.
        assert (rc, lines) == (2, []) and "no snapshot to roll back" in err, err
        assert f"there is no state file at {state}" in err
        assert not state.exists()  # a rollback with nothing to do leaves no state file behind
    seen = ipycam.counters()
    assert seen["requests"] == 0 and seen["rejected_logins"] == 0
    assert ipycam.state() == config0
