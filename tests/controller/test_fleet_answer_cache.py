"""The cached fleet answer (SQLite and PostgreSQL, two replicas): always the answer computed afresh, computed
again only after a write that changes what it counts, and current on the other replica at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from controller.api import STORE
from controller.app import build_app
from controller.auth import hash_password, new_token, token_hash
from controller.census_api import computations, fleet_answer
from controller.census_ingest import census_rows, channel_rows
from controller.config import ControllerConfig
from controller.fleet_answer import answer
from controller.store import Store
from controller.store.base import CameraRow, UserRow
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.keys import SigningKey
from tests.controller.conftest import Backend, PostgresBackend, SqliteBackend
from tests.controller.test_census_store import channel, record, row


async def afresh(store: Store) -> dict[str, Any]:
    """The answer from every present camera, census device and channel, no cache and no shortcut."""
    return answer(await store.camera_keys(), await store.census_devices(), await store.recorder_channels())


@dataclass
class Fleet:
    """agent-a's cameras as it reports them (by its reference), and the report sequence."""

    cams: dict[str, pb.CameraRecord]
    seq: int = 0

    async def report(
        self,
        store: Store,
        *,
        full: bool = True,
        removed: Sequence[str] = (),
        skip: Sequence[str] = (),
        extra: Callable[[CameraRow], CameraRow] = lambda r: r,
    ) -> None:
        """A report as the hub stores it; `extra` changes a row as a new observation would."""
        self.seq += 1
        recs = [r for ref, r in self.cams.items() if ref not in skip]
        channels = {
            r.camera_id: channel_rows("agent-a", "a", r) for r in recs if r.device_class == "recorder"
        }
        await store.ingest_inventory("agent-a", [extra(row(r)) for r in recs], channels, full=full,
                                     removed=list(removed), seq=self.seq)  # fmt: skip


async def census(store: Store, census_id: str, *devices: pb.CensusDevice) -> None:
    rep = pb.CensusReport(census_id=census_id, devices=devices)
    await store.ingest_census(
        census_rows("agent-a", "a", rep), agent_id="agent-a", census_id=census_id, last_part=True
    )


def unknown(host: str, serial: str) -> pb.CensusDevice:
    return pb.CensusDevice(host=host, serial=serial, status=pb.CENSUS_STATUS_IDENTIFIED)


async def test_the_answer_is_the_fresh_one_after_every_write_and_computed_only_after_relevant_ones(
    backend: Backend,
) -> None:
    """A mix of inventory reports (new cameras, changed origin, confidence, site and address, cameras gone and
    back, references removed, recorder channels), census runs and lifecycle changes, written alternately
    through two replicas: after each, both replicas answer what a fresh computation does, and each computed the
    answer again exactly when the write changed something it counts."""
    a, b = await backend.new_store(), await backend.new_store()
    nvr = record("nvr-1", "127.0.1.9", "N1", recorder=True, channels=[
        channel(1, "127.0.1.1", "S1", camera_id="cam-1"), channel(2, "192.168.254.3", "H2"),
    ])  # fmt: skip
    fleet = Fleet({r.camera_id: r for r in (record("cam-1", "127.0.1.1", "S1"),
                                            record("cam-2", "127.0.1.2", "S2"), nvr)})  # fmt: skip
    cam2, ch2 = fleet.cams["cam-2"], nvr.channels[1]

    def noise(r: CameraRow) -> CameraRow:
        # What changes on every observation without touching the answer: risk, cloud, firmware, the record.
        return replace(r, risk_level="critical", risk_score=95, covered=False, cloud_reachable=True,
                       oem_rebrand=True, firmware="V5.8.0", observed_at=time.time(), record=b"x" + r.record)  # fmt: skip

    async def set_lifecycle(s: Store) -> None:
        await s.set_lifecycle((await s.camera_keys())[0].camera_id, "REMOVED")

    def after(edit: Callable[[], object], s: Store, **kw: Any) -> Awaitable[None]:
        edit()
        return fleet.report(s, **kw)

    steps: list[tuple[str, bool, Callable[[Store], Any]]] = [
        ("first report", True, lambda s: fleet.report(s)),
        ("same cameras, new observation", False, lambda s: fleet.report(s, extra=noise)),
        ("census finds cam-1 and an unknown device", True,
         lambda s: census(s, "c1", pb.CensusDevice(host="127.0.1.1", serial="S1"), unknown("127.0.1.6", "S6"))),
        ("the same census again", False,
         lambda s: census(s, "c2", pb.CensusDevice(host="127.0.1.1", serial="S1"), unknown("127.0.1.6", "S6"))),
        ("a camera retired (REMOVED): the answer counts present cameras whatever their lifecycle", False, set_lifecycle),
        ("cam-2's origin changes", True,
         lambda s: after(lambda: setattr(cam2.origin, "manufacturer", "dahua"), s)),
        ("cam-2's confidence changes", True,
         lambda s: after(lambda: setattr(cam2.origin, "confidence", 0.5), s)),
        ("cam-2 moves to another site", True, lambda s: after(lambda: setattr(cam2, "site", "b"), s)),
        ("a channel goes offline", True, lambda s: after(lambda: setattr(ch2, "online", False), s)),
        ("a channel's protocol changes", False,
         lambda s: after(lambda: setattr(ch2, "protocol", "ONVIF"), s, extra=noise)),
        ("cam-2 missing from a full report", True, lambda s: fleet.report(s, skip=["cam-2"])),
        ("still missing", False, lambda s: fleet.report(s, skip=["cam-2"])),
        ("cam-2 back", True, lambda s: fleet.report(s)),
        ("census without the unknown device", True,
         lambda s: census(s, "c3", pb.CensusDevice(host="127.0.1.1", serial="S1"))),
        ("cam-1 removed by the agent", True,
         lambda s: fleet.report(s, full=False, removed=["cam-1"], skip=["cam-1"])),
        ("a partial report of the rest", False, lambda s: fleet.report(s, full=False, skip=["cam-1"])),
        ("a new camera", True,
         lambda s: after(lambda: fleet.cams.update({"cam-3": record("cam-3", "127.0.1.3", "S3")}), s, full=False,
                         skip=["cam-1"])),
        ("the recorder drops its channels", True,
         lambda s: after(lambda: nvr.ClearField("channels"), s, full=False, skip=["cam-1"])),
    ]  # fmt: skip
    for i, (what, counted, write) in enumerate(steps):
        before = {s: (await s.fleet_version(), computations(s)) for s in (a, b)}
        await write(a if i % 2 == 0 else b)
        for s in (a, b):
            got = await fleet_answer(s)
            assert got == await afresh(s), what
            assert await fleet_answer(s) is got, what  # asked again: the same answer, not computed again
            moved = await s.fleet_version() != before[s][0]
            assert moved is counted, what
            assert computations(s) - before[s][1] == (1 if counted else 0), what
    last = await fleet_answer(a)
    assert (last["cameras"], last["inventoried"], last["recorders"], last["channels"]) == (3, 2, 1, 0)


async def test_a_migration_on_another_replica_makes_the_answer_computed_again(backend: Backend) -> None:
    """A migration can change what the answer counts (0012 retires duplicates); one run through another
    replica, even a downgrade past the revision table and back, is a new revision for every replica."""
    a, b = await backend.new_store(), await backend.new_store()
    await Fleet({"cam-1": record("cam-1", "127.0.1.1", "S1")}).report(a)
    await fleet_answer(a)
    version = await a.fleet_version()
    await b.downgrade("0012_one_owner_per_device")
    await b.upgrade()
    assert await a.fleet_version() != version
    await fleet_answer(a)
    assert computations(a) == 2


async def test_concurrent_requests_after_a_change_compute_once(store: Store) -> None:
    fleet = Fleet({"cam-1": record("cam-1", "127.0.1.1", "S1")})
    await fleet.report(store)
    got = await asyncio.gather(*(fleet_answer(store) for _ in range(5)))
    assert computations(store) == 1 and all(g is got[0] for g in got) and got[0]["cameras"] == 1


@pytest.fixture
async def replicas(backend: Backend, tmp_path: Path) -> AsyncIterator[tuple[list[str], str]]:
    """Two controllers over the test's database: their URLs and a viewer's token."""
    if isinstance(backend, PostgresBackend):
        url = backend.url
    else:
        assert isinstance(backend, SqliteBackend)
        url = str(backend.path)
    servers = []
    for n in (1, 2):
        cfg = ControllerConfig(state_dir=tmp_path / f"r{n}", store_url=url)
        servers.append(TestServer(build_app(cfg, SigningKey.generate(), mqtt=False), host="127.0.0.1"))
        await servers[-1].start_server()
    token = new_token()
    store = servers[0].app[STORE]
    await store.put_user(UserRow("vera", hash_password("x" * 12), "viewer"))
    await store.add_token(token_hash(token), "vera", "test")
    try:
        yield [str(s.make_url("")) for s in servers], token
    finally:
        for s in servers:
            await s.close()


async def test_a_change_through_one_replica_is_in_the_other_replicas_next_answer(
    replicas: tuple[list[str], str], backend: Backend
) -> None:
    (one, two), token = replicas
    writer = await backend.new_store()  # the replica whose hub ingested the report
    fleet = Fleet({"cam-1": record("cam-1", "127.0.1.1", "S1")})
    async with ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:

        async def ask(url: str) -> dict[str, Any]:
            async with s.get(f"{url}/api/v1/fleet") as r:
                assert r.status == 200
                body: dict[str, Any] = await r.json()
                return body

        assert (await ask(one))["cameras"] == 0 and (await ask(two))["cameras"] == 0
        await fleet.report(writer)
        assert (await ask(one))["by_origin"] == {"hikvision": 1} == (await ask(two))["by_origin"]
        fleet.cams["cam-1"].origin.manufacturer = "dahua"
        await fleet.report(writer)
        # No wait and no retry: the first request after the commit, on either replica, has the change.
        assert (await ask(two))["by_origin"] == {"dahua": 1} == (await ask(one))["by_origin"]
        await census(writer, "c1", unknown("127.0.1.6", "S6"))
        assert (await ask(one))["census_only"] == 1 == (await ask(two))["census_only"]
