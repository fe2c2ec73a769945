"""Both ONVIF read paths (zeep and agent.onvif_read) over the same camsim fleet give the same records, field by field."""

from __future__ import annotations

import collections
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from agent import http as agent_http
from agent.credentials import Credentials
from agent.fleet import CameraFleet
from agent.targets import Target
from camsim.cli import DEFAULT_MIX
from camsim.export import admin_user
from camsim.fleet import generate_fleet, parse_mix
from protos.camfleet.v1 import camfleet_pb2 as pb
from tests.camsim.conftest import find_free_port, run_sim


def _comparable(rec: pb.CameraRecord) -> tuple[dict[str, object], float]:
    copy = pb.CameraRecord()
    copy.CopyFrom(rec)
    offset = copy.clock_offset_s
    copy.ClearField("observed_at")
    copy.ClearField("clock_offset_s")
    return MessageToDict(copy), offset


async def test_fast_and_zeep_read_paths_give_the_same_records(monkeypatch: pytest.MonkeyPatch) -> None:
    # The default mix (every personality, digest and WS-UsernameToken-only cameras, OEM rebrands), with an
    # hour of clock skew on some cameras so the WS-Security Created time matters.
    cams = generate_fleet(
        40, parse_mix(DEFAULT_MIX), seed=16, base_address="127.0.16.1", port=find_free_port()
    )
    for cam in cams[::5]:
        cam.clock_skew_s = 3600.0
    targets = [Target(c.network.address, c.port, Credentials(*admin_user(c))) for c in cams]
    # Digest challenges: 401s to authenticated requests that went without a digest answer (no challenge learnt yet)
    # and were then answered; an unauthenticated vendor probe's 401 is an answer, not a challenge.
    challenges: collections.Counter[str] = collections.Counter()
    legs = agent_http.CameraHttp._legs

    async def counting(self: agent_http.CameraHttp, *args: Any) -> agent_http.HttpReply:
        digest = args[5]
        unanswered = digest is not None and digest.challenge is None
        reply = await legs(self, *args)
        if unanswered and digest.challenge is not None:
            challenges[self.host] += 1
        return reply

    monkeypatch.setattr(agent_http.CameraHttp, "_legs", counting)
    async with run_sim(cams):
        records = {}
        for path in ("zeep", "fast"):
            challenges.clear()
            async with CameraFleet(targets, concurrency=16, timeout=10.0, read_path=path) as fleet:
                records[path] = {r.record.camera_id: r.record for r in await fleet.inventory_results()}
            # One digest challenge per camera at most: the nonce of the first 401 serves every later request.
            assert challenges and max(challenges.values()) == 1, (path, challenges)
    assert records["zeep"].keys() == records["fast"].keys()
    assert all(r.reachable and r.identity.model for r in records["fast"].values())
    for cid, old in records["zeep"].items():
        (want, want_offset), (got, got_offset) = _comparable(old), _comparable(records["fast"][cid])
        assert got == want, cid
        assert abs(got_offset - want_offset) < 2.0, cid
