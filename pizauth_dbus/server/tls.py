"""The HTTPS listener's certificate: a new self-signed EC P-256 one at every server start.

The private key lives only in this process's memory. Python's ``ssl`` loads keys only from a
path, so the PEM is handed over through an anonymous memory file (memfd), never the file system.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from cryptography.x509.oid import NameOID

CERT_LIFETIME = datetime.timedelta(days=365)
"""Long enough that no server outlives its certificate in practice."""
CLOCK_SKEW = datetime.timedelta(minutes=5)
"""Back-date the start a little so a browser with a slightly slow clock accepts it."""


@dataclass(frozen=True)
class Certificate:
    """A server certificate with what ``info`` shows about it."""

    context: ssl.SSLContext
    public_key_hex: str  # upstream's `info` format: uncompressed point, uppercase, ':'-separated
    sha256_fingerprint: str  # of the DER certificate, uppercase, ':'-separated


def _colon_hex(raw: bytes) -> str:
    return ":".join(f"{b:02X}" for b in raw)


def _host_name() -> list[str]:
    """The machine's host name, when it can go into a certificate (ASCII, not empty).

    Upstream names it too, so a redirect URI such as ``https://mybox:8443/`` is valid there.
    """
    name = socket.gethostname()
    return [name] if name and name.isascii() and name.isprintable() else []


def _name(name: str) -> x509.GeneralName:
    """An IP address entry for an address, a DNS entry for anything else."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_certificate() -> Certificate:
    """Generate a key and a certificate for localhost, 127.0.0.1, ::1 and the host's name, and
    a server context."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    sans = [_name(n) for n in dict.fromkeys(["localhost", "127.0.0.1", "::1", *_host_name()])]
    start = datetime.datetime.now(datetime.UTC) - CLOCK_SKEW
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + CERT_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(Encoding.PEM) + key.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.set_alpn_protocols(["http/1.1"])  # upstream offers HTTP/1.1 only
    # load_cert_chain takes only paths: an anonymous memory file keeps the key off every disk,
    # and it is gone once closed.
    fd = os.memfd_create("pizauth-tls", os.MFD_CLOEXEC)
    try:
        os.write(fd, pem)
        ctx.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return Certificate(
        context=ctx,
        public_key_hex=_colon_hex(point),
        sha256_fingerprint=_colon_hex(cert.fingerprint(hashes.SHA256())),
    )
