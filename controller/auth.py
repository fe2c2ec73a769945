"""People, roles, password hashing (scrypt) and API tokens; what each role may do."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from enum import StrEnum

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"


class Perm(StrEnum):
    READ = "read"
    COMMAND = "command"  # create/cancel non-destructive commands, create/run campaigns
    APPROVE = "approve"  # sign approval manifests of destructive batches
    ADMIN = "admin"  # users, tokens, confirm physical removal


PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.VIEWER: frozenset({Perm.READ}),
    Role.OPERATOR: frozenset({Perm.READ, Perm.COMMAND}),
    # Approvers approve but do not start work themselves: the person who runs a batch is not its approver.
    Role.APPROVER: frozenset({Perm.READ, Perm.APPROVE}),
    Role.ADMIN: frozenset({Perm.READ, Perm.COMMAND, Perm.APPROVE, Perm.ADMIN}),
}

_N, _R, _P = 2**15, 8, 1


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError as exc:
        raise ValueError(f"unknown role {text!r}; one of {', '.join(r.value for r in Role)}") from exc


def allowed(role: str, perm: Perm) -> bool:
    try:
        return perm in PERMISSIONS[Role(role)]
    except ValueError:
        return False


def hash_password(password: str) -> str:
    """scrypt (N=2^15, r=8, p=1) with a random salt: memory-hard, in the cryptography package we already use."""
    salt = secrets.token_bytes(16)
    key = Scrypt(salt=salt, length=32, n=_N, r=_R, p=_P).derive(password.encode())
    b64 = base64.urlsafe_b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        Scrypt(salt=base64.urlsafe_b64decode(salt), length=32, n=int(n), r=int(r), p=int(p)).verify(
            password.encode(), base64.urlsafe_b64decode(key)
        )
    except (ValueError, InvalidKey):
        return False
    return True


def new_token() -> str:
    return "cf_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens are stored hashed: a copy of the database does not give API access."""
    return hashlib.sha256(token.encode()).hexdigest()


def constant_eq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
