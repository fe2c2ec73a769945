"""fleetctl fleet and fleetctl recorders: the census answer and the recorders' channels at the terminal."""

from __future__ import annotations

from controller.census_ingest import census_rows
from protos.camfleet.v1 import camfleet_pb2 as pb
from tests.controller.test_census_store import channel, ingest, record
from tests.controller.test_fleetctl import Fleet, fleet  # noqa: F401  (the fixture)


async def _seed(f: Fleet) -> dict[str, str]:
    """The census fleet; the agent's reference -> the controller's camera id."""
    cam = record("cam-1", "127.0.1.1", "S1")
    nvr = record("nvr-1", "127.0.1.9", "N1", recorder=True,
                 channels=[channel(1, "127.0.1.1", "S1", camera_id="cam-1"), channel(2, "192.168.254.3", "H2")])  # fmt: skip
    ids = await ingest(f.store, cam, nvr)
    rep = pb.CensusReport(census_id="c1", devices=[
        pb.CensusDevice(host="127.0.1.6", serial="S6", status=pb.CENSUS_STATUS_IDENTIFIED,
                        activation=pb.ACTIVATION_UNACTIVATED, origin=pb.Origin(manufacturer="hikvision")),
    ])  # fmt: skip
    await f.store.ingest_census(
        census_rows("agent-a", "a", rep), agent_id="agent-a", census_id="c1", last_part=True
    )
    return ids


async def test_fleet_counts_each_camera_once_and_lists_the_hidden_ones(fleet: Fleet) -> None:  # noqa: F811
    await _seed(fleet)
    res = await fleet.run("fleet", "--json", role="viewer")
    assert res.rc == 0, res.err
    doc = res.json()
    # The 60 inventoried cameras, cam-1 (inventoried and on channel 1: once), the PoE camera on channel 2 and
    # the unactivated camera the census found.
    assert (doc["cameras"], doc["inventoried"], doc["census_only"], doc["behind_recorder_only"]) == (
        63,
        61,
        1,
        1,
    )
    assert (doc["recorders"], doc["channels"], doc["unactivated"]) == (1, 2, 1)
    res = await fleet.run("fleet", "--behind", role="viewer")
    assert res.rc == 0, res.err
    lines = res.out.splitlines()
    assert "cameras:           63" in lines and "unactivated:       1" in res.out
    (hidden,) = [ln for ln in lines if "192.168.254.3" in ln]
    assert hidden.split()[:5] == ["127.0.1.9", "2", "192.168.254.3", "DS-2CD2386G2-IU", "H2"]


async def test_recorders_lists_every_channel_with_its_camera(fleet: Fleet) -> None:  # noqa: F811
    ids = await _seed(fleet)
    res = await fleet.run("recorders", "--json", role="viewer")
    assert res.rc == 0, res.err
    (r,) = res.json()["recorders"]
    assert (r["recorder_id"], r["online"]) == (ids["nvr-1"], 2)
    assert [(c["channel"], c["camera_id"]) for c in r["channels"]] == [(1, ids["cam-1"]), (2, "")]
    res = await fleet.run("recorders", role="viewer")
    rows = [ln.split() for ln in res.out.splitlines() if ln.startswith(ids["nvr-1"])]
    assert [(x[3], x[4]) for x in rows] == [("1", "127.0.1.1"), ("2", "192.168.254.3")]
    assert rows[0][-1] == ids["cam-1"]
