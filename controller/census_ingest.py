"""Census reports and recorder channel lists from agents into store rows (pure conversions, bounded, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

from controller.ingest import finite, text
from controller.store.repos.census import CensusRow, ChannelRow
from protos.camfleet.v1 import camfleet_pb2 as pb

#: What one message may carry; a report past these is cut, never trusted to size memory.
MAX_DEVICES_PER_PART = 1000
MAX_CHANNELS = 512
MAX_CHANNEL_NO = 2**31 - 1  # an INTEGER column on PostgreSQL; a uint32 from a recorder could overflow it
_TEXT = 256
ACTIVATION = {pb.ACTIVATION_UNSPECIFIED: "unknown", pb.ACTIVATION_ACTIVATED: "activated",
              pb.ACTIVATION_UNACTIVATED: "unactivated"}  # fmt: skip
STATUS = {
    pb.CENSUS_STATUS_SEEN: "seen",
    pb.CENSUS_STATUS_IDENTIFIED: "identified",
    pb.CENSUS_STATUS_CREDENTIALS_KNOWN: "credentials known",
    pb.CENSUS_STATUS_INVENTORIED: "inventoried",
}
CENSUS_STATUSES = tuple(STATUS.values())


def _t(value: str) -> str:
    return text(value[:_TEXT])


def _macs(values: Sequence[str]) -> list[str]:
    return sorted({text(m.strip().upper().replace("-", ":")[:32]) for m in values if m.strip()})[:8]


def channel_rows(agent_id: str, site: str, rec: pb.CameraRecord) -> list[ChannelRow]:
    out: list[ChannelRow] = []
    seen: set[int] = set()
    for ch in rec.channels[:MAX_CHANNELS]:
        if not 1 <= ch.channel <= MAX_CHANNEL_NO or ch.channel in seen:
            continue  # a channel without a number (or a duplicate, or past any column) cannot be addressed
        seen.add(ch.channel)
        out.append(
            ChannelRow(
                recorder_id=rec.camera_id, channel=ch.channel, agent_id=agent_id, site=rec.site or site,
                recorder_host=_t(rec.host), address=_t(ch.address), protocol=_t(ch.protocol), online=ch.online,
                status_detail=_t(ch.status_detail), model=_t(ch.identity.model), serial=_t(ch.identity.serial.strip().upper()),
                firmware=_t(ch.identity.firmware), macs=_macs(ch.identity.macs),
                origin=_t(ch.origin.manufacturer) or "unknown", covered=ch.origin.covered,
                confidence=finite(ch.origin.confidence), camera_id=_t(ch.camera_id), fingerprint=_t(ch.fingerprint),
                record=ch.SerializeToString(deterministic=True),
            )
        )  # fmt: skip
    return out


def device_key(dev: pb.CensusDevice) -> str:
    """What identifies a device within one agent's census: its MAC, else its serial, else its address."""
    macs = _macs(dev.macs)
    if macs:
        return f"mac:{macs[0]}"
    if dev.serial.strip():
        return f"serial:{_t(dev.serial.strip().upper())}"
    return f"host:{_t(dev.host)}"


def census_rows(agent_id: str, site: str, rep: pb.CensusReport) -> list[CensusRow]:
    at = rep.at.ToMicroseconds() / 1e6 if rep.HasField("at") else 0.0
    out: dict[str, CensusRow] = {}
    for dev in rep.devices[:MAX_DEVICES_PER_PART]:
        key = device_key(dev)
        out[key] = CensusRow(
            agent_id=agent_id, device_key=key, census_id=_t(rep.census_id), site=site, host=_t(dev.host),
            port=dev.port if dev.port <= 65535 else 0, macs=_macs(dev.macs), serial=_t(dev.serial),
            model=_t(dev.model), firmware=_t(dev.firmware),
            device_class=dev.device_class if dev.device_class in ("camera", "recorder") else "",
            channels=min(dev.channels, MAX_CHANNELS), activation=ACTIVATION.get(dev.activation, "unknown"),
            status=STATUS.get(dev.status, "seen"), sources=sorted({_t(s) for s in dev.sources})[:12],
            origin=_t(dev.origin.manufacturer) or "unknown", covered=dev.origin.covered,
            confidence=finite(dev.origin.confidence), camera_id=_t(dev.camera_id),
            record=dev.SerializeToString(deterministic=True), seen_at=at,
        )  # fmt: skip
    return list(out.values())
