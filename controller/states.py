"""The controller's state vocabularies as enums: execution states derived from the wire enum
(camfleet.v1.ExecutionState), command, campaign, batch and camera-lifecycle states. StrEnum members are the
strings stored in the database and shown by the API, so they compare equal to those strings."""

from __future__ import annotations

from enum import StrEnum

from protos.camfleet.v1 import camfleet_pb2 as pb

_PREFIX = "EXECUTION_STATE_"


class ExecState(StrEnum):
    """camfleet.v1.ExecutionState without its prefix (and without UNSPECIFIED, which is never stored)."""

    QUEUED = "QUEUED"
    SENT = "SENT"
    ACCEPTED = "ACCEPTED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    TIMED_OUT = "TIMED_OUT"
    CANCELED = "CANCELED"

    @classmethod
    def from_wire(cls, value: int) -> str:
        """The stored name of a wire value; an unknown or unspecified one is "UNSPECIFIED" (never accepted)."""
        name = pb.ExecutionState.Name(value) if value in pb.ExecutionState.values() else ""
        return name.removeprefix(_PREFIX) if name and value else "UNSPECIFIED"

    @property
    def wire(self) -> int:
        return int(pb.ExecutionState.Value(_PREFIX + self.value))


# Derived, not copied: the enum must list exactly the wire states (checked at import, so drift cannot ship).
_WIRE = {n.removeprefix(_PREFIX) for n in pb.ExecutionState.keys()} - {"UNSPECIFIED"}  # noqa: SIM118
if {s.value for s in ExecState} != _WIRE:
    raise ImportError(
        f"ExecState out of sync with camfleet.v1.ExecutionState: {sorted(_WIRE ^ set(ExecState))}"
    )

EXEC_FINAL = frozenset({ExecState.SUCCEEDED, ExecState.FAILED, ExecState.REJECTED, ExecState.TIMED_OUT,
                        ExecState.CANCELED})  # fmt: skip
EXEC_FAILED = frozenset({ExecState.FAILED, ExecState.REJECTED, ExecState.TIMED_OUT})
EXEC_NOT_STARTED = (ExecState.QUEUED, ExecState.SENT)
# A state never goes back: the rank an update must not fall below (all final states rank alike).
EXEC_ORDER: dict[str, int] = {s.value: (4 if s in EXEC_FINAL else i) for i, s in enumerate(ExecState)}


class CommandState(StrEnum):
    """A command (one per agent) as a whole: who publishes it, then its executions rolled up."""

    PENDING = "PENDING"  # created by the campaign runner, not yet handed to the broker (not dispatchable)
    QUEUED = "QUEUED"  # waiting for the hub's dispatcher
    DISPATCHING = "DISPATCHING"  # claimed by one replica's dispatcher
    SENT = "SENT"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    COMPLETED_WITH_FAILURES = "COMPLETED_WITH_FAILURES"
    CANCELED = "CANCELED"


class CampaignState(StrEnum):
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    ABORTED = "ABORTED"


CAMPAIGN_ACTIVE = frozenset({CampaignState.CREATED, CampaignState.RUNNING, CampaignState.PAUSED})


class BatchState(StrEnum):
    PLANNED = "PLANNED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    READY = "READY"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    SUCCEEDED = "SUCCEEDED"
    ABORTED = "ABORTED"
    ROLLING_BACK = "ROLLING_BACK"
    ROLLED_BACK = "ROLLED_BACK"


class Lifecycle(StrEnum):
    """DESIGN.md §6, in order: a campaign moves a camera forward, a rollback back."""

    DISCOVERED = "DISCOVERED"
    INVENTORIED = "INVENTORIED"
    CLOUD_OFF = "CLOUD_OFF"
    NETWORK_LOCKED = "NETWORK_LOCKED"
    DECOMMISSIONED = "DECOMMISSIONED"
    REMOVED = "REMOVED"


LIFECYCLE = tuple(s.value for s in Lifecycle)
RETIRED = frozenset({Lifecycle.DECOMMISSIONED, Lifecycle.REMOVED})
