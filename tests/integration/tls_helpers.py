"""TLS test helpers: a private CA that signs server certificates, and the documented connections."""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def documented_connection(conn_type: str) -> dict[str, Any]:
    """The ``conn_type`` connection of docs/configuration.md's "Encryption in transit" example.

    The tests run what the page tells users to set: a change there is a change here.
    """
    section = DOC.read_text(encoding="utf-8").partition("### Encryption in transit")[2]
    for line in re.findall(r"^AIRFLOW_CONN_\w+='(.*)'$", section, re.M):
        conn = json.loads(line)
        if conn["conn_type"] == conn_type:
            return dict(conn)
    raise AssertionError(f"{DOC} shows no {conn_type} connection under 'Encryption in transit'")


def with_ca(extra: dict[str, Any], ca: Path) -> dict[str, Any]:
    """``extra`` with its CA file (any value ending in ``.pem``) replaced by ``ca``."""
    return {k: str(ca) if isinstance(v, str) and v.endswith(".pem") else v for k, v in extra.items()}


@dataclass(frozen=True)
class ServerCert:
    """A server's certificate and its unencrypted private key (mode 600), as PEM files."""

    cert: Path
    key: Path


class CertificateAuthority:
    """A self-signed CA in ``<folder>/<name>-ca.pem``; ``issue`` signs server certificates."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.name = name
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"syncgate test CA {name}")])
        usage = x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False,
        )  # fmt: skip
        self._cert = (
            _valid_for(x509.CertificateBuilder(), days=2)
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.cert = folder / f"{name}-ca.pem"
        self.cert.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name: str, *names: str) -> ServerCert:
        """A server certificate for ``common_name`` and ``names`` (DNS names or IP addresses)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _valid_for(x509.CertificateBuilder(), days=1)
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in (common_name, *names)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )  # fmt: skip
        stem = self.folder / f"{self.name}-{common_name}"
        files = ServerCert(cert=stem.with_suffix(".crt"), key=stem.with_suffix(".key"))
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files.key.touch(mode=0o600)  # libpq and PostgreSQL refuse a key others can read
        files.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return files


def _valid_for(builder: x509.CertificateBuilder, days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        builder.serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
