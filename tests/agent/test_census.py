"""`camfleet-agent census` against a camsim fleet with recorders and unactivated cameras, graded against truth.json,
and camsim's own count of the credentials it was sent (it must stay 0)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from tests.agent.test_cli import agent
from tests.camsim.conftest import find_free_port
from tests.camsim_process import camsim_process
from tests.timing import scaled

pytestmark = [pytest.mark.integration]

# Other helpers' simulators answer the same multicast groups: this process owns one /24 and grades only that.
NET = f"127.8.{os.getpid() % 250 + 1}"
# And a fleet of its own: two runs of this module at once would otherwise simulate the same MACs and serials,
# which the census rightly takes for the same devices.
SEED = str(100 + os.getpid() % 9000)
# How long the census listens for multicast replies: camsim answers 84 devices' probes one by one, and on a loaded
# 2-core machine the last replies came after a 1 s window closed (devices missing from the grade).
WINDOW = str(scaled(3))


@dataclass
class Sim:
    dir: Path
    control: str
    port: int
    rtsp: int
    tls: int
    truth: list[dict[str, Any]]

    def get(self, path: str) -> Any:
        with urlopen(self.control + path, timeout=5) as r:
            return json.loads(r.read())

    @property
    def reachable(self) -> dict[str, dict[str, Any]]:
        return {t["host"]: t for t in self.truth if t["reachable"]}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    out = tmp_path_factory.mktemp("census")
    port, rtsp, tls = find_free_port(), find_free_port(), find_free_port()
    with camsim_process(out, "--cameras", "80", "--seed", SEED, "--recorders", "4", "--unactivated-share", "0.15",
                        "--base-address", f"{NET}.1", "--port", str(port), "--rtsp-port", str(rtsp),
                        "--tls-port", str(tls)) as control:  # fmt: skip
        yield Sim(out, control, port, rtsp, tls, json.loads((out / "truth.json").read_text()))


def correct(device: dict[str, Any], truth: dict[str, Any]) -> bool:
    """The made-up generic brand has no maker to name: 'unknown' is the right answer for it."""
    want = truth["true_manufacturer"] if truth["true_manufacturer"] != "generic" else "unknown"
    return bool(device["origin"]["manufacturer"] == want)


def census(sim: Sim, *extra: str) -> tuple[int, list[dict[str, Any]], str]:
    rc, lines, err = agent(
        "census", "--interface", "127.0.0.1", "--range", f"{NET}.0/24", "--allow-range", f"{NET}.0/24",
        "--port", str(sim.port), "--rtsp-port", str(sim.rtsp), "--tls-port", str(sim.tls), "--window", WINDOW, "--json",
        *extra,
        cwd=sim.dir,
    )  # fmt: skip
    return rc, [d for d in lines if d["host"].startswith(f"{NET}.")], err


def test_census_attributes_every_device_and_finds_every_unactivated_camera_without_credentials(
    sim: Sim,
) -> None:
    before = sim.get("/stats")
    rc, devices, err = census(sim)
    assert rc == 0, err
    after = sim.get("/stats")
    truth = sim.reachable
    by_host = {d["host"]: d for d in devices}
    assert set(by_host) == set(truth), "every device on the site network, nothing else"
    right = sum(correct(by_host[h], t) for h, t in truth.items())
    assert right / len(truth) >= 0.95, [(h, t["true_manufacturer"], by_host[h]["origin"]) for h, t in truth.items()
                                        if not correct(by_host[h], t)]  # fmt: skip
    unactivated = {h for h, t in truth.items() if not t["activated"]}
    assert unactivated and {h for h, d in by_host.items() if d["activated"] is False} == unactivated
    for h, d in by_host.items():
        t = truth[h]
        assert d["census_status"] in ("identified", "seen")
        if t["kind"] == "recorder":
            assert d["device_class"] == "recorder" and d["channels"] == len(t["channels"])
        for key in (
            "host",
            "port",
            "mac",
            "serial",
            "model",
            "firmware",
            "origin",
            "activated",
            "census_status",
        ):
            assert key in d
        if t["personality"] in ("hikvision", "dahua"):
            assert (d["serial"], d["mac"]) == (t["serial"], t["mac"].upper())
        assert d["origin"]["evidence"], "a verdict always comes with its evidence"
    # camsim counted real traffic, and not one credential in it.
    assert after["requests"] > before["requests"] and after["traffic"].get("rtsp_requests", 0) > 0
    assert after["multicast"]["sadp"]["probes"] > before["multicast"]["sadp"]["probes"]
    assert after["credentials_presented"] == before["credentials_presented"] == 0
    assert all(c["auth_failures"] == {} for c in sim.get("/cameras"))


def test_multicast_only_census_sends_nothing_unicast(sim: Sim) -> None:
    before = sim.get("/stats")["requests"]
    rc, lines, err = agent("census", "--interface", "127.0.0.1", "--window", WINDOW, "--json", cwd=sim.dir)
    assert rc == 0, err
    mine = {d["host"] for d in lines if d["host"].startswith(f"{NET}.")}
    assert mine == set(sim.reachable), [sim.reachable[h] for h in set(sim.reachable) - mine]
    assert sim.get("/stats")["requests"] == before, "no range configured: no HTTP to any device"
    assert "outside the configured ranges" in err


def test_ranges_outside_the_allow_list_are_refused_before_any_traffic(sim: Sim) -> None:
    before = sim.get("/stats")["requests"]
    rc, _, err = agent("census", "--range", f"{NET}.0/24", "--allow-range", f"{NET}.0/28", cwd=sim.dir)
    assert rc == 2 and "not inside any range allowed" in err
    rc, _, err = agent("census", "--interface", "192.0.2.7", cwd=sim.dir)
    assert rc == 2 and "not an address of this host" in err
    assert sim.get("/stats")["requests"] == before


def test_message_allowance_bounds_the_census(sim: Sim) -> None:
    rc, _, err = census(sim, "--max-messages", "40", "--source", "passive")
    assert rc == 0, err
    sent = re.search(r"sent (\{.*?\})", err)
    assert sent and sum(json.loads(sent.group(1).replace("'", '"')).values()) <= 40
    assert "TRUNCATED" in err and "allowance of 40" in err


def test_merge_with_credentials_and_inventory(sim: Sim, tmp_path: Path) -> None:
    rows = (sim.dir / "targets.csv").read_text().splitlines()
    cams = [r for r in rows[1:] if r.split(",")[0].startswith(f"{NET}.")]
    inventoried, credentials_only = cams[:3], cams[3:6]
    (tmp_path / "inv.csv").write_text("\n".join([rows[0], *inventoried]) + "\n")
    (tmp_path / "creds.csv").write_text("\n".join([rows[0], *credentials_only]) + "\n")
    rc, inv, err = agent("inventory", "--targets", str(tmp_path / "inv.csv"), "--json", cwd=sim.dir)
    assert rc in (0, 1), err
    (tmp_path / "inv.jsonl").write_text("\n".join(json.dumps(r) for r in inv) + "\n")
    rc, devices, err = census(sim, "--targets", str(tmp_path / "creds.csv"), "--inventory", str(tmp_path / "inv.jsonl"),
                              "--source", "sadp", "--source", "dhip", "--source", "ws-discovery")  # fmt: skip
    assert rc == 0, err
    status = {d["host"]: (d["census_status"], d["camera_id"]) for d in devices}
    missing = {r.split(",")[0] for r in inventoried + credentials_only} - set(status)
    assert not missing, ([t for t in sim.truth if t["host"] in missing], err)
    for row in inventoried:
        host, port = row.split(",")[:2]
        assert status[host] == ("inventoried", f"{host}:{port}")
    for row in credentials_only:
        host, port = row.split(",")[:2]
        assert status[host] == ("credentials known", f"{host}:{port}")
    others = [
        s for h, s in status.items() if h not in {r.split(",")[0] for r in inventoried + credentials_only}
    ]
    assert others and all(s[0] in ("identified", "seen") for s in others)
