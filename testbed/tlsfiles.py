"""Throw-away CAs and certificates as PEM files.

Used by the app tests (HTTPS to a Patroni-like server), the benchmark (HTTPS to
gunicorn, TLS to PostgreSQL) and the pki role's unit tests (certificates a user
provides), so all of them exercise real TLS with verification.
"""

import datetime
import ipaddress
import os
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject, issuer, public_key, days):
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def new_ca(days=1):
    """(certificate, key) of a self-signed CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _builder(_name("test CA"), _name("test CA"), key.public_key(), days)
    cert = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(
        key, hashes.SHA256()
    )
    return cert, key


def new_certificate(ca, names, days=1, key=None):
    """(certificate, key) signed by `ca`, with subjectAltName `names` ("DNS:x", "IP:y")."""
    ca_cert, ca_key = ca
    key = key or ec.generate_private_key(ec.SECP256R1())
    sans = [
        x509.IPAddress(ipaddress.ip_address(n[3:])) if n.startswith("IP:") else x509.DNSName(n.removeprefix("DNS:"))
        for n in names
    ]
    builder = _builder(_name(names[0].split(":", 1)[1]), ca_cert.subject, key.public_key(), days)
    cert = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False).sign(ca_key, hashes.SHA256())
    return cert, key


def write_pem(path, cert=None, key=None):
    path = pathlib.Path(path)
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
        path.write_bytes(key.private_bytes(pem, pkcs8, serialization.NoEncryption()))
        os.chmod(path, 0o600)


def write(directory):
    """Write ca.crt, server.crt and server.key (for 127.0.0.1/localhost) into `directory`."""
    directory = pathlib.Path(directory)
    ca = new_ca()
    cert, key = new_certificate(ca, ["DNS:localhost", "IP:127.0.0.1"])
    paths = {"ca": directory / "ca.crt", "cert": directory / "server.crt", "key": directory / "server.key"}
    write_pem(paths["ca"], cert=ca[0])
    write_pem(paths["cert"], cert=cert)
    write_pem(paths["key"], key=key)
    return paths
