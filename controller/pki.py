"""The fleet PKI: a CA, the broker and controller certificates, one client certificate per agent, and a CRL."""

from __future__ import annotations

import datetime as dt
import grp
import ipaddress
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RESERVED_NAMES = frozenset({"controller", "broker", "ca", "admin"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class PkiError(Exception):
    """A PKI operation that cannot be done (no CA yet, bad or reserved name, unknown agent)."""


@dataclass
class IndexEntry:
    serial: int
    revoked: bool = False
    previous: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Issued:
    name: str
    cert: Path
    key: Path
    serial: int


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes, *, mosquitto_readable: bool = False) -> None:
    """Write a key with 0600, or 0640 group mosquitto for the broker key: Mosquitto reads its key after it
    drops root privileges to the mosquitto user, and then a root-only key makes it fail to start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if mosquitto_readable:
        try:
            gid = grp.getgrnam("mosquitto").gr_gid
        except KeyError:
            gid = -1
        if gid >= 0 and os.geteuid() == 0:
            os.chown(tmp, 0, gid)
            os.chmod(tmp, 0o640)
        elif os.geteuid() == 0:
            # No mosquitto group on this machine: the broker runs as whoever starts it.
            os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class Pki:
    """Files under one directory: ca.{crt,key}, broker.{crt,key}, controller.{crt,key}, agents/NAME.{crt,key},
    crl.pem and index.json (issued and revoked serials)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # ---- paths ---------------------------------------------------------------------------------
    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    @property
    def index(self) -> Path:
        return self.root / "index.json"

    def agent_paths(self, name: str) -> tuple[Path, Path]:
        return self.root / "agents" / f"{name}.crt", self.root / "agents" / f"{name}.key"

    # ---- helpers -------------------------------------------------------------------------------
    def _load_ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        if not self.ca_cert.exists():
            raise PkiError(f"no CA in {self.root}; run `camfleet-controller pki init` first")
        cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError("CA key is not an EC key")
        return cert, key

    def _read_index(self) -> dict[str, IndexEntry]:
        if not self.index.exists():
            return {}
        return {k: IndexEntry(**v) for k, v in json.loads(self.index.read_text()).items()}

    def _write_index(self, data: dict[str, IndexEntry]) -> None:
        tmp = self.index.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: asdict(v) for k, v in data.items()}, indent=2, sort_keys=True))
        os.replace(tmp, self.index)

    def _issue(
        self, name: str, *, server: bool, days: int, hosts: tuple[str, ...] = ()
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        ca_cert, ca_key = self._load_ca()
        key = ec.generate_private_key(ec.SECP256R1())
        eku = [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
            .add_extension(
                x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        )
        if hosts:
            sans: list[x509.GeneralName] = []
            for h in hosts:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(h)))
                except ValueError:
                    sans.append(x509.DNSName(h))
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    # ---- operations ----------------------------------------------------------------------------
    def init(self, *, broker_hosts: tuple[str, ...] = ("localhost", "127.0.0.1"), days: int = 825) -> None:
        """Create the CA, the broker certificate, the controller's client certificate and an empty CRL."""
        if self.ca_cert.exists():
            raise PkiError(f"{self.root} already holds a CA; refusing to overwrite it")
        self.root.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP384R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "camfleet CA")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(self.ca_key, _key_pem(key))
        self.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        bcert, bkey = self._issue("broker", server=True, days=days, hosts=broker_hosts)
        (self.root / "broker.crt").write_bytes(bcert.public_bytes(serialization.Encoding.PEM))
        _write_private(self.root / "broker.key", _key_pem(bkey), mosquitto_readable=True)
        ccert, ckey = self._issue("controller", server=False, days=days)
        (self.root / "controller.crt").write_bytes(ccert.public_bytes(serialization.Encoding.PEM))
        _write_private(self.root / "controller.key", _key_pem(ckey))
        self._write_index({"controller": IndexEntry(ccert.serial_number)})
        self.write_crl()

    def issue_agent(self, name: str, *, days: int = 397) -> Issued:
        """A client certificate whose CN is the agent id (the broker uses it as the MQTT username)."""
        if not _NAME.match(name):
            raise PkiError(f"invalid agent name {name!r}: 1-64 of A-Z a-z 0-9 _ . - (first alphanumeric)")
        if name in RESERVED_NAMES:
            raise PkiError(f"{name!r} is reserved: an agent with that name would inherit its rights")
        index = self._read_index()
        old = index.get(name)
        if old is not None and old.revoked:
            raise PkiError(f"agent {name!r} was revoked; enrol it under a new name")
        cert, key = self._issue(name, server=False, days=days)
        crt_path, key_path = self.agent_paths(name)
        crt_path.parent.mkdir(parents=True, exist_ok=True)
        crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private(key_path, _key_pem(key))
        # Re-issuing (rotation) keeps the older serials, so a later revoke covers every key the agent held.
        index[name] = IndexEntry(cert.serial_number, previous=[*old.previous, old.serial] if old else [])
        self._write_index(index)
        return Issued(name, crt_path, key_path, cert.serial_number)

    def revoke(self, name: str) -> int:
        """Revoke every certificate ever issued to `name`, rewrite the CRL; returns how many serials."""
        index = self._read_index()
        if name not in index:
            raise PkiError(f"no certificate was issued to {name!r}")
        if name == "controller":
            raise PkiError(
                "the controller certificate is not revoked this way; re-run `pki init` in a new directory"
            )
        index[name].revoked = True
        self._write_index(index)
        self.write_crl()
        self.agent_paths(name)[1].unlink(missing_ok=True)
        return 1 + len(index[name].previous)

    def revoked_serials(self) -> list[int]:
        out: list[int] = []
        for entry in self._read_index().values():
            if entry.revoked:
                out += [entry.serial, *entry.previous]
        return out

    def write_crl(self, *, days: int = 30) -> None:
        ca_cert, ca_key = self._load_ca()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(_now() - dt.timedelta(minutes=5))
            .next_update(_now() + dt.timedelta(days=days))
        )
        for serial in self.revoked_serials():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(_now()).build()
            )
        crl = builder.sign(ca_key, hashes.SHA256())
        tmp = self.crl.with_suffix(".tmp")
        tmp.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.crl)
