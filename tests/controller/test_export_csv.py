"""The CSV export is byte for byte what it was when it was built from whole CameraRows, on both engines."""

from __future__ import annotations

import csv
import io
import time

import pytest

from controller.api import EXPORT_FIELDS, cameras_csv
from controller.store import Store
from controller.store.base import CameraFilter, CameraRow
from protos.camfleet.v1 import camfleet_pb2 as pb

# Cells a spreadsheet would read as formulas (some behind Unicode white space), cells the CSV must quote, and
# cells that are merely odd: the export's neutralising and quoting must not change.
MODELS = ["DS-2CD2043", "=1+1", " =cmd|' /C calc'!A0", "\u00a0@SUM(A1)", "\u2003-2+3", "\t=1", "\r=1", "\n=1",
          "＝1", "－5", "+1", "-", "", " ", "a,\"b\"", "line\nbreak", "ünïcode", "  plain"]  # fmt: skip
ORIGINS = ["hikvision", "dahua", "axis"]


def _row(i: int) -> CameraRow:
    ref = f"10.0.{i // 250}.{i % 250 + 1}:80"
    origin = ORIGINS[i % 3]
    return CameraRow(
        camera_id=ref, agent_id=f"agent-{i % 2}", site=["north", "=south"][i % 2], host=ref.split(":")[0],
        port=80 + i % 3, manufacturer=["Hikvision", "@Dahua", "Axis"][i % 3], model=MODELS[i % len(MODELS)],
        firmware=["V5.7.3", "-1", "=2"][i % 3], origin=origin, covered=origin != "axis", oem_rebrand=i % 5 == 0,
        confidence=[0.9, 1 / 3, 0.0, 1e-07][i % 4], risk_score=[0, 50, -1, 95][i % 4],
        risk_level=["low", "high", "medium", "critical"][i % 4], cloud_reachable=i % 3 == 0, fingerprint=f"fp{i}",
        reachable=i % 7 != 0, observed_at=time.time(), record=pb.CameraRecord(host=ref).SerializeToString(),
        serial=f"SN{i:05d}" if i % 4 else "", macs=[f"44:19:b6:00:00:{i % 256:02x}"] if i % 3 else [],
        device_class=["camera", "recorder", ""][i % 3],
    )  # fmt: skip


def _old_safe_cell(v: object) -> object:
    # controller.csvsafe.safe_cell as it was when the export was built from CameraRows (the oracle).
    start = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
    if isinstance(v, str) and (v[:1] in ("\t", "\r", "\n") or v.lstrip()[:1] in start):
        return "'" + v
    return v


async def _old_export(store: Store, flt: CameraFilter) -> str:
    """The export before it read its columns alone: whole CameraRows, every cell through safe_cell."""
    rows, _ = await store.query_cameras(flt, limit=10**7)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([_old_safe_cell(h) for h in EXPORT_FIELDS])
    for r in rows:
        w.writerow([_old_safe_cell(getattr(r, f)) for f in EXPORT_FIELDS])
    return buf.getvalue()


FILTERS = [
    CameraFilter(),
    CameraFilter(origin="dahua"),
    CameraFilter(site="=south", covered=True),
    CameraFilter(cloud_reachable=False, risk_level="high"),
    CameraFilter(search="cmd"),
    CameraFilter(lifecycle="DECOMMISSIONED"),
    CameraFilter(origin="nobody"),
]


@pytest.mark.parametrize("flt", FILTERS, ids=range(len(FILTERS)))
async def test_the_csv_export_is_unchanged(store: Store, flt: CameraFilter) -> None:
    rows = [_row(i) for i in range(120)]
    for agent in ("agent-0", "agent-1"):
        mine = [r for r in rows if r.agent_id == agent]
        await store.ingest_cameras(agent, mine, full=True, removed=[], seq=1)
        # The agent no longer sees its first camera: a vanished camera is not exported.
        await store.ingest_cameras(agent, mine[1:], full=True, removed=[], seq=2)
    page, total = await store.query_cameras(CameraFilter(), limit=200)
    assert total == 118
    for cam in page[::9]:
        await store.set_lifecycle(cam.camera_id, "DECOMMISSIONED")
    old = await _old_export(store, flt)
    res = await cameras_csv(store, flt)
    assert res.text == old
    assert res.content_type == "text/csv"
    assert res.headers["Content-Disposition"] == 'attachment; filename="camfleet-cameras.csv"'
    # The test means something: rows were exported, some of them neutralised, some quoted.
    if flt == CameraFilter():
        assert old.count("\n") > 118 and "'=1+1" in old and '"line\nbreak"' in old and "True" in old
