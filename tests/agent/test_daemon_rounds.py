"""The daemon's inventory rounds: full reads at the site's cadence, cheap checks in between, re-reads of what they flag."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from agent.config import parse_config
from agent.daemon import AgentDaemon
from agent.outcome import CameraOutcome, SnapshotSink
from agent.state import JournalEntry
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.keys import Keyring, SigningKey
from tests.timing import scaled

IDS = [f"127.0.9.{i}:80" for i in range(1, 6)]


class Recorder:
    """Stand-in camera layer (a leaf): records which reads the daemon asks for; camera 3 changes once."""

    def __init__(self) -> None:
        self.full_reads: list[list[str]] = []
        self.checks = 0
        self.flag_once = [IDS[2]]
        self.second_full_round = asyncio.Event()

    def camera_ids(self) -> list[str]:
        return list(IDS)

    async def inventory(self, camera_ids: Sequence[str] | None = None) -> list[pb.CameraRecord]:
        ids = list(camera_ids) if camera_ids is not None else list(IDS)
        self.full_reads.append(ids)
        if len([r for r in self.full_reads if r == IDS]) >= 2:
            self.second_full_round.set()
        return [pb.CameraRecord(camera_id=c, reachable=True) for c in ids]

    async def check(self, camera_ids: Sequence[str] | None = None) -> list[str]:
        self.checks += 1
        flagged, self.flag_once = self.flag_once, []
        return flagged

    async def execute(self, cmd: pb.Command, camera_id: str, on_snapshot: SnapshotSink) -> CameraOutcome:
        raise AssertionError("no command in this test")

    async def reconcile(self, entry: JournalEntry, cmd: pb.Command) -> CameraOutcome:
        raise AssertionError("no command in this test")


async def test_checks_between_full_rounds_and_only_flagged_cameras_reread(tmp_path: Path) -> None:
    ring = tmp_path / "controller-keyring.json"
    ring.write_text(Keyring.of(SigningKey.generate().public_key).to_json())
    cfg = parse_config({"agent": {"id": "agent-t", "state_dir": str(tmp_path / "state")},
                        "keys": {"controller_keyring": str(ring)},
                        "cameras": {"inventory_interval_s": 1.5, "check_interval_s": 0.1}}, tmp_path)  # fmt: skip
    executor = Recorder()
    daemon = AgentDaemon(cfg, executor)
    loop = asyncio.create_task(daemon._inventory_loop())
    try:
        await asyncio.wait_for(executor.second_full_round.wait(), scaled(20))
    finally:
        daemon.stop()
        await asyncio.gather(loop, return_exceptions=True)
        daemon.close()
    first_full, flagged, *rest = executor.full_reads
    assert first_full == IDS
    assert flagged == [IDS[2]]  # the camera a check flagged, read alone
    assert rest and rest[-1] == IDS  # the next full round came at the site's cadence
    assert all(r == IDS for r in rest)  # no other partial read: unflagged cameras cost checks only
    assert executor.checks >= 5  # many cheap rounds in 1.5 s
