"""Turning wire messages from agents into store rows (pure conversions, no I/O)."""

from __future__ import annotations

import json
import math

from controller.states import ExecState
from controller.store.base import AgentRow, CameraRow, ExecutionRow
from protos.camfleet.v1 import camfleet_pb2 as pb

OUTCOME_NAMES = {v: k.removeprefix("OUTCOME_").lower() for k, v in pb.Outcome.items()}
GOAL_NAMES = {v: k.removeprefix("GOAL_STATE_").lower() for k, v in pb.GoalState.items() if v}
ERROR_NAMES = {v: k.removeprefix("ERROR_CLASS_").lower() for k, v in pb.ErrorClass.items()}


def agent_row(st: pb.AgentStatus) -> AgentRow:
    return AgentRow(
        agent_id=st.agent_id,
        site=st.site,
        version=st.version,
        boot_seq=st.boot_seq,
        online=st.online,
        last_seen=st.at.ToMicroseconds() / 1e6 if st.HasField("at") else 0.0,
        capabilities=list(st.capabilities),
        camera_count=st.camera_count,
    )


def text(value: str) -> str:
    """Text from a camera, as the store can hold it: a NUL (C padding in a Dahua CGI or DHIP field) is dropped,
    as PostgreSQL refuses it in text, and one such string made every inventory report of the site fail there."""
    return value.replace("\x00", "") if "\x00" in value else value


def finite(value: float) -> float:
    """NaN and infinity are no confidence (SQLite stores NaN as NULL, and JSON has neither)."""
    return value if math.isfinite(value) else 0.0


def camera_row(agent_id: str, site: str, rec: pb.CameraRecord) -> CameraRow:
    return CameraRow(
        camera_id=text(rec.camera_id),
        agent_id=agent_id,
        site=text(rec.site or site),
        host=text(rec.host),
        port=rec.port,
        manufacturer=text(rec.identity.manufacturer),
        model=text(rec.identity.model),
        firmware=text(rec.identity.firmware),
        origin=text(rec.origin.manufacturer) or "unknown",
        covered=rec.origin.covered,
        oem_rebrand=rec.origin.oem_rebrand,
        confidence=finite(rec.origin.confidence),
        risk_score=rec.risk.score,
        risk_level=text(rec.risk.level) or "unknown",
        cloud_reachable=rec.risk.cloud_reachable,
        fingerprint=text(rec.fingerprint),
        reachable=rec.reachable,
        observed_at=rec.observed_at.ToMicroseconds() / 1e6 if rec.HasField("observed_at") else 0.0,
        record=rec.SerializeToString(deterministic=True),
        agent_ref=text(rec.camera_id),
        serial=text(rec.identity.serial),
        macs=[text(m) for m in rec.identity.macs],
        device_class=text(rec.device_class),
    )


def execution_row(upd: pb.ExecutionUpdate) -> ExecutionRow:
    return ExecutionRow(
        command_id=upd.command_id,
        camera_id=upd.camera_id,
        agent_id=upd.agent_id,
        state=ExecState.from_wire(upd.state),
        settings=[
            {
                "setting": s.setting,
                "outcome": OUTCOME_NAMES.get(s.outcome, "unspecified"),
                "before": _json(s.before),
                "after": _json(s.after),
                "reason": s.reason,
            }
            for s in upd.settings
        ],
        snapshot={k: _json(v) for k, v in upd.snapshot.values.items()},
        snapshot_id=upd.snapshot.snapshot_id,
        error_class=ERROR_NAMES.get(upd.error_class, "") if upd.error_class else "",
        message=text(upd.message or upd.rejection_reason),
        seq=upd.seq,
        goal=GOAL_NAMES.get(upd.goal, ""),
    )


def _json(text: str) -> object:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
