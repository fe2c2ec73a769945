"""Census devices and recorder channels in the store (SQLite and PostgreSQL), and the fleet answer over them."""

from __future__ import annotations

import random
import time
import zlib

from controller.census_api import fleet_answer
from controller.census_ingest import census_rows, channel_rows
from controller.fleet_answer import answer, keys_of
from controller.recorders import impact
from controller.store import Store
from controller.store.base import CameraRow
from protos.camfleet.v1 import camfleet_pb2 as pb


def mac(name: str) -> str:
    x = zlib.crc32(name.encode()) & 0xFFFF
    return f"28:57:BE:00:{x >> 8:02X}:{x & 0xFF:02X}"


def record(camera_id: str, host: str, serial: str, *, site: str = "a", recorder: bool = False,
           channels: list[pb.RecorderChannel] | None = None) -> pb.CameraRecord:  # fmt: skip
    return pb.CameraRecord(
        camera_id=camera_id, host=host, port=80, site=site, reachable=True,
        identity=pb.CameraIdentity(model="DS-2CD2146G2-ISU", serial=serial, macs=[mac(camera_id)]),
        origin=pb.Origin(manufacturer="hikvision", confidence=0.9),
        device_class="recorder" if recorder else "camera", channels=channels or [],
    )  # fmt: skip


def row(rec: pb.CameraRecord, agent: str = "agent-a") -> CameraRow:
    return CameraRow(
        camera_id=rec.camera_id, agent_id=agent, site=rec.site, host=rec.host, port=rec.port, manufacturer="HIKVISION",
        model=rec.identity.model, firmware="V5.7.18 build 240826", origin=rec.origin.manufacturer, covered=True,
        oem_rebrand=False, confidence=rec.origin.confidence, risk_score=10, risk_level="low", cloud_reachable=False,
        fingerprint=rec.camera_id, reachable=True, observed_at=time.time(), record=rec.SerializeToString(),
        serial=rec.identity.serial, macs=list(rec.identity.macs), device_class=rec.device_class,
    )  # fmt: skip


def channel(
    n: int, address: str, serial: str, *, camera_id: str = "", protocol: str = "HIKVISION"
) -> pb.RecorderChannel:
    return pb.RecorderChannel(
        channel=n, address=address, protocol=protocol, online=True, camera_id=camera_id,
        identity=pb.CameraIdentity(model="DS-2CD2386G2-IU", serial=serial),
        origin=pb.Origin(manufacturer="hikvision", confidence=0.95),
    )  # fmt: skip


async def ingest(store: Store, *records: pb.CameraRecord, full: bool = True, seq: int = 1) -> dict[str, str]:
    """The report as the hub stores it; the agent's reference -> the controller's camera id."""
    channels = {r.camera_id: channel_rows("agent-a", "a", r) for r in records if r.device_class == "recorder"}
    got = await store.ingest_inventory(
        "agent-a", [row(r) for r in records], channels, full=full, removed=[], seq=seq
    )
    return got.ids


async def test_channels_follow_each_report_and_stale_ones_are_ignored(store: Store) -> None:
    cam = record("cam-1", "127.0.1.1", "S1")
    nvr = record("nvr-1", "127.0.1.9", "N1", recorder=True,
                 channels=[channel(1, "127.0.1.1", "S1", camera_id="cam-1"), channel(2, "192.168.254.3", "H2")])  # fmt: skip
    ids = await ingest(store, cam, nvr, seq=1)
    got = {(c.recorder_id, c.channel, c.camera_id) for c in await store.recorder_channels()}
    assert got == {(ids["nvr-1"], 1, ids["cam-1"]), (ids["nvr-1"], 2, "")}
    # A newer report lists one channel; a redelivered older one must not bring the other back.
    del nvr.channels[1]
    await ingest(store, nvr, full=False, seq=3)
    await ingest(store, record("nvr-1", "127.0.1.9", "N1", recorder=True,
                               channels=[channel(1, "127.0.1.1", "S1"), channel(2, "192.168.254.3", "H2")]), seq=2)  # fmt: skip
    assert [(c.channel, c.camera_id) for c in await store.recorder_channels()] == [(1, ids["cam-1"])]
    # A full report without the recorder retires its channels.
    await ingest(store, cam, seq=4)
    assert await store.recorder_channels() == []


async def test_camera_keys_are_the_identity_columns_of_present_cameras(store: Store) -> None:
    cam, nvr = record("cam-1", "127.0.1.1", "S1"), record("nvr-1", "127.0.1.9", "N1", recorder=True)
    ids = await ingest(store, cam, nvr)
    keys = {k.camera_id: (k.serial, k.macs, k.device_class) for k in await store.camera_keys()}
    assert keys == {
        ids["cam-1"]: ("S1", [mac("cam-1")], "camera"),
        ids["nvr-1"]: ("N1", [mac("nvr-1")], "recorder"),
    }
    await ingest(store, nvr, seq=2)  # a full report without cam-1: it vanished
    assert [k.camera_id for k in await store.camera_keys()] == [ids["nvr-1"]]


async def test_the_cached_fleet_answer_follows_every_change_it_counts(store: Store) -> None:
    first = await fleet_answer(store)
    assert first["cameras"] == 0 and await fleet_answer(store) is first  # nothing changed: not computed again
    cam = record("cam-1", "127.0.1.1", "S1")
    await ingest(store, cam, seq=1)
    assert (await fleet_answer(store))["inventoried"] == 1
    rep = pb.CensusReport(census_id="c1", devices=[pb.CensusDevice(host="127.0.1.6", serial="S6")])
    for census_id in ("c1", "c2"):  # the same device again: same count, same agent time, later write
        rep.census_id = census_id
        await store.ingest_census(census_rows("agent-a", "a", rep), agent_id="agent-a", census_id=census_id,
                                  last_part=True)  # fmt: skip
        assert (await fleet_answer(store))["census_only"] == 1
    nvr = record("nvr-1", "127.0.1.9", "N1", recorder=True, channels=[channel(1, "192.168.254.3", "H2")])
    await ingest(store, cam, nvr, seq=2)
    assert (await fleet_answer(store))["behind_recorder_only"] == 1
    await ingest(store, nvr, seq=3)  # cam-1 vanished
    a = await fleet_answer(store)
    assert (a["inventoried"], a["behind_recorder_only"], a["cameras"]) == (0, 1, 2)


async def test_census_parts_replace_the_previous_run(store: Store) -> None:
    def report(census_id: str, part: int, parts: int, *hosts: str) -> pb.CensusReport:
        rep = pb.CensusReport(census_id=census_id, part=part, parts=parts,
                              devices=[pb.CensusDevice(host=h, serial=f"S-{h}", status=pb.CENSUS_STATUS_IDENTIFIED,
                                                       origin=pb.Origin(manufacturer="dahua")) for h in hosts])  # fmt: skip
        rep.at.FromSeconds(int(time.time()))
        return rep

    for rep in (report("r1", 0, 2, "10.0.0.1"), report("r1", 1, 2, "10.0.0.2")):
        await store.ingest_census(census_rows("agent-a", "a", rep), agent_id="agent-a", census_id=rep.census_id,
                                  last_part=rep.part + 1 >= rep.parts)  # fmt: skip
    assert {d.host for d in await store.census_devices()} == {"10.0.0.1", "10.0.0.2"}
    rep = report("r2", 0, 1, "10.0.0.2", "10.0.0.3")
    await store.ingest_census(
        census_rows("agent-a", "a", rep), agent_id="agent-a", census_id="r2", last_part=True
    )
    devices = await store.census_devices()
    assert {d.host for d in devices} == {"10.0.0.2", "10.0.0.3"} and {d.census_id for d in devices} == {"r2"}


def test_fleet_answer_counts_each_camera_once() -> None:
    cam = record("cam-1", "127.0.1.1", "S1")
    nvr_a = record("nvr-a", "127.0.1.9", "NA", recorder=True, channels=[
        channel(1, "127.0.1.1", "S1", camera_id="cam-1"),  # the inventoried camera, also on a channel
        channel(2, "192.168.254.2", "H1"),  # PoE camera
        channel(3, "127.0.1.5", "", protocol="ONVIF"),  # LAN camera known to the census by address only
    ])  # fmt: skip
    # A second recorder whose PoE camera has the same private address as nvr-a's: two cameras, not one.
    nvr_b = record("nvr-b", "127.0.1.10", "NB", recorder=True, channels=[channel(1, "192.168.254.2", "H9")])
    census = census_rows("agent-a", "a", pb.CensusReport(census_id="c", devices=[
        pb.CensusDevice(host="127.0.1.5", status=pb.CENSUS_STATUS_SEEN),
        pb.CensusDevice(host="127.0.1.6", serial="S6", status=pb.CENSUS_STATUS_IDENTIFIED,
                        activation=pb.ACTIVATION_UNACTIVATED),
        pb.CensusDevice(host="127.0.1.1", serial="S1", status=pb.CENSUS_STATUS_INVENTORIED, camera_id="cam-1"),
        pb.CensusDevice(host="127.0.1.9", serial="NA", device_class="recorder", status=pb.CENSUS_STATUS_INVENTORIED),
    ]))  # fmt: skip
    channels = [*channel_rows("agent-a", "a", nvr_a), *channel_rows("agent-a", "a", nvr_b)]
    a = answer([row(cam), row(nvr_a), row(nvr_b)], census, channels)
    assert (a["cameras"], a["inventoried"], a["census_only"], a["behind_recorder_only"]) == (5, 1, 2, 2)
    assert (a["recorders"], a["channels"], a["unactivated"]) == (2, 4, 1)
    assert {(b["recorder_id"], b["channel"]) for b in a["behind"]} == {("nvr-a", 2), ("nvr-b", 1)}


async def test_impact_matches_channels_by_agent_link_or_serial(store: Store) -> None:
    cam = record("cam-1", "127.0.1.1", "S1")
    other = record("cam-2", "127.0.2.2", "S2", site="b")  # inventoried by another agent: matched by serial
    nvr = record("nvr-1", "127.0.1.9", "N1", recorder=True,
                 channels=[channel(1, "127.0.1.1", "S1", camera_id="cam-1"), channel(2, "127.0.2.2", "S2")])  # fmt: skip
    ids = await ingest(store, cam, other, nvr)
    async with store.read() as r:
        stored = await r.cameras.get_many([ids["cam-1"], ids["cam-2"], ids["nvr-1"]])
    cam_row, other_row, nvr_row = (stored[ids[r]] for r in ("cam-1", "cam-2", "nvr-1"))
    restrict = pb.Action(restrict_network=pb.RestrictNetwork(allow=["10.0.0.0/8"]))
    imp = await impact(store, restrict, [cam_row, other_row])
    assert {(i.camera_id, i.channel) for i in imp.impacts} == {(ids["cam-1"], 1), (ids["cam-2"], 2)}
    assert imp.refused is not None and ids["nvr-1"] in imp.refused
    allowed = pb.Action(restrict_network=pb.RestrictNetwork(allow=["127.0.1.9/32"], keep_protocols=["RTSP"]))
    imp = await impact(store, allowed, [cam_row])
    assert [i.reason for i in imp.impacts] == [
        "DEV_MANAGE is switched off but the recorder pulls the stream over it"
    ]
    ok = pb.Action(
        restrict_network=pb.RestrictNetwork(allow=["127.0.1.9/32"], keep_protocols=["RTSP", "DEV_MANAGE"])
    )
    assert (await impact(store, ok, [cam_row])).impacts == []
    gap = pb.Action(restrict_network=pb.RestrictNetwork(allow=["10.0.0.0/8"], accept_recording_gap=True))
    imp = await impact(store, gap, [cam_row])
    assert imp.impacts and imp.refused is None
    decommission = pb.Action(decommission=pb.Decommission())
    assert len((await impact(store, decommission, [nvr_row])).impacts) == 2


async def test_the_answer_from_overlapping_cameras_equals_the_answer_from_all_of_them(store: Store) -> None:
    """store.overlapping_cameras reads only cameras that share a key with something else and counts the rest:
    on a fleet with every kind of overlap (census by serial, MAC, address and agent link, channels, a serial,
    a MAC and an address on two cameras) the answer is the one computed from every camera."""
    rng = random.Random(5)
    recs = []
    for i in range(60):
        serial = f"SN{i % 50:04d}"  # ten serials twice (cloned firmware)
        recs.append(
            record(f"c{i}", f"127.0.3.{i % 55}", serial, site=rng.choice("ab"))
        )  # five addresses twice
    recs[7].identity.macs[:] = list(recs[8].identity.macs)  # one MAC twice
    recs[9].device_class = "recorder"
    recs[9].channels.extend([channel(1, "127.0.3.10", "", camera_id="c10"), channel(2, "192.168.254.9", "SN0011"),
                             channel(3, "127.0.3.12", "")])  # fmt: skip
    for seq, part in enumerate((recs[:30], recs[30:]), start=1):
        await ingest(store, *part, full=False, seq=seq)
    rep = pb.CensusReport(census_id="c", devices=[
        pb.CensusDevice(host="127.0.3.20", status=pb.CENSUS_STATUS_SEEN),
        pb.CensusDevice(host="127.0.9.1", serial="SN0021", status=pb.CENSUS_STATUS_IDENTIFIED),
        pb.CensusDevice(host="127.0.9.2", macs=list(recs[22].identity.macs), status=pb.CENSUS_STATUS_IDENTIFIED),
        pb.CensusDevice(host="127.0.9.3", serial="ZZ1", status=pb.CENSUS_STATUS_IDENTIFIED),
        pb.CensusDevice(host="127.0.3.40", camera_id="c40", status=pb.CENSUS_STATUS_INVENTORIED),
    ])  # fmt: skip
    await store.ingest_census(
        census_rows("agent-a", "a", rep), agent_id="agent-a", census_id="c", last_part=True
    )
    census, channels = await store.census_devices(), await store.recorder_channels()
    every = answer(await store.camera_keys(), census, channels)
    some, alone = await store.overlapping_cameras(keys_of(census, channels))
    assert len(some) < 60 and sum(alone.values()) == 60 - len(some)
    assert answer(some, census, channels, alone=alone) == every
    assert (every["cameras"], every["recorders"]) != (0, 0)
