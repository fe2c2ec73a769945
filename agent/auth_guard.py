"""Per-camera credential guard: a credential a camera refused, or whose answer was lost, is not presented again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from agent.credentials import Credentials
from agent.errors import AuthFailed, CameraError, LockedOut

Outcome = Literal["refused", "unknown"]


def space_of(path: str) -> str:
    """The API a request goes to, by the first segment of its path: "onvif", "isapi", "cgi-bin", "axis-cgi".

    Each is its own protection space on a camera (Hikvision keeps ONVIF users apart from ISAPI's, camsim's
    web_users): a credential one of them accepted is known there, and only there."""
    if path.startswith(("http://", "https://")):
        path = urlsplit(path).path
    return path.strip("/").split("/", 1)[0].split("?", 1)[0].lower() or "/"


@dataclass(frozen=True)
class Block:
    """Why the credential is held back: the camera refused it, or its answer never came (it may have counted as
    a failed login: cameras lock accounts after 5-7, DESIGN §4). No secret in here."""

    outcome: Outcome
    at: float  # POSIX time of the refusal or of the request whose answer was lost
    space: str  # the API that refused it or whose answer was lost
    reason: str  # what happened, as the error said it
    locked: bool = False  # the camera said the account or this client is locked

    def message(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.at))
        if self.outcome == "refused":
            return f"not sent: refused on {when} by {self.space} ({self.reason})"
        return (
            f"not sent: its answer from {self.space} on {when} never came ({self.reason}); it may have counted "
            "as a failed login"
        )


class Withheld(AuthFailed):
    """The agent did not send the credential at all: it was refused before, or an answer to it was lost."""


class WithheldLocked(Withheld, LockedOut):
    """Withheld after the camera said the account (or this client) is locked."""


@dataclass
class AuthGuard:
    """Where one camera's current credential may still go. Every HTTP client that talks to the camera asks
    `admit` before a request carries the credential, and reports what became of it: `accept` (a 2xx answer),
    `refuse`, `lose` (sent, no answer). Once refused or lost anywhere, it goes only to the APIs that accepted this
    very credential before (no failed login can come of those), until the credential changes.

    One guard per camera, kept by whoever keeps the camera (CameraFleet: across sessions and daemon rounds;
    agent.auth_memory: across runs). It is the one memory of what the camera said about its credential: a
    session's remembered ONVIF failure and the vendor APIs not to ask again are kept in `denied`."""

    credentials: Credentials | None = None
    block: Block | None = None
    accepted: set[str] = field(default_factory=set)
    # The APIs that turned this credential away, each with its first error: they are not asked with it again. Not
    # the same as `block`, which is about the credential (it goes nowhere unaccepted after one refusal): this is
    # about APIs, and holds what `block` cannot. A turn-away that is no failed login blocks only its own API (an
    # account without the privilege, a 403; a Basic-only challenge, to which nothing was sent), and an API that
    # asked for the credential while it was held back is known to be there (a later vendor probe skips it
    # without a request; an API that never asked is probed, and may be absent). Lives as long as the
    # credential, not persisted (agent.auth_memory keeps `block`, which is what spares the camera a failed login).
    denied: dict[str, AuthFailed] = field(default_factory=dict)
    presented: int = 0  # requests that carried the credential (a session tells its own from the count)
    on_change: Callable[[AuthGuard], None] | None = field(default=None, repr=False, compare=False)

    def bind(self, credentials: Credentials | None) -> None:
        """The credential the camera is to be asked with; a different one starts with a clean slate."""
        if credentials != self.credentials:
            self.credentials = credentials
            self.block = None
            self.accepted = set()
            self.denied = {}

    def restore(self, block: Block | None, accepted: Iterable[str] = ()) -> None:
        """What an earlier run learnt about this same credential (agent.auth_memory)."""
        self.block = block
        self.accepted = set(accepted)

    def admit(self, space: str, *, host: str = "", operation: str = "") -> None:
        """Raise Withheld when the credential must not go to `space`; nothing is sent then."""
        if self.block is None or space in self.accepted:
            return
        cls = WithheldLocked if self.block.locked else Withheld
        raise cls(self.block.message(), host=host, operation=operation or space)

    def deny(self, space: str, exc: AuthFailed) -> None:
        """`space` turned the credential away (or it was withheld from there): requests to it that need the
        credential are not made again until the credential changes. The first error stays."""
        self.denied.setdefault(space, exc)

    def denial(self, space: str, *, host: str = "", operation: str = "") -> AuthFailed | None:
        """Why requests to `space` that need the credential are not made, None when they may be: the guard's
        own words where it holds the credential back ("not sent: refused on <date> by ..."), else what that
        API said when it turned the credential away."""
        first = self.denied.get(space)
        if first is None:
            return None
        try:
            self.admit(space, host=host or first.host, operation=operation or first.operation)
        except Withheld as exc:
            return exc
        return first

    def sent(self) -> None:
        """A request carrying the credential left (or may have left) the agent."""
        self.presented += 1

    def accept(self, space: str) -> None:
        if space not in self.accepted:
            self.accepted.add(space)
            self._changed()

    def refuse(self, space: str, exc: AuthFailed) -> None:
        if isinstance(exc, Withheld):
            return  # our own refusal to send: nothing reached the camera
        self.accepted.discard(space)
        locked = isinstance(exc, LockedOut)
        if self.block is None or self.block.outcome == "unknown" or (locked and not self.block.locked):
            self.block = Block("refused", time.time(), space, exc.message[:200], locked)
        self._changed()

    def lose(self, space: str, exc: BaseException) -> None:
        """The credential went out and no answer came: unless `space` accepted it before, it may have been a
        failed login, so it is not presented again anywhere it is not known.

        Where this credential was accepted before, a lost answer is what it almost always is, a network fault (the
        password would have had to change on the camera in between): commit-confirm must still be able to write a
        cleared gateway back after the answer to clearing it was lost."""
        if self.block is not None or space in self.accepted:
            return
        reason = exc.message if isinstance(exc, CameraError) else type(exc).__name__
        self.block = Block("unknown", time.time(), space, reason[:200])
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)


__all__ = ["AuthGuard", "Block", "Withheld", "WithheldLocked", "space_of"]
