"""Verification of signed command envelopes: signature, target, validity window, replay, approvals."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from google.protobuf.message import DecodeError

from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import (
    WIRE_MAGIC,
    action_name,
    approver_signed_bytes,
    controller_signed_bytes,
    is_destructive,
)
from protos.keys import Keyring


class VerificationError(Exception):
    """A command was refused. `reason` is a short machine-readable word, the message is for humans."""

    reason = "rejected"

    def __init__(self, message: str, command_id: str = "") -> None:
        super().__init__(message)
        self.command_id = command_id


class Malformed(VerificationError):
    reason = "malformed"


class BadSignature(VerificationError):
    reason = "bad_signature"


class WrongTarget(VerificationError):
    reason = "wrong_target"


class Expired(VerificationError):
    reason = "expired"


class NotYetValid(VerificationError):
    reason = "not_yet_valid"


class Replayed(VerificationError):
    reason = "replayed"


class InsufficientApprovals(VerificationError):
    reason = "insufficient_approvals"


class SeenStore(Protocol):
    """Remembers accepted command ids until they expire; the agent's implementation survives restarts."""

    def seen(self, command_id: str) -> bool: ...

    def add(self, command_id: str, expires_at: float) -> None: ...


class MemorySeenStore:
    """In-process seen-command store (tests, and the stand-alone CLI)."""

    def __init__(self) -> None:
        self._ids: dict[str, float] = {}

    def seen(self, command_id: str) -> bool:
        return command_id in self._ids

    def add(self, command_id: str, expires_at: float) -> None:
        self._ids[command_id] = expires_at


@dataclass(frozen=True)
class VerifiedCommand:
    command: pb.Command
    manifest: pb.ApprovalManifest | None
    approver_key_ids: tuple[str, ...]


def _parse_envelope(raw: bytes) -> pb.Envelope:
    if not raw.startswith(WIRE_MAGIC):
        raise Malformed("not a camfleet v1 envelope (missing wire tag)")
    env = pb.Envelope()
    try:
        env.ParseFromString(raw[len(WIRE_MAGIC) :])
    except (DecodeError, ValueError, RecursionError) as exc:
        raise Malformed(f"envelope does not decode: {exc}") from exc
    if env.kind != pb.PAYLOAD_KIND_COMMAND:
        raise Malformed(f"unexpected payload kind {env.kind}")
    if not env.payload:
        raise Malformed("empty payload")
    return env


def _parse_command(payload: bytes) -> pb.Command:
    cmd = pb.Command()
    try:
        cmd.ParseFromString(payload)
    except (DecodeError, ValueError, RecursionError) as exc:
        raise Malformed(f"command does not decode: {exc}") from exc
    try:
        uuid.UUID(cmd.command_id)
    except ValueError as exc:
        raise Malformed("command_id is not a UUID") from exc
    if not cmd.agent_id:
        raise Malformed("command has no target agent", cmd.command_id)
    if not cmd.HasField("issued_at") or not cmd.HasField("not_after"):
        raise Malformed("command has no validity window", cmd.command_id)
    if not action_name(cmd.action):
        raise Malformed("command has no action", cmd.command_id)
    return cmd


class Verifier:
    """Checks an envelope in a fixed order; the first failed check raises its own exception type."""

    def __init__(
        self,
        agent_id: str,
        controller_keys: Keyring,
        seen: SeenStore,
        *,
        approver_keys: Keyring | None = None,
        approvals_required: int = 2,
        clock_slack_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if approvals_required < 1:
            raise ValueError("approvals_required must be at least 1")
        self.agent_id = agent_id
        self.controller_keys = controller_keys
        self.approver_keys = approver_keys or Keyring()
        self.approvals_required = approvals_required
        self.clock_slack_s = clock_slack_s
        self.seen = seen
        self.clock = clock

    def verify(self, raw: bytes) -> VerifiedCommand:
        env = _parse_envelope(raw)
        self._check_controller_signature(env)
        cmd = _parse_command(env.payload)
        cid = cmd.command_id
        if cmd.agent_id != self.agent_id:
            raise WrongTarget(f"command is for agent {cmd.agent_id!r}, not {self.agent_id!r}", cid)
        now = self.clock()
        issued = cmd.issued_at.ToMicroseconds() / 1e6
        not_after = cmd.not_after.ToMicroseconds() / 1e6
        if now + self.clock_slack_s < issued:
            raise NotYetValid(f"command is valid only from {cmd.issued_at.ToJsonString()}", cid)
        if now - self.clock_slack_s > not_after:
            raise Expired(f"command expired at {cmd.not_after.ToJsonString()}", cid)
        if self.seen.seen(cid):
            raise Replayed(f"command {cid} was already received", cid)
        manifest, approvers = self._check_approvals(env, cmd, now)
        self.seen.add(cid, not_after + self.clock_slack_s)
        return VerifiedCommand(cmd, manifest, approvers)

    def _check_controller_signature(self, env: pb.Envelope) -> None:
        signed = controller_signed_bytes(env.kind, env.payload)
        for sig in env.signatures:
            if sig.role != pb.SIGNATURE_ROLE_CONTROLLER:
                continue
            key = self.controller_keys.get(sig.key_id)
            if key is None:
                continue
            try:
                key.verify(sig.signature, signed)
            except InvalidSignature:
                continue
            return
        raise BadSignature("no valid controller signature from a pinned key")

    def _check_approvals(
        self, env: pb.Envelope, cmd: pb.Command, now: float
    ) -> tuple[pb.ApprovalManifest | None, tuple[str, ...]]:
        cid = cmd.command_id
        if not is_destructive(cmd.action):
            return None, ()
        if not cmd.approval_manifest:
            raise InsufficientApprovals("destructive command without an approval manifest", cid)
        manifest = pb.ApprovalManifest()
        try:
            manifest.ParseFromString(cmd.approval_manifest)
        except (DecodeError, ValueError, RecursionError) as exc:
            raise Malformed(f"approval manifest does not decode: {exc}", cid) from exc
        # The manifest must describe this very action and cover every camera this command touches.
        if manifest.action.SerializeToString(deterministic=True) != cmd.action.SerializeToString(
            deterministic=True
        ):
            raise InsufficientApprovals("approved action differs from the commanded action", cid)
        if manifest.campaign_id != cmd.campaign_id or manifest.batch_id != cmd.batch_id:
            raise InsufficientApprovals("approval is for another campaign or batch", cid)
        uncovered = set(cmd.camera_ids) - set(manifest.camera_ids)
        if uncovered or not cmd.camera_ids:
            raise InsufficientApprovals(f"cameras not covered by the approval: {sorted(uncovered)}", cid)
        if (
            manifest.HasField("not_after")
            and now - self.clock_slack_s > manifest.not_after.ToMicroseconds() / 1e6
        ):
            raise InsufficientApprovals("the approval has expired", cid)
        signed = approver_signed_bytes(cmd.approval_manifest)
        valid: set[str] = set()
        for sig in env.signatures:
            if sig.role != pb.SIGNATURE_ROLE_APPROVER or sig.key_id in valid:
                continue
            key = self.approver_keys.get(sig.key_id)
            if key is None:
                continue
            try:
                key.verify(sig.signature, signed)
            except InvalidSignature:
                continue
            valid.add(sig.key_id)  # the same approver twice counts once
        if len(valid) < self.approvals_required:
            raise InsufficientApprovals(
                f"{len(valid)} distinct valid approver signature(s), {self.approvals_required} required", cid
            )
        return manifest, tuple(sorted(valid))
