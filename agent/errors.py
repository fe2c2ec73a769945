"""Camera error classes of DESIGN.md (unreachable, auth, locked_out, unsupported, protocol, timeout)."""

from __future__ import annotations

from typing import ClassVar

#: ProtocolError keeps at most this many bytes of the offending reply (enough for any SOAP fault we saw in
#: shared/fixtures, small enough that a fleet of broken cameras cannot blow up memory).
RAW_LIMIT = 64 * 1024


class CameraError(Exception):
    """Base of every error the agent's camera layer raises; third-party exceptions never leak past it."""

    error_class: ClassVar[str] = "unreachable"

    def __init__(
        self, message: str, *, host: str = "", operation: str = "", raw: bytes | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.host = host
        self.operation = operation
        self.raw: bytes | None = raw[:RAW_LIMIT] if raw is not None else None

    def __str__(self) -> str:
        where = " ".join(part for part in (self.host, self.operation) if part)
        return f"{self.error_class}: {self.message}" + (f" [{where}]" if where else "")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, host={self.host!r}, operation={self.operation!r}, "
            f"raw={len(self.raw) if self.raw is not None else None} bytes)"
        )

    def to_dict(self) -> dict[str, str]:
        """Compact form for inventory records / JSON output (raw bytes are left out)."""
        return {
            "error_class": self.error_class,
            "message": self.message,
            "host": self.host,
            "operation": self.operation,
        }


class Unreachable(CameraError):
    """Retry later: connect refused, reset, DNS, transient 5xx such as Hikvision's 503 under load."""

    error_class: ClassVar[str] = "unreachable"


class Timeout(Unreachable):
    """A timeout is a kind of unreachable (retryable)."""

    error_class: ClassVar[str] = "timeout"


class AuthFailed(CameraError):
    """Credentials rejected: ask an operator. NEVER retried (cameras lock accounts after 5-7 failures)."""

    error_class: ClassVar[str] = "auth"


class LockedOut(AuthFailed):
    """The camera says this client/account is locked (Hikvision lockStatus, Dahua 'user locked')."""

    error_class: ClassVar[str] = "locked_out"


class Unsupported(CameraError):
    """An answer, not a failure: ActionNotSupported, 404 on an optional vendor path."""

    error_class: ClassVar[str] = "unsupported"


class ProtocolError(CameraError):
    """Malformed reply; `raw` keeps the reply bytes (truncated to RAW_LIMIT) for a regression fixture."""

    error_class: ClassVar[str] = "protocol"

    def fixture_line(self) -> str:
        """One line to paste into a test fixture: operation, host and the raw reply as a bytes literal."""
        return f"({self.operation!r}, {self.host!r}, {self.raw!r})"


class Refused(CameraError):
    """The agent refused the action before sending anything: it would break a safety rule (e.g. cut a camera off
    its recorder). Not retried; the operator changes the request or accepts the consequence explicitly."""

    error_class: ClassVar[str] = "rejected"


#: Errors worth retrying with backoff; everything else is an answer or needs an operator.
TRANSIENT: tuple[type[CameraError], ...] = (Unreachable,)


def is_transient(exc: BaseException) -> bool:
    """True for Unreachable/Timeout (retry with backoff), False for auth/unsupported/protocol."""
    return isinstance(exc, TRANSIENT)
