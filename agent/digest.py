"""RFC 7616 HTTP digest client state for one camera: challenge parsing, preemptive answers with nonce counting."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# The algorithms aiohttp's DigestAuthMiddleware answered (this client replaced it; cameras offering any of them
# must keep working). RFC 7616 names MD5, SHA-256 and SHA-512-256; "SHA" and the undashed names are what some
# firmwares send.
_HASHES: dict[str, Callable[[bytes], hashlib._Hash]] = {
    "MD5": hashlib.md5,
    "SHA": hashlib.sha1,
    "SHA256": hashlib.sha256,
    "SHA-256": hashlib.sha256,
    "SHA512": hashlib.sha512,
    "SHA-512": hashlib.sha512,
}
# One auth-param (token = token / quoted-string) or a bare token (an auth-scheme, or token68 after Basic).
_ITEM = re.compile(r'([!#$%&\'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*)))?')
_UNESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One `WWW-Authenticate` challenge: its scheme (lower-case) and parameters (names lower-case)."""

    scheme: str
    params: dict[str, str]

    @property
    def stale(self) -> bool:
        return self.params.get("stale", "").strip().lower() == "true"


def parse_challenges(headers: Iterable[str]) -> list[Challenge]:
    """Every challenge of every `WWW-Authenticate` header, in order (a header may carry several, RFC 7235 §4.1:
    `Digest realm="a", nonce="b", Basic realm="c"`). Never raises: unreadable text just yields fewer params."""
    out: list[Challenge] = []
    for header in headers:
        scheme = ""
        params: dict[str, str] = {}
        for m in _ITEM.finditer(header):
            name, quoted, plain = m.group(1), m.group(2), m.group(3)
            if quoted is None and plain is None:
                # A bare token starts the next challenge (its auth-scheme).
                if scheme:
                    out.append(Challenge(scheme, params))
                scheme, params = name.lower(), {}
                continue
            if not scheme:
                continue  # parameters before any scheme: not a challenge
            params[name.lower()] = _UNESCAPE.sub(r"\1", quoted) if quoted is not None else plain or ""
        if scheme:
            out.append(Challenge(scheme, params))
    return out


def answerable(challenge: Challenge) -> bool:
    """A digest challenge this client can answer: a realm, a nonce, a known algorithm, qop none/auth/auth-int."""
    p = challenge.params
    if challenge.scheme != "digest" or "realm" not in p or not p.get("nonce"):
        return False
    if p.get("algorithm", "MD5").upper().removesuffix("-SESS") not in _HASHES:
        return False
    qop = p.get("qop")
    return qop is None or bool({"auth", "auth-int"} & _qops(qop))


def choose(headers: Iterable[str]) -> Challenge | None:
    """The first digest challenge this client can answer, in the order sent (RFC 7616 §3.7: the server lists its
    preferred algorithm first)."""
    return next((c for c in parse_challenges(headers) if answerable(c)), None)


def _qops(raw: str) -> set[str]:
    return {q.strip().lower() for q in raw.split(",") if q.strip()}


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class DigestState:
    """The challenge a camera last sent and the nonce count for it, so every later request to the camera carries
    its answer up front (preemptive, RFC 7616 §3.6) and the camera sends one challenge per session, not one per
    request. H(A1) is kept per realm and algorithm: only the per-request hashes are computed each time."""

    __slots__ = ("_fixed", "_ha1", "_hash", "_password", "_qop", "_session", "_username", "challenge", "nc")

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password
        self.challenge: Challenge | None = None
        self.nc = 0
        self._ha1 = self._qop = self._fixed = ""
        self._session = False
        self._hash: Callable[[bytes], hashlib._Hash] = hashlib.md5

    def learn(self, challenge: Challenge) -> None:
        """A new challenge (answerable() said so): its nonce starts a new count (nc=1 on the next answer). What
        does not change from one request to the next is worked out here, once per challenge."""
        old = self.challenge
        if old is None or old.params.get("nonce") != challenge.params.get("nonce"):
            self.nc = 0
        self.challenge = challenge
        p = challenge.params
        algorithm = p.get("algorithm", "MD5")
        name = algorithm.upper()
        self._session = name.endswith("-SESS")
        self._hash = _HASHES[name.removesuffix("-SESS")]
        realm = p["realm"]
        self._ha1 = self._hash(f"{self._username}:{realm}:{self._password}".encode()).hexdigest()
        offered = _qops(p["qop"]) if "qop" in p else set()
        # auth when offered (no body hash); auth-int only for a server that insists on it.
        self._qop = "auth" if "auth" in offered else "auth-int" if offered else ""
        fixed = [
            f'username="{_quote(self._username)}"',
            f'realm="{_quote(realm)}"',
            f'nonce="{_quote(p["nonce"])}"',
        ]
        self._fixed = ", ".join(fixed)

    def forget(self) -> None:
        self.challenge = None
        self.nc = 0

    @property
    def realm(self) -> str | None:
        return None if self.challenge is None else self.challenge.params.get("realm")

    def authorization(self, method: str, uri: str, body: bytes = b"") -> str:
        """The `Authorization` header for one request under the current challenge (call learn() first)."""
        c = self.challenge
        assert c is not None, "no digest challenge learnt"
        p = c.params
        nonce, hash_fn, qop = p["nonce"], self._hash, self._qop
        self.nc += 1
        nc = f"{self.nc:08x}"
        cnonce = os.urandom(8).hex()
        ha1 = hash_fn(f"{self._ha1}:{nonce}:{cnonce}".encode()).hexdigest() if self._session else self._ha1
        a2 = f"{method.upper()}:{uri}"
        if qop == "auth-int":
            a2 += ":" + hash_fn(body).hexdigest()
        ha2 = hash_fn(a2.encode()).hexdigest()
        data = f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}" if qop else f"{ha1}:{nonce}:{ha2}"
        response = hash_fn(data.encode()).hexdigest()
        header = (
            f'Digest {self._fixed}, uri="{uri}", response="{response}", algorithm={p.get("algorithm", "MD5")}'
        )
        if p.get("opaque"):
            header += f', opaque="{_quote(p["opaque"])}"'
        if qop:
            header += f', qop={qop}, nc={nc}, cnonce="{cnonce}"'
        return header
