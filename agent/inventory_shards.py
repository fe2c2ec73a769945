"""One inventory sweep sharded over worker processes (`camfleet-agent inventory --workers N`): parent and worker."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import resource
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from agent.auth_memory import AuthMemory, Entry
from agent.credentials import Credentials
from agent.fleet import CameraFleet, camera_id_of, kept_record
from agent.inventory import InventoryResult
from agent.targets import Target
from protos.camfleet.v1 import camfleet_pb2 as pb

log = logging.getLogger(__name__)

#: asyncio's default line limit is 64 KiB; a recorder's record with every channel's evidence can be longer.
LINE_LIMIT = 64 * 1024 * 1024


@dataclass
class ShardResult(InventoryResult):
    """A camera a worker read: its record, and its JSON as the worker rendered it (the origin evidence and vendor
    probes that rendering needs stay in the worker)."""

    rendered: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return self.rendered


@dataclass
class WorkerStats:
    """One worker's figures: its own CPU and peak RSS (its last message), or what became of it."""

    shard: int
    cameras: int
    returncode: int | None = None
    cpu_s: float = 0.0
    rss_mb: float = 0.0
    lost: int = 0  # cameras it never reported: each ended in a failed result

    def fate(self) -> str:
        rc = self.returncode
        if rc is not None and rc < 0:
            try:
                return f"was killed by {signal.Signals(-rc).name}"
            except ValueError:
                return f"was killed by signal {-rc}"
        return f"exited with status {rc}" if rc else "ended without reporting them"


def split(targets: Sequence[Target], n: int) -> list[list[Target]]:
    """Round robin, so each shard gets the same mix: a targets file is often listed by vendor or by subnet."""
    return [s for s in (list(targets[i::n]) for i in range(max(1, n))) if s]


class ShardedSweep:
    """Inventory `fleet`'s targets in `workers` child processes, each a CameraFleet with the fleet's settings and
    an equal part of its concurrency; results are yielded as each camera is read, in whatever worker.

    The fleet stays the parent's: its auth memory is the file's one writer (workers relay their changes), and
    its recorder matching runs once over every shard's records, as in one process."""

    def __init__(self, fleet: CameraFleet, workers: int, *, verbose: bool = False) -> None:
        self.fleet = fleet
        self.workers = max(1, workers)
        self.verbose = verbose
        self.stats: list[WorkerStats] = []

    def _spec(self, part: list[Target], n: int) -> dict[str, Any]:
        f = self.fleet
        memory = f.auth_memory
        ids = [camera_id_of(t.host, t.port) for t in part]
        return {
            "targets": [[t.host, t.port, t.credentials.username, t.credentials.password] for t in part],
            "concurrency": max(1, f.concurrency // n),
            "timeout": f.timeout,
            "attempts": f.attempts,
            "second_source": f.second_source,
            "source_address": f.source_address,
            "network_allow": list(f.network_allow),
            "read_path": f.read_path,
            "agent_id": f.agent_id,
            "site": f.site,
            "verbose": self.verbose,
            "auth_memory": memory.share(ids) if memory is not None else None,
        }

    async def stream(self) -> AsyncIterator[InventoryResult]:
        parts = split(list(self.fleet.targets.values()), self.workers)
        done: asyncio.Queue[InventoryResult | None] = asyncio.Queue()
        procs: list[asyncio.subprocess.Process] = []
        tasks: list[asyncio.Task[None]] = []
        kept: list[pb.CameraRecord] = []
        try:
            for i, part in enumerate(parts):
                # Credentials go over stdin only: argv and the environment are readable by other users (ps, /proc).
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "agent.inventory_shards", "--shard", f"{i + 1}/{len(parts)}",
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT,
                )  # fmt: skip
                procs.append(proc)
                stats = WorkerStats(i + 1, len(part))
                self.stats.append(stats)
                tasks.append(asyncio.create_task(self._follow(proc, part, len(parts), stats, done)))
            ended = 0
            while ended < len(tasks):
                item = await done.get()
                if item is None:
                    ended += 1
                    continue
                kept.append(kept_record(item.record))
                yield item
            # Recorder channels are matched once per sweep, over every shard's records (a recorder and the cameras
            # on its channels may well sit in different shards).
            self.fleet.remember(kept)
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(proc.wait() for proc in procs), return_exceptions=True)

    async def _follow(
        self,
        proc: asyncio.subprocess.Process,
        part: list[Target],
        n: int,
        stats: WorkerStats,
        done: asyncio.Queue[InventoryResult | None],
    ) -> None:
        """Relay one worker's stream; whatever it did not report when its stream ends is a failed result."""
        unread = {camera_id_of(t.host, t.port): t for t in part}
        assert proc.stdin is not None and proc.stdout is not None
        try:
            try:
                proc.stdin.write(json.dumps(self._spec(part, n)).encode() + b"\n")
                await proc.stdin.drain()
                proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass  # it died before reading its work: its cameras are failed below
            while line := await proc.stdout.readline():
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue  # a line cut short by the worker's death: its camera is still unread
                if "record" in msg:
                    rec = pb.CameraRecord.FromString(base64.b64decode(msg["record"]))
                    if unread.pop(rec.camera_id, None) is not None:
                        await done.put(ShardResult(rec, rendered=msg["result"]))
                elif "auth" in msg and self.fleet.auth_memory is not None:
                    self.fleet.auth_memory.apply(str(msg["auth"]), msg.get("entry"))
                elif "end" in msg:
                    stats.cpu_s = float(msg["end"]["cpu_s"])
                    stats.rss_mb = float(msg["end"]["rss_mb"])
            stats.returncode = await proc.wait()
        except Exception:  # a bug here must not hang the sweep: the shard's unread cameras still end below
            log.exception("inventory worker %d/%d: its stream could not be read", stats.shard, n)
            if proc.returncode is None:
                proc.kill()
                stats.returncode = await proc.wait()
        finally:
            stats.lost = len(unread)
            if unread:
                why = (
                    f"not read: inventory worker {stats.shard}/{n} {stats.fate()} before this camera was read"
                )
                log.error(
                    "inventory worker %d/%d %s: %d of its %d cameras not read (error class internal)",
                    stats.shard,
                    n,
                    stats.fate(),
                    len(unread),
                    stats.cameras,
                )
                for cid, t in unread.items():
                    done.put_nowait(self._lost(cid, t, why))
            done.put_nowait(None)

    def _lost(self, camera_id: str, t: Target, why: str) -> InventoryResult:
        # ERROR_CLASS_INTERNAL: agent.errors classifies what cameras answer, and none of its classes is true of
        # the agent's own failure (unreachable would send the operator to the camera's network).
        rec = pb.CameraRecord(camera_id=camera_id, agent_id=self.fleet.agent_id, site=self.fleet.site,
                              host=t.host, port=t.port, reachable=False)  # fmt: skip
        rec.errors.append(
            pb.CameraError(operation="inventory", error_class=pb.ERROR_CLASS_INTERNAL, message=why)
        )
        return InventoryResult(rec)


# ---- the worker ---------------------------------------------------------------------------------------------
def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _work(spec: dict[str, Any], out: TextIO) -> None:
    def send(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg, sort_keys=True) + "\n")
        out.flush()  # the parent prints each camera as it is read

    def relay(camera_id: str, entry: Entry | None) -> None:
        send({"auth": camera_id, "entry": entry})

    shared = spec.get("auth_memory")
    memory = AuthMemory.relayed(shared, relay) if shared is not None else None
    targets = [Target(h, int(p), Credentials(u, pw)) for h, p, u, pw in spec["targets"]]
    async with CameraFleet(targets, concurrency=int(spec["concurrency"]), timeout=float(spec["timeout"]),
                           attempts=int(spec["attempts"]), second_source=spec["second_source"],
                           source_address=spec["source_address"], network_allow=spec["network_allow"],
                           read_path=spec["read_path"], agent_id=spec["agent_id"], site=spec["site"],
                           auth_memory=memory) as fleet:  # fmt: skip
        async for r in fleet.inventory_stream(match_recorders=False):
            send({"record": base64.b64encode(r.record.SerializeToString()).decode(), "result": r.to_json()})
    usage = resource.getrusage(resource.RUSAGE_SELF)
    send({"end": {"cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": _peak_rss_mb()}})


def main(argv: list[str] | None = None) -> int:
    """A worker: its shard (settings, targets and their credentials) is one JSON line on stdin; it writes one JSON
    line per event on stdout (a camera read, an auth memory change, its figures at the end)."""
    ap = argparse.ArgumentParser(
        description="camfleet inventory worker (started by camfleet-agent --workers)"
    )
    ap.add_argument("--shard", default="", help="i/n, to tell the workers apart in ps")
    ap.parse_args(argv)
    # fd 1 carries the result stream alone: a library printing there would corrupt it, so stdout goes to stderr.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    spec = json.loads(sys.stdin.readline())
    # force: onvif-zeep-async calls logging.basicConfig(level=INFO) when imported (DESIGN §8).
    logging.basicConfig(level=logging.DEBUG if spec.get("verbose") else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)  # fmt: skip
    try:
        asyncio.run(_work(spec, out))
    except BrokenPipeError:
        return 1  # the parent is gone: nobody to report to
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
