"""Camera credentials value object (the vault stores them; nothing else may print the password)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Credentials:
    """Username/password for one camera; repr and str hide the password so it never reaches logs.

    Equality compares both fields, which is how a session notices "credentials changed" after an
    auth failure; across runs agent.auth_memory compares a salted scrypt fingerprint, never the password.
    """

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password='***')"

    __str__ = __repr__
