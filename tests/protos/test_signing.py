"""Signed command envelopes: every check of the verifier, in order, with its own exception type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import approve, build_manifest, controller_signed_bytes, new_command, seal
from protos.keys import Keyring, SigningKey
from protos.verify import (
    BadSignature,
    Expired,
    InsufficientApprovals,
    Malformed,
    MemorySeenStore,
    NotYetValid,
    Replayed,
    VerificationError,
    Verifier,
    WrongTarget,
)

CONTROLLER = SigningKey.generate()
APPROVERS = [SigningKey.generate() for _ in range(3)]
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def verifier(**kw: object) -> Verifier:
    return Verifier(
        "site-a",
        Keyring.of(CONTROLLER.public_key),
        MemorySeenStore(),
        approver_keys=Keyring.of(*(a.public_key for a in APPROVERS)),
        clock=lambda: NOW.timestamp(),
        **kw,  # type: ignore[arg-type]
    )


def inventory() -> pb.Action:
    return pb.Action(inventory=pb.Inventory(include_vendor_apis=True))


def decommission() -> pb.Action:
    return pb.Action(decommission=pb.Decommission(mode=pb.FACTORY_RESET_MODE_HARD, wipe_users=True))


def sealed(action: pb.Action | None = None, **kw: object) -> bytes:
    cmd = new_command("site-a", action or inventory(), ["cam-1"], now=NOW, **kw)  # type: ignore[arg-type]
    return seal(cmd, CONTROLLER)


def destructive(approvers: list[SigningKey], cameras: tuple[str, ...] = ("cam-1", "cam-2")) -> bytes:
    manifest = build_manifest("camp-1", "b-1", decommission(), cameras, NOW + timedelta(hours=1))
    cmd = new_command(
        "site-a",
        decommission(),
        ["cam-1"],
        now=NOW,
        campaign_id="camp-1",
        batch_id="b-1",
        approval_manifest=manifest,
    )
    return seal(cmd, CONTROLLER, [approve(manifest, a) for a in approvers])


def test_round_trip() -> None:
    raw = sealed(dry_run=True)
    got = verifier().verify(raw)
    assert got.command.agent_id == "site-a"
    assert got.command.dry_run is True
    assert got.command.action.WhichOneof("kind") == "inventory"
    assert list(got.command.camera_ids) == ["cam-1"]
    assert got.manifest is None


def test_every_flipped_byte_is_rejected() -> None:
    raw = sealed()
    for i in range(len(raw)):
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        with pytest.raises(VerificationError) as info:
            verifier().verify(bytes(flipped))
        assert isinstance(info.value, (Malformed, BadSignature)), (i, info.value)


def test_wrong_key() -> None:
    other = SigningKey.generate()
    raw = seal(new_command("site-a", inventory(), now=NOW), other)
    with pytest.raises(BadSignature):
        verifier().verify(raw)


def test_key_id_of_pinned_key_with_foreign_signature() -> None:
    # An attacker who copies the pinned key id still cannot sign with it.
    other = SigningKey.generate()
    impostor = SigningKey(CONTROLLER.key_id, other.private_key)
    with pytest.raises(BadSignature):
        verifier().verify(seal(new_command("site-a", inventory(), now=NOW), impostor))


def test_approver_signature_cannot_stand_in_for_controller() -> None:
    cmd = new_command("site-a", inventory(), now=NOW)
    payload = cmd.SerializeToString(deterministic=True)
    env = pb.Envelope(kind=pb.PAYLOAD_KIND_COMMAND, payload=payload)
    env.signatures.append(
        pb.Signature(
            key_id=APPROVERS[0].key_id,
            signature=APPROVERS[0].sign(controller_signed_bytes(pb.PAYLOAD_KIND_COMMAND, payload)),
            role=pb.SIGNATURE_ROLE_CONTROLLER,
        )
    )
    with pytest.raises(BadSignature):
        verifier().verify(b"CFv1" + env.SerializeToString())


def test_expired() -> None:
    raw = seal(
        new_command("site-a", inventory(), now=NOW - timedelta(hours=2), ttl=timedelta(minutes=5)), CONTROLLER
    )
    with pytest.raises(Expired):
        verifier().verify(raw)


def test_not_yet_valid() -> None:
    raw = seal(new_command("site-a", inventory(), now=NOW + timedelta(minutes=10)), CONTROLLER)
    with pytest.raises(NotYetValid):
        verifier().verify(raw)


def test_clock_slack_is_honoured() -> None:
    # Issued 20 s in the future: inside the default 30 s slack, outside a 5 s one.
    raw = seal(new_command("site-a", inventory(), now=NOW + timedelta(seconds=20)), CONTROLLER)
    assert verifier().verify(raw).command.agent_id == "site-a"
    with pytest.raises(NotYetValid):
        verifier(clock_slack_s=5.0).verify(raw)


def test_replayed() -> None:
    v = verifier()
    raw = sealed()
    v.verify(raw)
    with pytest.raises(Replayed):
        v.verify(raw)


def test_rejected_command_does_not_burn_its_id() -> None:
    # Refused for lack of approvals, it is refused for the same reason again, not as a replay.
    v = verifier()
    raw = destructive([APPROVERS[0]])
    for _ in range(2):
        with pytest.raises(InsufficientApprovals):
            v.verify(raw)


def test_wrong_target() -> None:
    raw = seal(new_command("site-b", inventory(), now=NOW), CONTROLLER)
    with pytest.raises(WrongTarget):
        verifier().verify(raw)


@pytest.mark.parametrize(
    "approvers",
    [[], [APPROVERS[0]], [APPROVERS[0], APPROVERS[0]], [APPROVERS[1], APPROVERS[1], APPROVERS[1]]],
    ids=["none", "one", "same-twice", "same-thrice"],
)
def test_destructive_needs_two_distinct_approvers(approvers: list[SigningKey]) -> None:
    with pytest.raises(InsufficientApprovals):
        verifier().verify(destructive(approvers))


def test_destructive_with_two_distinct_approvers() -> None:
    got = verifier().verify(destructive([APPROVERS[0], APPROVERS[2]]))
    assert got.manifest is not None
    assert set(got.approver_key_ids) == {APPROVERS[0].key_id, APPROVERS[2].key_id}


def test_unpinned_approver_does_not_count() -> None:
    with pytest.raises(InsufficientApprovals):
        verifier().verify(destructive([APPROVERS[0], SigningKey.generate()]))


def test_approval_for_other_cameras_is_refused() -> None:
    with pytest.raises(InsufficientApprovals):
        verifier().verify(destructive(APPROVERS[:2], cameras=("cam-7",)))


def test_approval_for_other_action_is_refused() -> None:
    soft = pb.Action(decommission=pb.Decommission(mode=pb.FACTORY_RESET_MODE_SOFT))
    manifest = build_manifest("camp-1", "b-1", soft, ["cam-1"], NOW + timedelta(hours=1))
    cmd = new_command(
        "site-a",
        decommission(),
        ["cam-1"],
        now=NOW,
        campaign_id="camp-1",
        batch_id="b-1",
        approval_manifest=manifest,
    )
    with pytest.raises(InsufficientApprovals):
        verifier().verify(seal(cmd, CONTROLLER, [approve(manifest, a) for a in APPROVERS[:2]]))


def test_keyring_json_round_trip() -> None:
    ring = Keyring.of(*(a.public_key for a in APPROVERS))
    assert set(Keyring.from_json(ring.to_json())) == set(ring)


def test_signing_key_repr_hides_material() -> None:
    assert repr(CONTROLLER) == f"SigningKey(key_id={CONTROLLER.key_id!r})"
    assert SigningKey.from_pem(CONTROLLER.to_pem(b"pw"), b"pw").key_id == CONTROLLER.key_id


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_malformed(raw: bytes) -> None:
    with pytest.raises(Malformed):
        verifier().verify(raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_behind_the_wire_tag_are_malformed(raw: bytes) -> None:
    with pytest.raises(Malformed):
        verifier().verify(b"CFv1" + raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1024))
def test_arbitrary_signed_payload_is_malformed(payload: bytes) -> None:
    # Even a payload carrying a valid controller signature must decode into a whole command.
    env = pb.Envelope(kind=pb.PAYLOAD_KIND_COMMAND, payload=payload or b"\x00")
    env.signatures.append(
        pb.Signature(
            key_id=CONTROLLER.key_id,
            signature=CONTROLLER.sign(controller_signed_bytes(pb.PAYLOAD_KIND_COMMAND, env.payload)),
            role=pb.SIGNATURE_ROLE_CONTROLLER,
        )
    )
    with pytest.raises(Malformed):
        verifier().verify(b"CFv1" + env.SerializeToString())
