"""Census results on the wire (camfleet.v1 CensusReport), and what the daemon already manages as `Known` cameras."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from agent.census.device import CensusDevice, Known
from agent.census.runner import CensusResult
from protos.camfleet.v1 import camfleet_pb2 as pb

STATUS = {
    "seen": pb.CENSUS_STATUS_SEEN,
    "identified": pb.CENSUS_STATUS_IDENTIFIED,
    "credentials known": pb.CENSUS_STATUS_CREDENTIALS_KNOWN,
    "inventoried": pb.CENSUS_STATUS_INVENTORIED,
}
ACTIVATION = {
    None: pb.ACTIVATION_UNSPECIFIED,
    True: pb.ACTIVATION_ACTIVATED,
    False: pb.ACTIVATION_UNACTIVATED,
}
#: Devices per message: a big site's census goes out in parts, each well under a broker's message limits.
PART_SIZE = 250
#: The strongest evidence items carried per device (the full list stays in the agent's own output).
MAX_EVIDENCE = 12


def origin_proto(dev: CensusDevice) -> pb.Origin:
    o = dev.origin
    if o is None:
        return pb.Origin(manufacturer="unknown")
    return pb.Origin(
        reported_brand=o.reported_brand or "", manufacturer=o.manufacturer, covered=o.covered,
        oem_rebrand=o.oem_rebrand, confidence=o.confidence,
        evidence=[pb.Evidence(signal=e.signal, value=e.value[:200], points_to=e.points_to or "", weight=e.weight,
                              explanation=e.explanation[:300]) for e in o.evidence[:MAX_EVIDENCE]],
    )  # fmt: skip


def device_proto(dev: CensusDevice) -> pb.CensusDevice:
    return pb.CensusDevice(
        host=dev.host, port=dev.port or 0, macs=sorted(dev.macs), serial=dev.serial or "", model=dev.model or "",
        firmware=dev.firmware or "", device_class=dev.device_class or "", channels=dev.channels or 0,
        activation=ACTIVATION[dev.activated], status=STATUS.get(dev.status, pb.CENSUS_STATUS_SEEN),
        sources=sorted(dev.sources), origin=origin_proto(dev), camera_id=dev.camera_id or "", cloud=dev.cloud,
        announced_address=dev.announced_address or "",
    )  # fmt: skip


def reports(result: CensusResult, agent_id: str, seqs: Iterable[int]) -> list[pb.CensusReport]:
    """The run as one or more parts sharing a census_id; `seqs` hands out the agent's message sequence numbers."""
    devices = [device_proto(d) for d in result.devices]
    chunks = [devices[i : i + PART_SIZE] for i in range(0, len(devices), PART_SIZE)] or [[]]
    census_id = str(uuid.uuid4())
    out = []
    for part, (chunk, seq) in enumerate(zip(chunks, seqs, strict=False)):
        rep = pb.CensusReport(
            agent_id=agent_id, devices=chunk, seq=seq, sent={k: int(v) for k, v in result.sent.items()},
            truncated=result.truncated, notes=result.notes[:20], duration_s=result.duration_s,
            census_id=census_id, part=part, parts=len(chunks),
        )  # fmt: skip
        rep.at.FromSeconds(int(result.started_at))
        out.append(rep)
    return out


def known_from_records(records: Iterable[pb.CameraRecord], camera_ids: Iterable[str]) -> list[Known]:
    """Cameras the daemon has credentials for (its targets) and those its last inventory read."""
    out: list[Known] = []
    read: set[str] = set()
    for r in records:
        ok = r.reachable and bool(r.identity.model)
        out.append(
            Known(r.camera_id, r.host, r.port, tuple(r.identity.macs), r.identity.serial, inventoried=ok)
        )
        read.add(r.camera_id)
    for cid in camera_ids:
        if cid not in read:
            host, _, port = cid.rpartition(":")
            if host and port.isdigit():
                out.append(Known(cid, host, int(port)))
    return out
