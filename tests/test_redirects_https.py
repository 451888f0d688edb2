"""The HTTPS redirect listener: a whole authorisation through it with oidc-provider, a client
that trusts exactly the certificate whose key ``pizauth info`` shows, and a new key per start."""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import urllib.error
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from harness.flows import pending_url, url_query
from harness.lifecycle import info, show_token, wait_for
from harness.oidc import HTTPS_CLIENT_ID, OidcFactory
from harness.server import ServerFactory
from harness.user import authorise

SUCCESS = "pizauth processing authentication: you can safely close this page."


def _colon_hex(raw: bytes) -> str:
    return ":".join(f"{b:02X}" for b in raw)


def _certificate(port: int) -> tuple[str, x509.Certificate]:
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    return pem, x509.load_pem_x509_certificate(pem.encode())


def test_a_whole_flow_over_https(
    oidc_factory: OidcFactory, servers: ServerFactory, tmp_path: Path
) -> None:
    port, oidc, config = oidc_factory.for_https_listener("acct", "refresh_before_expiry = 30s;\n")
    server = servers(config)

    shown = info(server)
    assert shown["http_port"] == "none" and shown["https_port"] == str(port)
    text = server.cli("info").stdout.decode()
    assert "  HTTP port: none\n" in text and f"  HTTPS port: {port}\n" in text
    assert f"  HTTPS public key: {shown['https_pub_key']}\n" in text

    # What the listener presents is what info describes: the raw P-256 point, as upstream,
    # and the SHA-256 fingerprint of the certificate.
    pem, cert = _certificate(port)
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    point = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert shown["https_pub_key"] == _colon_hex(point) and point[0] == 4 and len(point) == 65
    assert shown["https_cert_sha256"] == _colon_hex(cert.fingerprint(hashes.SHA256()))
    assert cert.issuer == cert.subject  # self-signed
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    # localhost and, as upstream, the machine's host name (a redirect URI may use it).
    names = list(dict.fromkeys(["localhost", socket.gethostname()]))
    assert sans.get_values_for_type(x509.DNSName) == names
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }

    url = pending_url(server, "acct")
    assert url_query(url)["redirect_uri"] == [f"https://localhost:{port}/"]

    # A browser that trusts only the system's authorities refuses the listener...
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        authorise(url)
    # ...and one that trusts this certificate (host name checked) completes the flow.
    trusting = ssl.create_default_context(cadata=pem)
    assert trusting.check_hostname
    page = authorise(pending_url(server, "acct"), ssl_context=trusting)
    assert page.status == 200 and SUCCESS in page.body, page.body
    assert page.url.startswith(f"https://localhost:{port}/?code=")
    token = wait_for(lambda: show_token(server), "the token")
    assert oidc.introspect(token, client_id=HTTPS_CLIENT_ID)["active"] is True

    # The private key is nowhere on disk, nor held open in a file.
    for link in os.listdir(f"/proc/{server.pid}/fd"):
        target = os.readlink(f"/proc/{server.pid}/fd/{link}")
        assert "memfd" not in target and not target.endswith(".pem"), target
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.stat().st_size < 1_000_000:
            assert b"PRIVATE KEY" not in path.read_bytes(), path

    # Every start makes a new key.
    server.stop()
    again = servers(config)
    assert info(again)["https_pub_key"] != shown["https_pub_key"]
