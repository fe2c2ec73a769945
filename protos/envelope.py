"""Sealing commands into signed envelopes, and the approval manifest that approvers sign."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.keys import SigningKey

# A version tag in front of every envelope: arbitrary bytes then never pass for an envelope, and a future
# wire format can be told apart before parsing.
WIRE_MAGIC = b"CFv1"
# Domain separation: a controller signature over a command can never be replayed as an approval, and back.
_CONTROLLER_DOMAIN = b"camfleet.v1/envelope\x00"
_APPROVER_DOMAIN = b"camfleet.v1/approval-manifest\x00"

DESTRUCTIVE_ACTIONS = frozenset({"decommission"})


def controller_signed_bytes(kind: int, payload: bytes) -> bytes:
    return _CONTROLLER_DOMAIN + kind.to_bytes(4, "big") + payload


def approver_signed_bytes(manifest: bytes) -> bytes:
    return _APPROVER_DOMAIN + manifest


def manifest_digest(manifest: bytes) -> str:
    """The hash approvers see and sign for: exactly which cameras and which action."""
    return hashlib.sha256(manifest).hexdigest()


def timestamp(dt: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
    return ts


def action_name(action: pb.Action) -> str:
    """The oneof case of an Action ('' when unset)."""
    return action.WhichOneof("kind") or ""


def is_destructive(action: pb.Action) -> bool:
    return action_name(action) in DESTRUCTIVE_ACTIONS


def new_command(
    agent_id: str,
    action: pb.Action,
    camera_ids: Sequence[str] = (),
    *,
    ttl: timedelta = timedelta(minutes=15),
    dry_run: bool = False,
    campaign_id: str = "",
    batch_id: str = "",
    approval_manifest: bytes = b"",
    now: datetime | None = None,
    command_id: str | None = None,
) -> pb.Command:
    issued = now or datetime.now(UTC)
    cmd = pb.Command(
        command_id=command_id or str(uuid.uuid4()),
        agent_id=agent_id,
        camera_ids=list(camera_ids),
        dry_run=dry_run,
        campaign_id=campaign_id,
        batch_id=batch_id,
        approval_manifest=approval_manifest,
    )
    cmd.issued_at.CopyFrom(timestamp(issued))
    cmd.not_after.CopyFrom(timestamp(issued + ttl))
    cmd.action.CopyFrom(action)
    return cmd


def build_manifest(
    campaign_id: str,
    batch_id: str,
    action: pb.Action,
    camera_ids: Iterable[str],
    not_after: datetime,
) -> bytes:
    """Serialize the approval manifest deterministically (camera ids sorted and unique)."""
    m = pb.ApprovalManifest(campaign_id=campaign_id, batch_id=batch_id, camera_ids=sorted(set(camera_ids)))
    m.action.CopyFrom(action)
    m.not_after.CopyFrom(timestamp(not_after))
    return m.SerializeToString(deterministic=True)


def approve(manifest: bytes, approver: SigningKey) -> pb.Signature:
    """An approver's signature over a manifest (from `fleetctl approve` or the dashboard)."""
    return pb.Signature(
        key_id=approver.key_id,
        signature=approver.sign(approver_signed_bytes(manifest)),
        role=pb.SIGNATURE_ROLE_APPROVER,
    )


def seal(command: pb.Command, controller: SigningKey, approvals: Iterable[pb.Signature] = ()) -> bytes:
    """Sign a command with the controller key and return the wire bytes."""
    payload = command.SerializeToString(deterministic=True)
    env = pb.Envelope(kind=pb.PAYLOAD_KIND_COMMAND, payload=payload)
    env.signatures.append(
        pb.Signature(
            key_id=controller.key_id,
            signature=controller.sign(controller_signed_bytes(pb.PAYLOAD_KIND_COMMAND, payload)),
            role=pb.SIGNATURE_ROLE_CONTROLLER,
        )
    )
    env.signatures.extend(approvals)
    return WIRE_MAGIC + env.SerializeToString(deterministic=True)
