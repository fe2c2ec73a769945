"""The unit of work on both backends: a change and its audit entry commit together or not at all, a failure or
a cancellation half-way leaves nothing behind (and no transaction open for the next writer)."""

from __future__ import annotations

import asyncio

import pytest

from controller.store import Store
from controller.store.repos.audit import AuditRepo
from tests.controller.test_store import cam


class Injected(RuntimeError):
    pass


async def seeded(store: Store) -> None:
    await store.ingest_cameras("site-a", [cam(1), cam(2)], full=True, removed=[], seq=1)


async def state(store: Store) -> tuple[str, int, int]:
    got = await store.get_camera("cam-001")
    assert got is not None
    return got.lifecycle, len(await store.camera_history("cam-001")), len(await store.audit_entries())


async def test_a_change_and_its_audit_entry_commit_together(store: Store) -> None:
    await seeded(store)
    async with store.tx() as tx:
        await tx.cameras.set_lifecycle("cam-001", "CLOUD_OFF")
        await tx.audit.append("alice", "camera.lifecycle", "cam-001", {"to": "CLOUD_OFF"})
    assert await state(store) == ("CLOUD_OFF", 2, 1)
    assert (await store.verify_audit()).ok


async def test_a_failure_between_the_change_and_its_audit_entry_leaves_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seeded(store)
    before = await state(store)

    async def broken(self: AuditRepo, *a: object) -> None:
        raise Injected("audit write failed")

    monkeypatch.setattr(AuditRepo, "append_many", broken)
    with pytest.raises(Injected):
        async with store.tx() as tx:
            await tx.cameras.set_lifecycle("cam-001", "CLOUD_OFF")
            await tx.audit.append("alice", "camera.lifecycle", "cam-001", {"to": "CLOUD_OFF"})
    monkeypatch.undo()
    assert await state(store) == before == ("INVENTORIED", 1, 0)
    # The store is usable at once: the next write commits on its own.
    await store.append_audit("alice", "x", "1", {})
    assert await state(store) == ("INVENTORIED", 1, 1)


async def test_a_cancelled_write_leaves_no_open_transaction(store: Store) -> None:
    await seeded(store)
    inside = asyncio.Event()

    async def writer() -> None:
        async with store.tx() as tx:
            await tx.cameras.set_lifecycle("cam-001", "CLOUD_OFF")
            await tx.audit.append("alice", "camera.lifecycle", "cam-001", {})
            inside.set()
            await asyncio.Event().wait()  # cancelled here, mid-transaction

    task = asyncio.create_task(writer())
    await asyncio.wait_for(inside.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The next writer gets the store (no lock left held) and its commit saves only its own change.
    await asyncio.wait_for(store.set_lifecycle("cam-002", "NETWORK_LOCKED"), 30)
    assert await state(store) == ("INVENTORIED", 1, 0)
    other = await store.get_camera("cam-002")
    assert other is not None and other.lifecycle == "NETWORK_LOCKED"
    assert (await store.verify_audit()).ok


async def test_reads_see_a_write_only_once_it_commits(store: Store) -> None:
    await seeded(store)
    async with store.tx() as tx:
        await tx.cameras.set_lifecycle("cam-001", "CLOUD_OFF")
        assert (await store.get_camera("cam-001")).lifecycle == "INVENTORIED"  # type: ignore[union-attr]
        assert (await tx.cameras.get("cam-001")).lifecycle == "CLOUD_OFF"  # type: ignore[union-attr]
    assert (await store.get_camera("cam-001")).lifecycle == "CLOUD_OFF"  # type: ignore[union-attr]
