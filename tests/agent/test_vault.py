"""Encrypted credentials vault: round trip, wrong keys, tampering, CSV import, no secrets anywhere."""

from __future__ import annotations

import json
import logging
import os
import stat
import struct
from pathlib import Path

import pytest

from agent.credentials import Credentials
from agent.targets import TargetsError
from agent.vault import (
    MAGIC,
    KeyFile,
    Passphrase,
    Vault,
    VaultCorrupt,
    VaultError,
    VaultKeyError,
)

SECRET = "Cam-Pa55!word#1"
PASSPHRASE = "correct horse battery staple"
# Cheap Argon2id parameters keep the tests fast; the format stores whatever was used.
FAST = {"memory_cost": 64, "iterations": 1, "lanes": 1}


def pw(text: str = PASSPHRASE) -> Passphrase:
    return Passphrase(text, **FAST)


def assert_no_secret(*objects: object) -> None:
    for obj in objects:
        for text in (str(obj), repr(obj)):
            assert SECRET not in text, text
            assert PASSPHRASE not in text, text


def test_passphrase_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "site.vault"
    vault = Vault.create(path, pw())
    assert len(vault) == 0
    vault.put("127.0.6.1", 80, Credentials("admin", SECRET))
    vault.put("[::1]", 8080, Credentials("root", "other"))
    vault.save()

    again = Vault.open(path, Passphrase(PASSPHRASE))  # parameters come from the header, not the source
    assert again.get("127.0.6.1", 80) == Credentials("admin", SECRET)
    assert again.get("::1", 8080) == Credentials("root", "other")
    assert again.get("127.0.6.1", 81) is None
    assert again.get("not a host!", 80) is None
    assert again.keys() == [("127.0.6.1", 80), ("::1", 8080)]
    assert again.remove("::1", 8080) and not again.remove("::1", 8080)

    raw = path.read_bytes()
    assert raw.startswith(MAGIC)
    assert SECRET.encode() not in raw and b"admin" not in raw and b"127.0.6.1" not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert_no_secret(vault, again, pw())


def test_key_file_round_trip_and_fresh_nonce_per_save(tmp_path: Path) -> None:
    key = KeyFile.generate(tmp_path / "vault.key")
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    path = tmp_path / "site.vault"
    vault = Vault.create(path, key)
    vault.put("127.0.6.2", 80, Credentials("admin", SECRET))
    vault.save()
    first = path.read_bytes()
    vault.save()
    assert path.read_bytes() != first, "every save encrypts with a new nonce"
    assert Vault.open(path, key).get("127.0.6.2", 80) == Credentials("admin", SECRET)
    # A raw 32-byte key file works as well.
    raw_key = tmp_path / "raw.key"
    raw_key.write_bytes(os.urandom(32))
    Vault.create(tmp_path / "raw.vault", KeyFile(raw_key)).save()
    assert len(Vault.open(tmp_path / "raw.vault", KeyFile(raw_key))) == 0
    with pytest.raises(VaultError, match="already exists"):
        KeyFile.generate(key.path)


def test_wrong_passphrase_and_wrong_key(tmp_path: Path) -> None:
    path = tmp_path / "p.vault"
    v = Vault.create(path, pw())
    v.put("127.0.6.1", 80, Credentials("admin", SECRET))
    v.save()
    with pytest.raises(VaultKeyError) as info:
        Vault.open(path, Passphrase("correct horse battery stapl"))
    assert str(info.value) == f"cannot open vault {path}: wrong passphrase or key"
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert_no_secret(info.value)
    with pytest.raises(VaultKeyError, match="passphrase, not a key file"):
        Vault.open(path, KeyFile.generate(tmp_path / "k"))
    with pytest.raises(VaultKeyError, match="empty"):
        Vault.open(path, Passphrase(""))

    kpath = tmp_path / "k.vault"
    Vault.create(kpath, KeyFile(tmp_path / "k"))
    with pytest.raises(VaultKeyError, match="wrong passphrase or key"):
        Vault.open(kpath, KeyFile.generate(tmp_path / "k2"))
    with pytest.raises(VaultKeyError, match="key file, not a passphrase"):
        Vault.open(kpath, pw())
    bad_key = tmp_path / "bad.key"
    bad_key.write_text("not a key\n")
    with pytest.raises(VaultKeyError, match="not a vault key file"):
        Vault.open(kpath, KeyFile(bad_key))
    with pytest.raises(VaultKeyError, match="cannot read key file"):
        Vault.open(kpath, KeyFile(tmp_path / "absent.key"))


def _header_span(data: bytes) -> tuple[int, int]:
    (hlen,) = struct.unpack_from(">I", data, len(MAGIC))
    start = len(MAGIC) + 4
    return start, start + hlen


def test_any_flipped_byte_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "t.vault"
    v = Vault.create(path, pw())
    v.put("127.0.6.1", 80, Credentials("admin", SECRET))
    v.save()
    data = path.read_bytes()
    hstart, hend = _header_span(data)
    for pos in range(hend, len(data)):  # key check, nonce, ciphertext and tag
        mutated = bytearray(data)
        mutated[pos] ^= 0x01
        path.write_bytes(bytes(mutated))
        with pytest.raises(VaultError) as info:
            Vault.open(path, pw())
        assert_no_secret(info.value)
    # Ciphertext and tag changes are reported as tampering, not as a wrong passphrase.
    mutated = bytearray(data)
    mutated[-1] ^= 0x80
    path.write_bytes(bytes(mutated))
    with pytest.raises(VaultCorrupt, match="damaged or was modified"):
        Vault.open(path, pw())
    # Truncation, and a header made to demand absurd KDF memory, are refused before any work.
    path.write_bytes(data[: hend + 20])
    with pytest.raises(VaultCorrupt):
        Vault.open(path, pw())
    header = json.loads(data[hstart:hend])
    header["memory_cost"] = 64 * 1024 * 1024
    body = json.dumps(header).encode()
    path.write_bytes(MAGIC + struct.pack(">I", len(body)) + body + data[hend:])
    with pytest.raises(VaultCorrupt):
        Vault.open(path, pw())
    # A valid header with changed parameters fails the key check (it is an HMAC over the header).
    header = json.loads(data[hstart:hend])
    header["iterations"] = 2
    body = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    path.write_bytes(MAGIC + struct.pack(">I", len(body)) + body + data[hend:])
    with pytest.raises(VaultKeyError):
        Vault.open(path, pw())


def test_not_a_vault_and_missing_file(tmp_path: Path) -> None:
    other = tmp_path / "x.txt"
    other.write_text("host,port,username,password\n")
    with pytest.raises(VaultError, match="not a camfleet vault"):
        Vault.open(other, pw())
    with pytest.raises(VaultError, match="cannot read vault file"):
        Vault.open(tmp_path / "nope.vault", pw())
    existing = tmp_path / "exists.vault"
    existing.write_bytes(b"keep me")
    with pytest.raises(VaultError, match="already exists"):
        Vault.create(existing, pw())
    assert existing.read_bytes() == b"keep me"


def test_import_csv(tmp_path: Path) -> None:
    csv_path = tmp_path / "targets.csv"
    csv_path.write_text(
        "host,port,username,password\n"
        f"127.0.6.1,80,admin,{SECRET}\n"
        "127.0.6.2,8000,admin,two\n"
        "::1,80,root,three\n"
    )
    path = tmp_path / "i.vault"
    v = Vault.create(path, pw())
    v.put("127.0.6.2", 8000, Credentials("old", "old"))
    assert v.import_csv(csv_path) == 3
    v.save()
    again = Vault.open(path, pw())
    assert len(again) == 3
    assert again.get("127.0.6.1", 80) == Credentials("admin", SECRET)
    assert again.get("127.0.6.2", 8000) == Credentials("admin", "two"), "import replaces an entry"
    assert again.get("[::1]", 80) == Credentials("root", "three")

    bad = tmp_path / "bad.csv"
    bad.write_text(f"host,port,username,password\n127.0.6.9,eighty,admin,{SECRET}\n")
    with pytest.raises(TargetsError) as info:
        again.import_csv(bad)
    assert "line 2: bad port" in str(info.value)
    assert_no_secret(info.value)
    assert len(again) == 3, "a bad file imports nothing"


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.vault"
    v = Vault.create(path, pw())
    for i in range(1, 30):
        v.put(f"127.0.6.{i}", 80, Credentials("admin", f"{SECRET}{i}"))
        v.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.vault"]

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    # The rename is the commit point; when it fails the old file must stay and the temp file must go.
    monkeypatch.setattr(os, "replace", refuse)
    v.put("127.0.6.99", 80, Credentials("admin", SECRET))
    with pytest.raises(VaultError, match=r"cannot write vault file .*No space left") as info:
        v.save()
    assert_no_secret(info.value)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.vault"]
    v.path = tmp_path / "no-such-dir" / "a.vault"
    with pytest.raises(VaultError, match="cannot write vault file"):
        v.save()
    assert len(Vault.open(path, pw())) == 29, "a failed save leaves the old file intact"


def test_put_validates_and_secrets_stay_out_of_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    csv_path = tmp_path / "t.csv"
    csv_path.write_text(f"host,port,username,password\n127.0.6.1,80,admin,{SECRET}\n")
    v = Vault.create(tmp_path / "l.vault", pw())
    v.import_csv(csv_path)
    v.save()
    with pytest.raises(VaultError, match="bad vault key") as info:
        v.put("127.0.6.1", 0, Credentials("admin", SECRET))
    assert_no_secret(info.value, v, v.get("127.0.6.1", 80))
    assert caplog.records, "save/import log what they did"
    assert all(SECRET not in r.getMessage() and PASSPHRASE not in r.getMessage() for r in caplog.records)


def test_default_kdf_parameters_are_the_strong_ones(tmp_path: Path) -> None:
    path = tmp_path / "d.vault"
    Vault.create(path, Passphrase(PASSPHRASE))
    data = path.read_bytes()
    hstart, hend = _header_span(data)
    header = json.loads(data[hstart:hend])
    assert header["kdf"] == "argon2id"
    assert (header["memory_cost"], header["iterations"], header["lanes"]) == (65536, 3, 4)
    assert len(header["salt"]) >= 24  # 16 random bytes, base64
    assert PASSPHRASE.encode() not in data


def test_loose_key_file_permissions_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = KeyFile.generate(tmp_path / "vault.key")
    Vault.create(tmp_path / "w.vault", key)
    os.chmod(key.path, 0o644)
    with caplog.at_level(logging.WARNING, logger="agent.vault"):
        Vault.open(tmp_path / "w.vault", key)
    assert any("readable by other users" in r.getMessage() for r in caplog.records)
    key_text = key.path.read_text().strip()
    assert all(key_text not in r.getMessage() for r in caplog.records)


def test_saved_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        v = Vault.create(tmp_path / "u.vault", pw())
        v.save()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "u.vault").stat().st_mode) == 0o600
