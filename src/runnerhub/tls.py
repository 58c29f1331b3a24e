"""TLS for `runnerhub serve`: the operator's certificate, or one made here.

`--tls-self-signed` keeps a small certificate authority of its own in the data directory
(`tls/ca.pem`) and a server certificate it signs for the host names served. Clients trust
the CA file once (`SSL_CERT_FILE`, `curl --cacert`, `NODE_EXTRA_CA_CERTS`); the server
certificate is made again, under the same CA, when the names served change or it is about
to expire. A CA rather than one self-signed certificate: Go (gh), OpenSSL and Node all accept
a CA as a trust anchor, not all accept a leaf certificate as its own root.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runnerhub.errors import UserError

CA_DAYS = 10 * 365
# Below the 398 days browsers and Apple's clients accept for a server certificate.
SERVER_DAYS = 397
RENEW_BEFORE = datetime.timedelta(days=30)

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Certificate:
    """What uvicorn serves with, and the CA file clients trust (None: the operator's own)."""

    certfile: Path
    keyfile: Path
    ca_file: Path | None = None


def operator_certificate(certfile: Path | None, keyfile: Path | None) -> Certificate | None:
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        raise UserError("--certfile and --keyfile go together")
    for path in (certfile, keyfile):
        if not path.is_file():
            raise UserError(f"{path} is not a file")
    return Certificate(certfile, keyfile)


def self_signed(directory: Path, names: list[str], now: datetime.datetime) -> Certificate:
    """The CA in `directory` (made once) and a server certificate for `names` under it."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key(directory / "ca-key.pem")
    ca_path = directory / "ca.pem"
    ca = _read_certificate(ca_path)
    if ca is None or ca.public_key() != ca_key.public_key() or _expiring(ca, now):
        ca = _authority(ca_key, now)
        _write(ca_path, ca.public_bytes(serialization.Encoding.PEM), private=False)
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    server = _read_certificate(certfile)
    if server is None or not _good_for(server, ca, names, now):
        key = _key(keyfile, fresh=True)
        server = _server(key, ca, ca_key, names, now)
        _write(certfile, server.public_bytes(serialization.Encoding.PEM), private=False)
    return Certificate(certfile, keyfile, ca_path)


def served_names(host: str, public_host: str | None) -> list[str]:
    """The names a certificate must cover: the address served on (loopback and this host's
    names when it is every interface) and the host of the public URL."""
    names = ["localhost", "127.0.0.1", "::1"]
    if host and not _unspecified(host):
        names.append(host)
    if public_host:
        names.append(public_host)
    unique: list[str] = []
    for name in names:
        if name.lower() not in (known.lower() for known in unique):
            unique.append(name)
    return unique


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:  # a host name
        return False


def _key(path: Path, fresh: bool = False) -> Key:
    if path.is_file() and not fresh:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(loaded, ec.EllipticCurvePrivateKey):
            return loaded
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(path, pem, private=True)
    return key


def _authority(key: Key, now: datetime.datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "runnerhub"),
            x509.NameAttribute(NameOID.COMMON_NAME, "runnerhub local CA"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )


def _server(
    key: Key, ca: x509.Certificate, ca_key: Key, names: list[str], now: datetime.datetime
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _alt_names(names: list[str]) -> list[x509.GeneralName]:
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name.strip("[]"))))
        except ValueError:
            alt.append(x509.DNSName(name))
    return alt


def _good_for(
    server: x509.Certificate, ca: x509.Certificate, names: list[str], now: datetime.datetime
) -> bool:
    if _expiring(server, now):
        return False
    try:
        server.verify_directly_issued_by(ca)
        alt = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False  # signed by a CA made again since, or a certificate without names
    return set(_alt_names(names)) <= set(alt)


def _expiring(certificate: x509.Certificate, now: datetime.datetime) -> bool:
    return certificate.not_valid_after_utc - now < RENEW_BEFORE


def _read_certificate(path: Path) -> x509.Certificate | None:
    if not path.is_file():
        return None
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError:
        return None


def _write(path: Path, data: bytes, private: bool) -> None:
    temporary = path.with_name(path.name + ".tmp")
    mode = 0o600 if private else 0o644
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(temporary, path)
