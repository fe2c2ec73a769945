"""The controller's Ed25519 signing key, stored encrypted at rest (PKCS#8 with a passphrase)."""

from __future__ import annotations

import os
from pathlib import Path

from controller.config import ControllerConfig
from controller.files import private_dir
from protos.keys import Keyring, SigningKey


class SigningKeyError(Exception):
    """The signing key cannot be loaded; the message says what to fix, never the passphrase."""


def passphrase(cfg: ControllerConfig) -> bytes:
    if cfg.passphrase_file is not None:
        try:
            text = cfg.passphrase_file.read_text().strip()
        except OSError as exc:
            raise SigningKeyError(
                f"cannot read keys.passphrase_file {cfg.passphrase_file}: {exc.strerror}"
            ) from exc
    else:
        text = os.environ.get(cfg.passphrase_env, "")
    if len(text) < 12:
        raise SigningKeyError(
            f"the signing key passphrase must be at least 12 characters: set {cfg.passphrase_env} or keys.passphrase_file"
        )
    return text.encode()


def load_or_create(cfg: ControllerConfig) -> SigningKey:
    path = cfg.key_path
    secret = passphrase(cfg)
    if path.exists():
        try:
            return SigningKey.from_pem(path.read_bytes(), secret)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"cannot decrypt {path}: wrong passphrase or not an Ed25519 key") from exc
    key = SigningKey.generate()
    private_dir(path.parent, tighten=False)  # a configured key may sit in a shared /etc directory
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.to_pem(secret))
    return key


def write_keyring(key: SigningKey, path: Path) -> None:
    """The public keyring agents pin (keys.controller_keyring in agent.toml)."""
    path.write_text(Keyring.of(key.public_key).to_json())
