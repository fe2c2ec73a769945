"""Encrypted credentials vault: one AES-256-GCM file, keyed by a key file or an Argon2id-stretched passphrase.

File layout (all of it authenticated):

    MAGIC (8 bytes) | header length (4 bytes, big-endian) | header (JSON, UTF-8)
    | key check (32 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext + tag

The header holds the format version, the KDF and its parameters and the salt, so a vault stays readable
when the defaults change. Two subkeys are derived with HKDF from the master key (passphrase through
Argon2id, or the key file's 32 bytes): one encrypts, the other computes the key check, an HMAC over the
header. The key check tells "wrong passphrase" apart from "file damaged or tampered with" without trying
to decrypt; the GCM tag (with the header as associated data) catches any change to the rest.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agent.credentials import Credentials
from agent.targets import load_targets, normalize_host, parse_port

__all__ = [
    "Credentials",
    "KeyFile",
    "KeySource",
    "Passphrase",
    "Vault",
    "VaultCorrupt",
    "VaultError",
    "VaultKeyError",
]

log = logging.getLogger(__name__)

MAGIC = b"CFVAULT\x01"
FORMAT_VERSION = 1
_LEN = struct.Struct(">I")
_CHECK_LEN = 32
_NONCE_LEN = 12
_KEY_LEN = 32
_SALT_LEN = 16
# A site vault holds a few thousand entries; anything much larger is not ours and is not read into memory.
MAX_VAULT_BYTES = 64 * 1024 * 1024
_MAX_HEADER_BYTES = 4096

# RFC 9106 §4 "second recommended option" (64 MiB, t=3, p=4): ~0.2 s on a small agent box, once per open.
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_ITERATIONS = 3
ARGON2_LANES = 4
# Bounds for parameters read from a file header: a hostile header must not make us allocate 64 GiB.
_ARGON2_LIMITS = {"memory_cost": (8, 1024 * 1024), "iterations": (1, 32), "lanes": (1, 16)}


class VaultError(Exception):
    """The vault cannot be created, opened or saved. Messages never contain secrets."""


class VaultKeyError(VaultError):
    """Wrong passphrase or key file (or the wrong kind of key for this vault)."""


class VaultCorrupt(VaultError):
    """The vault file is damaged or was modified by someone without the key."""


@dataclass(frozen=True)
class Passphrase:
    """Key source: a passphrase, stretched with Argon2id. The parameters apply when creating a vault;
    opening one uses the parameters stored in its header."""

    passphrase: str = field(repr=False)
    memory_cost: int = ARGON2_MEMORY_KIB
    iterations: int = ARGON2_ITERATIONS
    lanes: int = ARGON2_LANES

    def __repr__(self) -> str:
        return (
            f"Passphrase(passphrase='***', memory_cost={self.memory_cost}, "
            f"iterations={self.iterations}, lanes={self.lanes})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class KeyFile:
    """Key source: a file holding 32 random bytes, base64 encoded (as `generate` writes) or raw."""

    path: Path

    @classmethod
    def generate(cls, path: Path) -> KeyFile:
        """Write a new random key file with mode 0600; refuses to overwrite an existing file."""
        key = base64.urlsafe_b64encode(secrets.token_bytes(_KEY_LEN)) + b"\n"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise VaultError(f"key file {path} already exists; not overwriting it") from None
        except OSError as exc:
            raise VaultError(f"cannot create key file {path}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        return cls(path)

    def read_key(self) -> bytes:
        try:
            st = self.path.stat()
            if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                log.warning("vault: key file %s is readable by other users; chmod 600 it", self.path)
            if st.st_size > 1024:
                raise VaultKeyError(f"{self.path} is not a vault key file")
            data = self.path.read_bytes()
        except OSError as exc:
            raise VaultKeyError(f"cannot read key file {self.path}: {exc.strerror}") from None
        if len(data) == _KEY_LEN:
            return data
        try:
            key = base64.urlsafe_b64decode(data.strip())
        except ValueError:
            key = b""
        if len(key) != _KEY_LEN:
            raise VaultKeyError(f"{self.path} is not a vault key file (expected 32 bytes, base64 or raw)")
        return key


KeySource = Passphrase | KeyFile


@dataclass(frozen=True)
class _Keys:
    enc: bytes = field(repr=False)
    check: bytes = field(repr=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not a string")
    return base64.b64decode(text.encode("ascii"), validate=True)


def _new_header(source: KeySource) -> dict[str, Any]:
    header: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "cipher": "AES-256-GCM",
        "salt": _b64(secrets.token_bytes(_SALT_LEN)),
    }
    if isinstance(source, Passphrase):
        header.update(
            kdf="argon2id",
            memory_cost=source.memory_cost,
            iterations=source.iterations,
            lanes=source.lanes,
        )
    else:
        header["kdf"] = "keyfile"
    return header


def _derive(header: dict[str, Any], source: KeySource) -> _Keys:
    salt = _unb64(header["salt"])
    if header["kdf"] == "argon2id":
        if not isinstance(source, Passphrase):
            raise VaultKeyError("this vault is protected by a passphrase, not a key file")
        if not source.passphrase:
            raise VaultKeyError("the passphrase is empty")
        master = Argon2id(
            salt=salt,
            length=_KEY_LEN,
            iterations=header["iterations"],
            lanes=header["lanes"],
            memory_cost=header["memory_cost"],
        ).derive(source.passphrase.encode("utf-8"))
    else:
        if not isinstance(source, KeyFile):
            raise VaultKeyError("this vault is protected by a key file, not a passphrase")
        master = source.read_key()

    def sub(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=_KEY_LEN, salt=salt, info=info).derive(master)

    return _Keys(enc=sub(b"camfleet vault v1 encryption"), check=sub(b"camfleet vault v1 key check"))


def _validate_header(header: object) -> dict[str, Any]:
    """Check a header read from disk; ValueError (never with secret content) when it is not acceptable."""
    if not isinstance(header, dict):
        raise ValueError("header is not an object")
    if header.get("format") != FORMAT_VERSION:
        raise ValueError(f"unsupported vault format {header.get('format')!r}")
    if header.get("cipher") != "AES-256-GCM":
        raise ValueError("unsupported cipher")
    if not _SALT_LEN <= len(_unb64(header.get("salt"))) <= 64:
        raise ValueError("bad salt")
    kdf = header.get("kdf")
    if kdf == "argon2id":
        for name, (low, high) in _ARGON2_LIMITS.items():
            value = header.get(name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"argon2id {name} out of bounds")
        if header["memory_cost"] < 8 * header["lanes"]:
            raise ValueError("argon2id memory_cost below 8 x lanes")
    elif kdf != "keyfile":
        raise ValueError("unsupported key derivation")
    return header


def _header_bytes(header: dict[str, Any]) -> bytes:
    body = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return MAGIC + _LEN.pack(len(body)) + body


def _key_check(keys: _Keys, prefix: bytes) -> bytes:
    return hmac.new(keys.check, prefix, hashlib.sha256).digest()


class Vault:
    """Credentials per (host, port), kept encrypted at rest. Call `save()` to write changes."""

    def __init__(self, path: Path, header: dict[str, Any], keys: _Keys) -> None:
        self.path = Path(path)
        self._header = header
        self._keys = keys
        self._entries: dict[tuple[str, int], Credentials] = {}

    def __repr__(self) -> str:
        return f"Vault(path={str(self.path)!r}, entries={len(self._entries)}, kdf={self._header['kdf']!r})"

    __str__ = __repr__

    def __len__(self) -> int:
        return len(self._entries)

    # ---- lifecycle -----------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, key_source: KeySource) -> Vault:
        """Create and write a new empty vault; refuses to overwrite an existing file."""
        path = Path(path)
        if path.exists():
            raise VaultError(f"vault file {path} already exists; not overwriting it")
        header = _new_header(key_source)
        try:
            _validate_header(header)
        except ValueError as exc:
            raise VaultError(f"bad key derivation parameters: {exc}") from None
        vault = cls(path, header, _derive(header, key_source))
        vault.save()
        return vault

    @classmethod
    def open(cls, path: Path, key_source: KeySource) -> Vault:
        """Open and decrypt a vault. VaultKeyError for a wrong key, VaultCorrupt for a damaged file."""
        path = Path(path)
        try:
            if path.stat().st_size > MAX_VAULT_BYTES:
                raise VaultCorrupt(f"{path} is too large to be a vault")
            data = path.read_bytes()
        except OSError as exc:
            raise VaultError(f"cannot read vault file {path}: {exc.strerror}") from None
        if not data.startswith(MAGIC):
            raise VaultError(f"{path} is not a camfleet vault file")
        corrupt = VaultCorrupt(f"vault file {path} is damaged or was modified")
        offset = len(MAGIC) + _LEN.size
        if len(data) < offset:
            raise corrupt
        (hlen,) = _LEN.unpack_from(data, len(MAGIC))
        if hlen > _MAX_HEADER_BYTES or len(data) < offset + hlen + _CHECK_LEN + _NONCE_LEN + 16:
            raise corrupt
        prefix = data[: offset + hlen]
        try:
            header = _validate_header(json.loads(data[offset : offset + hlen]))
        except ValueError:
            raise corrupt from None
        keys = _derive(header, key_source)
        rest = offset + hlen
        check = data[rest : rest + _CHECK_LEN]
        if not hmac.compare_digest(check, _key_check(keys, prefix)):
            raise VaultKeyError(f"cannot open vault {path}: wrong passphrase or key")
        nonce = data[rest + _CHECK_LEN : rest + _CHECK_LEN + _NONCE_LEN]
        try:
            plain = AESGCM(keys.enc).decrypt(nonce, data[rest + _CHECK_LEN + _NONCE_LEN :], prefix)
        except InvalidTag:
            raise corrupt from None
        vault = cls(path, header, keys)
        try:
            vault._load_entries(json.loads(plain))
        except (ValueError, KeyError, TypeError):
            # The decrypted text is full of passwords: keep every detail of it out of the error.
            raise VaultCorrupt(f"vault file {path} has unreadable contents") from None
        return vault

    def save(self) -> None:
        """Encrypt with a fresh nonce and replace the file atomically (temp file + rename), mode 0600."""
        prefix = _header_bytes(self._header)
        nonce = secrets.token_bytes(_NONCE_LEN)
        plain = json.dumps(self._dump_entries(), separators=(",", ":")).encode("utf-8")
        blob = (
            prefix
            + _key_check(self._keys, prefix)
            + nonce
            + AESGCM(self._keys.enc).encrypt(nonce, plain, prefix)
        )
        directory = self.path.parent
        tmp = directory / f".{self.path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(blob)
                    fh.flush()
                    os.fsync(fh.fileno())
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise VaultError(f"cannot write vault file {self.path}: {exc.strerror}") from None
        # The rename is durable only once the directory entry is on disk.
        with contextlib.suppress(OSError):
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        log.info("vault: saved %d entries to %s", len(self._entries), self.path)

    # ---- entries -------------------------------------------------------------------------------------
    @staticmethod
    def _key(host: str, port: int) -> tuple[str, int]:
        try:
            return normalize_host(host), parse_port(str(port))
        except ValueError as exc:
            raise VaultError(f"bad vault key: {exc}") from None

    def get(self, host: str, port: int) -> Credentials | None:
        try:
            return self._entries.get(self._key(host, port))
        except VaultError:
            return None

    def put(self, host: str, port: int, creds: Credentials) -> None:
        if not isinstance(creds, Credentials):
            raise VaultError("put() needs a Credentials object")
        self._entries[self._key(host, port)] = creds

    def remove(self, host: str, port: int) -> bool:
        return self._entries.pop(self._key(host, port), None) is not None

    def keys(self) -> list[tuple[str, int]]:
        """(host, port) of every entry, sorted; no credentials."""
        return sorted(self._entries)

    def import_csv(self, path: Path) -> int:
        """Add or replace every row of a targets CSV; returns the number of rows. Call save() to persist.

        A bad file raises agent.targets.TargetsError (line numbers only, no values) and imports nothing.
        """
        targets = load_targets(Path(path))
        for t in targets:
            self._entries[(t.host, t.port)] = t.credentials
        log.info("vault: imported %d entries from %s", len(targets), path)
        return len(targets)

    def _dump_entries(self) -> dict[str, Any]:
        return {
            "entries": [
                {"host": h, "port": p, "username": c.username, "password": c.password}
                for (h, p), c in sorted(self._entries.items())
            ]
        }

    def _load_entries(self, doc: Any) -> None:
        for e in doc["entries"]:
            host, port, user, password = e["host"], e["port"], e["username"], e["password"]
            if not (isinstance(host, str) and isinstance(port, int) and isinstance(user, str)):
                raise TypeError("bad entry")
            if not isinstance(password, str):
                raise TypeError("bad entry")
            self._entries[(host, port)] = Credentials(user, password)
