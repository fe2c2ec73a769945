"""What executing a command did to one camera: the camera layer's answer, which the daemon reports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from protos.camfleet.v1 import camfleet_pb2 as pb


@dataclass
class CameraOutcome:
    state: pb.ExecutionState
    settings: list[pb.SettingOutcome] = field(default_factory=list)
    snapshot: dict[str, str] = field(default_factory=dict)  # setting -> JSON of the prior value
    snapshot_id: str = ""
    error_class: pb.ErrorClass = pb.ERROR_CLASS_UNSPECIFIED
    message: str = ""
    goal: pb.GoalState = pb.GOAL_STATE_UNSPECIFIED
    residual: list[str] = field(default_factory=list)  # what remains exposed when the goal was not reached


#: Stores a camera's prior values before a change; returns the snapshot's id.
SnapshotSink = Callable[[dict[str, str]], Awaitable[str]]
