"""devstack's Stack: a start that fails half-way stops what it had started (a leaked camsim holds its ports)."""

from __future__ import annotations

import pytest

from devstack.stack import Stack


def test_a_stack_that_fails_to_start_leaves_no_process_running(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = Stack(cameras=3, sites=("north",), broker="embedded")

    def broken() -> None:
        raise RuntimeError("targets could not be split")

    monkeypatch.setattr(stack, "split_targets", broken)  # fails after camsim is up and serving
    try:
        with pytest.raises(RuntimeError, match="could not be split"):
            stack.start()
        camsim = stack.procs["camsim"]
        assert camsim.popen is not None and camsim.popen.poll() is not None, "camsim still running"
    finally:
        stack.cleanup()
