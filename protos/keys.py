"""Ed25519 signing keys, key ids and keyrings (pinned public keys) for commands and approvals."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """A short, stable id: the first 16 hex digits of SHA-256 over the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class SigningKey:
    """A private key and its id. `repr` never shows the key material."""

    key_id: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        pk = Ed25519PrivateKey.generate()
        return cls(key_id_of(pk.public_key()), pk)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def to_pem(self, passphrase: bytes | None = None) -> bytes:
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
        )

    @classmethod
    def from_pem(cls, data: bytes, passphrase: bytes | None = None) -> SigningKey:
        key = serialization.load_pem_private_key(data, password=passphrase)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("not an Ed25519 private key")
        return cls(key_id_of(key.public_key()), key)

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"


class Keyring(Mapping[str, Ed25519PublicKey]):
    """Pinned public keys by key id. The agent trusts exactly these and nothing it receives."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey] | None = None) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for kid, key in (keys or {}).items():
            if key_id_of(key) != kid:
                raise ValueError(f"key id {kid!r} does not match its key")
            self._keys[kid] = key

    @classmethod
    def of(cls, *keys: Ed25519PublicKey) -> Keyring:
        return cls({key_id_of(k): k for k in keys})

    def __getitem__(self, key_id: str) -> Ed25519PublicKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def to_json(self) -> str:
        """Keyring file format: {"keys": [{"key_id": ..., "ed25519": <hex of raw public key>}]}."""
        return json.dumps(
            {"keys": [{"key_id": k, "ed25519": public_raw(v).hex()} for k, v in sorted(self._keys.items())]},
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        doc = json.loads(text)
        keys: dict[str, Ed25519PublicKey] = {}
        for entry in doc.get("keys", []):
            keys[str(entry["key_id"])] = Ed25519PublicKey.from_public_bytes(bytes.fromhex(entry["ed25519"]))
        return cls(keys)

    @classmethod
    def load(cls, path: Path) -> Keyring:
        return cls.from_json(path.read_text())
