"""Approval manifests of destructive batches and the approver signatures over them (checked server-side too)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controller.actions import build_action, describe_action
from controller.store.base import ApprovalRow
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import approve, approver_signed_bytes, build_manifest, manifest_digest
from protos.keys import Keyring, SigningKey, key_id_of


class ApprovalError(ValueError):
    """An approval that does not count; the message says why (shown to the approver)."""


def batch_manifest(
    campaign_id: str,
    batch_id: str,
    action: str,
    params: dict[str, Any],
    camera_ids: Iterable[str],
    not_after: float,
) -> bytes:
    """Exactly which cameras and which action: the bytes every approver signs and every agent re-checks."""
    return build_manifest(
        campaign_id,
        batch_id,
        build_action(action, params),
        camera_ids,
        datetime.fromtimestamp(not_after, UTC),
    )


def describe(manifest: bytes) -> dict[str, Any]:
    """The human-readable form shown next to the digest, so approvers see what they sign."""
    m = pb.ApprovalManifest.FromString(manifest)
    return {
        "campaign_id": m.campaign_id,
        "batch_id": m.batch_id,
        **describe_action(m.action),
        "camera_ids": list(m.camera_ids),
        "not_after": m.not_after.ToJsonString() if m.HasField("not_after") else "",
        "digest": manifest_digest(manifest),
    }


def approver_public_key(registered: str) -> tuple[str, Ed25519PublicKey]:
    """A user's registered approver key (users.approver_key): a keyring document {"keys": [...]} with one
    key, a single entry {"key_id", "ed25519"}, or the 64 hex digits of the raw public key."""
    text = registered.strip()
    if not text:
        raise ApprovalError(
            "no approver key is registered for this user (camfleet-controller user --approver-key)"
        )
    try:
        if text.startswith("{"):
            doc = json.loads(text)
            entries = doc.get("keys", [doc]) if isinstance(doc, dict) else []
            if len(entries) != 1:
                raise ApprovalError("the registered approver keyring must hold exactly one key")
            ring = Keyring.from_json(json.dumps({"keys": entries}))
            (kid,) = list(ring)
            return kid, ring[kid]
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, ApprovalError):
            raise
        raise ApprovalError(f"the registered approver key is unreadable: {exc}") from exc
    return key_id_of(key), key


def decode_signature(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApprovalError("signature: base64 of the 64-byte Ed25519 signature") from exc
    if len(raw) != 64:
        raise ApprovalError("signature: an Ed25519 signature is 64 bytes")
    return raw


def check_signature(manifest: bytes, registered_key: str, key_id: str, signature: bytes) -> None:
    """The signature must come from the person's own registered key, over this exact manifest (with the
    approver domain prefix the agents use, protos.envelope.approver_signed_bytes)."""
    kid, key = approver_public_key(registered_key)
    if key_id != kid:
        raise ApprovalError(f"key {key_id} is not the approver key registered for this user ({kid})")
    try:
        key.verify(signature, approver_signed_bytes(manifest))
    except InvalidSignature as exc:
        raise ApprovalError("the signature does not verify over this batch's manifest") from exc


def distinct_valid(rows: Sequence[ApprovalRow], digest: str) -> list[ApprovalRow]:
    """Approvals that count: over the current manifest, one per person and one per key."""
    people: set[str] = set()
    keys: set[str] = set()
    out = []
    for r in rows:
        if r.manifest_digest != digest or r.username in people or r.key_id in keys:
            continue
        people.add(r.username)
        keys.add(r.key_id)
        out.append(r)
    return out


def pinned_valid(
    rows: Sequence[ApprovalRow], manifest: bytes, digest: str, keyring: Keyring | None
) -> list[ApprovalRow]:
    """Approvals that count at the controller: distinct (distinct_valid) and each signed by a key of the
    controller's pinned approver keyring, verified again here. No keyring: none count, so a controller that
    pins no approver cannot make a destructive batch READY (the agents would refuse it anyway)."""
    if keyring is None:
        return []
    out = []
    for r in distinct_valid(rows, digest):
        key = keyring.get(r.key_id)
        if key is None:
            continue
        try:
            key.verify(r.signature, approver_signed_bytes(manifest))
        except InvalidSignature:
            continue
        out.append(r)
    return out


def wire_signatures(rows: Iterable[ApprovalRow]) -> list[pb.Signature]:
    """Approver signatures as they travel in the command envelope (agents verify k-of-n themselves)."""
    return [
        pb.Signature(key_id=r.key_id, signature=r.signature, role=pb.SIGNATURE_ROLE_APPROVER) for r in rows
    ]


@dataclass(frozen=True)
class SignedApproval:
    key_id: str
    signature_b64: str

    def body(self) -> dict[str, str]:
        return {"key_id": self.key_id, "signature": self.signature_b64}


def sign_manifest(manifest_b64: str, key: SigningKey, expect_digest: str | None = None) -> SignedApproval:
    """What `fleetctl approve` does with GET .../manifest: check the digest the person was shown, then sign.
    The result is the body of POST .../approvals."""
    manifest = base64.b64decode(manifest_b64, validate=True)
    if expect_digest is not None and manifest_digest(manifest) != expect_digest:
        raise ApprovalError("the manifest does not match the digest you were shown; not signing")
    sig = approve(manifest, key)
    return SignedApproval(sig.key_id, base64.b64encode(sig.signature).decode())
