"""The state enums: execution states are the wire enum's, both ways."""

from __future__ import annotations

from controller.ingest import execution_row
from controller.states import EXEC_FINAL, EXEC_ORDER, ExecState
from protos.camfleet.v1 import camfleet_pb2 as pb


def test_execution_states_round_trip_the_wire_enum() -> None:
    for name, value in pb.ExecutionState.items():
        if value == pb.EXECUTION_STATE_UNSPECIFIED:
            assert ExecState.from_wire(value) == "UNSPECIFIED"
            continue
        state = ExecState(name.removeprefix("EXECUTION_STATE_"))
        assert state.wire == value and ExecState.from_wire(value) == state
    assert ExecState.from_wire(99) == "UNSPECIFIED"  # a newer agent's state is never taken for a known one
    upd = pb.ExecutionUpdate(command_id="c", camera_id="x", state=pb.EXECUTION_STATE_TIMED_OUT)
    assert execution_row(upd).state == "TIMED_OUT" == ExecState.TIMED_OUT


def test_final_states_rank_last_and_alike() -> None:
    assert {EXEC_ORDER[s] for s in EXEC_FINAL} == {max(EXEC_ORDER.values())}
    assert EXEC_ORDER["QUEUED"] < EXEC_ORDER["SENT"] < EXEC_ORDER["ACCEPTED"] < EXEC_ORDER["IN_PROGRESS"]
