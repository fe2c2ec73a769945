"""The hash chain of the append-only audit log: each entry carries the hash of the one before it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: float
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def entry_hash(
    prev_hash: str, seq: int, at: float, actor: str, action: str, subject: str, details: dict[str, Any]
) -> str:
    body = json.dumps(
        [seq, repr(at), actor, action, subject, details], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    problems: list[str]


def verify_chain(entries: Iterable[AuditEntry], head: tuple[int, str] | None) -> ChainReport:
    """Recompute every hash in order. An edited entry, a deleted one (a gap or a broken link), or a
    truncated tail (the stored head no longer matches) each shows as a problem."""
    problems: list[str] = []
    prev, expected_seq, n = GENESIS, 1, 0
    last: tuple[int, str] | None = None
    for e in entries:
        n += 1
        if e.seq != expected_seq:
            problems.append(f"entry {expected_seq} is missing (next is {e.seq})")
        if e.prev_hash != prev:
            problems.append(f"entry {e.seq} does not link to the entry before it")
        if entry_hash(e.prev_hash, e.seq, e.at, e.actor, e.action, e.subject, e.details) != e.hash:
            problems.append(f"entry {e.seq} was altered (hash mismatch)")
        prev, expected_seq, last = e.hash, e.seq + 1, (e.seq, e.hash)
    if head is not None and last != head:
        problems.append(f"the chain ends at {last} but the recorded head is {head}: entries were removed")
    return ChainReport(ok=not problems, entries=n, problems=problems)
