"""Credential refusals kept between runs (a 0600 file): a credential a camera refused is not presented again."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agent.auth_guard import AuthGuard, Block
from agent.credentials import Credentials
from agent.durable import private

log = logging.getLogger(__name__)

Entry = dict[str, Any]
#: Where a worker's memory sends each change (camera id, entry or None when the block is lifted).
Relay = Callable[[str, Entry | None], None]

VERSION = 1
#: A lost answer (it may have been a failed login, or a network fault) holds the credential back this long in
#: later runs: longer than a lockout window (Hikvision locks the client for 30 min after 7 failures, DESIGN §4), not forever.
UNKNOWN_FOR_S = 3600.0


class AuthMemory:
    """What each camera said about its credential, for the next run of the CLI and across daemon restarts.

    An engineer who re-runs `camfleet-agent inventory` with the same wrong password, or a daemon restarted by
    systemd, would otherwise present a refused credential once more per run; cameras lock the account after
    5-7 failed logins (DESIGN §4). Only cameras whose credential is held back are kept (the block and the APIs
    that accepted it), keyed by the agent's camera reference and a salted scrypt fingerprint of the credential:
    a new password for that camera lifts the block, and the file holds no secret."""

    def __init__(self, path: Path | None, *, relay: Relay | None = None) -> None:
        """`path` None with `relay`: a worker's memory (see relayed), which writes no file."""
        self.path = path
        self._relay = relay
        self._salt = secrets.token_bytes(16)
        self._cameras: dict[str, Entry] = {}
        self._fingerprints: dict[Credentials, str] = {}
        self._dirty = False
        self._load()

    # ---- worker processes (agent.inventory_shards) ---------------------------------------------------
    # The file has one writer, the process that opened it: a worker's compaction would otherwise replace the file
    # with its own view and drop the refusals other workers appended meanwhile. Workers get the salt and their
    # cameras' entries, and hand every change back to that process, which appends it at once (as for its own).
    def share(self, camera_ids: Iterable[str]) -> dict[str, Any]:
        """What a worker needs: the salt (its fingerprints must match the file's) and these cameras' entries."""
        return {
            "salt": self._salt.hex(),
            "cameras": {c: self._cameras[c] for c in camera_ids if c in self._cameras},
        }

    @classmethod
    def relayed(cls, shared: Mapping[str, Any], relay: Relay) -> AuthMemory:
        """A worker's memory: what `share` gave it, every change handed to `relay` instead of a file."""
        memory = cls(None, relay=relay)
        memory._salt = bytes.fromhex(str(shared["salt"]))
        cameras = shared.get("cameras")
        if isinstance(cameras, dict):
            memory._cameras = {str(c): e for c, e in cameras.items() if isinstance(e, dict)}
        return memory

    def apply(self, camera_id: str, entry: object) -> None:
        """A change a worker relayed: kept (appended to the file at once) like one of this process's own."""
        if entry is not None and not (isinstance(entry, dict) and _block(entry.get("block")) is not None
                                      and isinstance(entry.get("credential"), str)):  # fmt: skip
            log.warning("auth memory: a worker relayed an entry not understood for %s; ignored", camera_id)
            return
        if entry is None:
            if self._cameras.pop(camera_id, None) is not None:
                self._append(camera_id, None)
        elif self._cameras.get(camera_id) != entry:
            self._cameras[camera_id] = entry
            self._append(camera_id, entry)

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            # Forgetting costs at most one more attempt per camera; say so rather than stop the run.
            log.warning("auth memory %s unreadable (%s): starting without it", self.path, exc)
            return
        try:
            head = json.loads(lines[0])
            if head.get("version") != VERSION:
                raise ValueError(f"version {head.get('version')!r}")
            self._salt = bytes.fromhex(head["salt"])
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            log.warning("auth memory %s not understood (%s): starting without it", self.path, exc)
            return
        for line in lines[1:]:
            try:
                change = json.loads(line)
                camera, entry = str(change["camera"]), change["entry"]
            except (KeyError, TypeError, ValueError):
                continue  # a line cut short by a kill: the changes before it stand
            if isinstance(entry, dict):
                self._cameras[camera] = entry
            else:
                self._cameras.pop(camera, None)
        self._dirty = len(lines) - 1 > len(self._cameras)  # compact on the next flush

    def fingerprint(self, credentials: Credentials) -> str:
        """Salted and slow (scrypt): a stolen file must not be a cheap dictionary attack on the password.
        Computed once per distinct credential, and a site has a handful."""
        fp = self._fingerprints.get(credentials)
        if fp is None:
            secret = f"{credentials.username}\x00{credentials.password}".encode()
            fp = hashlib.scrypt(secret, salt=self._salt, n=2**14, r=8, p=1, dklen=16).hex()
            self._fingerprints[credentials] = fp
        return fp

    def attach(self, camera_id: str, guard: AuthGuard) -> None:
        """Restore what an earlier run learnt about this camera's current credential, and keep what this run
        learns."""
        entry = self._cameras.get(camera_id)
        if entry is not None and guard.credentials is not None:
            block = _block(entry.get("block"))
            if block is not None and block.outcome == "unknown" and time.time() - block.at > UNKNOWN_FOR_S:
                block = None
            if block is not None and entry.get("credential") == self.fingerprint(guard.credentials):
                accepted = entry.get("accepted")
                guard.restore(block, [str(s) for s in accepted] if isinstance(accepted, list) else [])
        guard.on_change = lambda g: self._changed(camera_id, g)

    def blocked(self) -> list[str]:
        """Cameras whose credential is held back (for messages and tests)."""
        return sorted(self._cameras)

    def _changed(self, camera_id: str, guard: AuthGuard) -> None:
        if guard.block is None or guard.credentials is None:
            if self._cameras.pop(camera_id, None) is not None:
                self._append(camera_id, None)
            return
        entry = {
            "credential": self.fingerprint(guard.credentials),
            "block": asdict(guard.block),
            "accepted": sorted(guard.accepted),
        }
        if self._cameras.get(camera_id) != entry:
            self._cameras[camera_id] = entry
            self._append(camera_id, entry)

    def _append(self, camera_id: str, entry: Entry | None) -> None:
        """One line per change, written at once: a refusal must outlive a process killed a moment later, and
        rewriting the whole file per camera would be quadratic on a site whose password is wrong everywhere."""
        if self._relay is not None:
            self._relay(camera_id, entry)
            return
        if self.path is None:
            return
        if not self.path.exists():
            self._dirty = True
            self.flush()
            return
        try:
            with open(private(self.path), "a", encoding="utf-8") as f:
                f.write(json.dumps({"camera": camera_id, "entry": entry}, sort_keys=True) + "\n")
        except OSError as exc:
            log.warning("auth memory %s not written (%s)", self.path, exc)
        self._dirty = True  # compacted at the end of the run

    def flush(self) -> None:
        """Rewrite the file compacted (one line per camera held back), atomically."""
        if not self._dirty or self.path is None:
            return
        lines = [json.dumps({"version": VERSION, "salt": self._salt.hex()})]
        lines += [
            json.dumps({"camera": c, "entry": e}, sort_keys=True) for c, e in sorted(self._cameras.items())
        ]
        tmp = private(self.path.with_name(self.path.name + ".tmp"))
        try:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)  # atomic: a crash leaves the old file or the new one
        except OSError as exc:
            log.warning("auth memory %s not written (%s)", self.path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
            return
        self._dirty = False


def _block(raw: object) -> Block | None:
    if not isinstance(raw, dict):
        return None
    try:
        outcome = raw["outcome"]
        if outcome not in ("refused", "unknown"):
            return None
        return Block(
            outcome=outcome,
            at=float(raw["at"]),
            space=str(raw["space"]),
            reason=str(raw["reason"]),
            locked=bool(raw.get("locked", False)),
        )
    except (KeyError, TypeError, ValueError):
        return None


__all__ = ["AuthMemory"]
