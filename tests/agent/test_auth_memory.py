"""Refusals kept between runs (agent.auth_memory): a credential a camera refused is not presented again by the next
run of the CLI or a restarted daemon, and the file holds no secret."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from agent.auth_guard import AuthGuard, Block, Withheld
from agent.auth_memory import UNKNOWN_FOR_S, AuthMemory
from agent.credentials import Credentials
from agent.errors import AuthFailed, Unreachable
from agent.fleet import CameraFleet, camera_id_of
from agent.targets import Target
from protos.camfleet.v1 import camfleet_pb2 as pb
from tests.agent.conftest import PASSWORD, make_test_camera
from tests.camsim.conftest import run_sim

WRONG = Credentials("admin", "wrong-horse-battery")


def _refused_guard(memory: AuthMemory, cid: str = "10.0.0.1:80") -> AuthGuard:
    guard = AuthGuard(WRONG)
    memory.attach(cid, guard)
    guard.accept("onvif")
    guard.refuse("isapi", AuthFailed("HTTP 401 after digest", operation="isapi"))
    return guard


def test_a_refusal_is_restored_for_the_same_credential_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "auth.jsonl"
    _refused_guard(AuthMemory(path))
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert WRONG.password not in path.read_text()

    again = AuthGuard(WRONG)
    AuthMemory(path).attach("10.0.0.1:80", again)
    again.admit("onvif")  # it accepted this credential before: no failed login can come of it
    with pytest.raises(Withheld, match=r"not sent: refused on .* by isapi"):
        again.admit("cgi-bin")

    other = AuthGuard(Credentials("admin", "the-new-one"))
    AuthMemory(path).attach("10.0.0.1:80", other)
    other.admit("cgi-bin")  # a new password is a new question
    elsewhere = AuthGuard(WRONG)
    AuthMemory(path).attach("10.0.0.2:80", elsewhere)
    elsewhere.admit("cgi-bin")  # another camera never refused it


def test_success_with_new_credentials_forgets_the_camera_and_flush_compacts(tmp_path: Path) -> None:
    path = tmp_path / "auth.jsonl"
    _refused_guard(AuthMemory(path), "a:80")
    _refused_guard(AuthMemory(path), "b:80")
    memory = AuthMemory(path)
    guard = AuthGuard(WRONG)
    memory.attach("a:80", guard)
    guard.bind(Credentials("admin", PASSWORD))
    guard.accept("onvif")
    memory.flush()
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["camera"] == "b:80"
    assert AuthMemory(path).blocked() == ["b:80"]


def test_workers_relay_their_refusals_to_the_one_writer_of_the_file(tmp_path: Path) -> None:
    """Two workers (agent.inventory_shards) on a site with no memory file yet: each refusal reaches the file at once,
    neither overwrites the other's, and their fingerprints use the file's salt (the next run recognises both)."""
    path = tmp_path / "auth.jsonl"
    parent = AuthMemory(path)
    workers = [
        AuthMemory.relayed(json.loads(json.dumps(parent.share([cid]))), parent.apply)
        for cid in ("a:80", "b:80")
    ]
    _refused_guard(workers[0], "a:80")
    assert [json.loads(line)["camera"] for line in path.read_text().splitlines()[1:]] == ["a:80"]
    _refused_guard(workers[1], "b:80")
    parent.flush()
    assert path.stat().st_mode & 0o777 == 0o600
    nxt = AuthMemory(path)
    for cid in ("a:80", "b:80"):
        guard = AuthGuard(WRONG)
        nxt.attach(cid, guard)
        with pytest.raises(Withheld):
            guard.admit("cgi-bin")
    # What the next run's workers are given holds the block too.
    again = AuthGuard(WRONG)
    AuthMemory.relayed(nxt.share(["b:80"]), nxt.apply).attach("b:80", again)
    with pytest.raises(Withheld):
        again.admit("cgi-bin")


def test_a_lost_answer_holds_back_for_an_hour_not_forever(tmp_path: Path) -> None:
    path = tmp_path / "auth.jsonl"
    memory = AuthMemory(path)
    fresh, old = AuthGuard(WRONG), AuthGuard(WRONG)
    memory.attach("fresh:80", fresh)
    memory.attach("old:80", old)
    fresh.lose("onvif", Unreachable("connection closed before the answer"))
    old.lose("onvif", Unreachable("connection closed before the answer"))
    assert old.block is not None
    old.restore(Block("unknown", time.time() - UNKNOWN_FOR_S - 60, "onvif", "timeout"))
    old._changed()
    later = AuthMemory(path)
    g1, g2 = AuthGuard(WRONG), AuthGuard(WRONG)
    later.attach("fresh:80", g1)
    later.attach("old:80", g2)
    with pytest.raises(Withheld, match="never came"):
        g1.admit("onvif")
    g2.admit("onvif")


def test_a_damaged_file_costs_the_lines_it_lost_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "auth.jsonl"
    _refused_guard(AuthMemory(path), "a:80")
    with open(path, "a") as f:
        f.write('{"camera": "b:80", "entr')  # a kill in the middle of a line
    guard = AuthGuard(WRONG)
    AuthMemory(path).attach("a:80", guard)
    with pytest.raises(Withheld):
        guard.admit("isapi")

    path.write_text("not json\n")
    with caplog.at_level(logging.WARNING, logger="agent.auth_memory"):
        memory = AuthMemory(path)
    assert memory.blocked() == [] and "not understood" in caplog.text


@pytest.mark.integration
async def test_a_second_run_presents_no_refused_credential_to_the_camera(tmp_path: Path) -> None:
    """Two fleets one after the other (two CLI runs, or a daemon restart) share the memory: camsim counts one
    failed login, where the second run used to add its own."""
    cam = make_test_camera("hikvision", address="127.0.13.21")
    path = tmp_path / "auth.jsonl"
    async with run_sim([cam]):
        cid = camera_id_of(cam.network.address, cam.port)  # the port is bound by now
        for _run in range(2):
            async with CameraFleet(
                [Target(cam.network.address, cam.port, WRONG)], auth_memory=AuthMemory(path)
            ) as fleet:
                [res] = await fleet.inventory_results([cid])
                assert [e.error_class for e in res.record.errors] == [pb.ERROR_CLASS_AUTH]
        assert cam.failed_logins == 1
        assert res.record.errors[0].message.startswith("not sent: refused on ")
        async with CameraFleet(
            [Target(cam.network.address, cam.port, Credentials("admin", PASSWORD))],
            auth_memory=AuthMemory(path),
        ) as fleet:
            [res] = await fleet.inventory_results([cid])
            assert res.status == "ok", res.to_json()["errors"]
    assert AuthMemory(path).blocked() == []
