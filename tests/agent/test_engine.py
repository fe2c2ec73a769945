"""The plan → snapshot → apply → verify engine, over an in-memory settings table (the engine does no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.actions.engine import Outcome, Setting, rollback_settings, run
from agent.errors import AuthFailed, ProtocolError, Unsupported


class Table:
    """A tiny stand-in camera: named values, a write log, and switches to misbehave."""

    def __init__(self, **values: Any) -> None:
        self.values = dict(values)
        self.writes: list[tuple[str, Any]] = []
        self.fail_write: set[str] = set()
        self.ignore_write: set[str] = set()
        self.unsupported: set[str] = set()

    def setting(self, name: str, want: Any, confirm: Any = None) -> Setting:
        async def read() -> Any:
            if name in self.unsupported:
                raise Unsupported(f"{name} not supported")
            return self.values[name]

        async def write(v: Any) -> None:
            if name in self.fail_write:
                raise ProtocolError(f"bad reply writing {name}")
            self.writes.append((name, v))
            if name not in self.ignore_write:
                self.values[name] = v

        return Setting(name, read, write, lambda _cur: want, confirm)


async def test_dry_run_writes_nothing() -> None:
    t = Table(ezviz=True, upnp=False)
    res = await run([t.setting("ezviz", False), t.setting("upnp", False)], dry_run=True)
    assert [(r.setting, r.outcome) for r in res.settings] == [
        ("ezviz", Outcome.WOULD_CHANGE),
        ("upnp", Outcome.ALREADY),
    ]
    assert res.settings[0].before is True and res.settings[0].after is False
    assert t.writes == []


async def test_apply_then_again_is_already() -> None:
    t = Table(ezviz=True, ddns=True)
    settings = [t.setting("ezviz", False), t.setting("ddns", False)]
    snaps: list[dict[str, Any]] = []

    async def keep(s: dict[str, Any]) -> None:
        assert t.writes == [], "snapshot must be stored before the first write"
        snaps.append(s)

    first = await run(settings, on_snapshot=keep)
    assert first.changed == ["ezviz", "ddns"] and first.ok
    assert snaps == [{"ezviz": True, "ddns": True}]
    second = await run(settings)
    assert {r.outcome for r in second.settings} == {Outcome.ALREADY}
    assert len(t.writes) == 2, "nothing is written twice"


async def test_failure_halfway_states_what_changed() -> None:
    t = Table(a=1, b=1, c=1)
    t.fail_write.add("b")
    res = await run([t.setting("a", 2), t.setting("b", 2), t.setting("c", 2)])
    outcomes = {r.setting: (r.outcome, r.reason) for r in res.settings}
    assert outcomes["a"][0] is Outcome.CHANGED
    assert outcomes["b"][0] is Outcome.FAILED and "protocol" in outcomes["b"][1]
    assert outcomes["c"][0] is Outcome.FAILED and "not attempted" in outcomes["c"][1]
    assert t.values == {"a": 2, "b": 1, "c": 1}
    # The part that changed stays rollback-able from the snapshot.
    back = await run(rollback_settings([t.setting("a", None), t.setting("b", None)], {"a": 1}))
    assert back.changed == ["a"] and t.values["a"] == 1


async def test_write_that_does_not_stick_fails_verification() -> None:
    t = Table(ntp="pool.ntp.org")
    t.ignore_write.add("ntp")
    res = await run([t.setting("ntp", "10.0.0.1")])
    assert res.settings[0].outcome is Outcome.FAILED
    assert "did not stick" in res.settings[0].reason


async def test_unsupported_is_an_answer() -> None:
    t = Table(x=1)
    t.unsupported.add("x")
    res = await run([t.setting("x", 2)])
    assert res.settings[0].outcome is Outcome.UNSUPPORTED and res.ok


async def test_commit_confirm_reverts_when_access_is_lost() -> None:
    t = Table(ip_filter=[])

    async def still_reachable() -> bool:
        return False

    res = await run([t.setting("ip_filter", ["10.9.9.9/32"], confirm=still_reachable)])
    assert res.settings[0].outcome is Outcome.FAILED and "reverted" in res.settings[0].reason
    assert t.values["ip_filter"] == []
    assert t.writes == [("ip_filter", ["10.9.9.9/32"]), ("ip_filter", [])]


async def test_auth_failure_ends_the_plan() -> None:
    async def read() -> Any:
        raise AuthFailed("wrong password")

    async def write(_v: Any) -> None:
        raise AssertionError("must not write")

    with pytest.raises(AuthFailed):
        await run([Setting("x", read, write, lambda c: c)])
