"""End to end in a real browser: headless Chromium, oidc-provider's own pages, pizauth's listeners.

The person's part is played by Chromium, not by a form script: it opens the URL ``pizauth show``
prints, signs in and consents (or cancels) on oidc-provider's pages, and follows the redirect to
pizauth's listener, over HTTP and over HTTPS with pizauth's per-start certificate pinned. Each
landing page a person can meet is saved as a screenshot in ``test-artefacts/`` and its text
checked: success, the provider's error, and a stale state (the success page reloaded).
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from harness.browser import (
    cancel_sign_in,
    chromium,
    impostor_https,
    screenshot,
    sign_in_and_consent,
    spki_sha256,
)
from harness.flows import pending_url, url_query, wait_for_token
from harness.oidc import HTTPS_CLIENT_ID, OidcFactory, OidcProvider
from harness.server import PizauthServer, ServerFactory
from harness.texts import HEAD
from pizauth_dbus.server.redirects import NO_MATCH, SUCCESS

pytestmark = pytest.mark.timeout(60)

# The shared provider's tokens live 60 s; refreshing 10 s before expiry (not the default 90 s,
# which would refresh at once) keeps the token the browser obtained in place for the test.


def landing_prefix(url: str) -> str:
    """The redirect URI in a pending authorisation URL: where the browser will land."""
    return url_query(url)["redirect_uri"][0]


def assert_landing_page(
    page: Page, *, heading: str, message: str, next_step: str = "pizauth show"
) -> None:
    """The page a person lands on: its heading, its whole message, and a layout that fits.

    ``message`` is compared with the paragraph's full text, so upstream's wording stays verbatim.
    """
    assert page.title() == f"pizauth: {heading}"
    assert page.locator("h1").inner_text() == heading
    assert page.locator("main p").inner_text() == message
    assert next_step in page.locator("main .next").inner_text()
    # Rendered, not just served: the card is on screen and nothing runs off to the side.
    box = page.locator("main").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 50, box
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert overflow is False


def info_json(server: PizauthServer) -> dict[str, dict[str, str]]:
    r = server.cli("info", "-j")
    assert r.returncode == 0, r.stderr
    info: dict[str, dict[str, str]] = json.loads(r.stdout)
    return info


def test_browser_http_success_then_stale_state(
    oidc: OidcProvider, servers: ServerFactory, tmp_path: Path
) -> None:
    server = servers(HEAD + oidc.account_config("work"))
    url = pending_url(server, "work")
    landing = landing_prefix(url)
    assert landing.startswith("http://localhost:"), landing

    with chromium(tmp_path / "chromium") as page:
        page.goto(url)
        assert page.url.startswith(oidc.issuer + "/interaction/"), page.url
        response = sign_in_and_consent(page, landing)
        assert response.status == 200
        assert "code=" in page.url
        assert_landing_page(page, heading="Authorisation received", message=SUCCESS)
        screenshot(page, "landing-success")

        token = wait_for_token(server, "work")
        assert oidc.introspect(token)["active"] is True

        # Reloading the page replays a state that was used up: the person is told to start over,
        # and the token already received is untouched.
        again = page.reload()
        assert again is not None and again.status == 200
        assert_landing_page(page, heading="Link already used or out of date", message=NO_MATCH)
        screenshot(page, "landing-unknown-state")

    assert wait_for_token(server, "work") == token


def test_browser_provider_error(oidc: OidcProvider, servers: ServerFactory, tmp_path: Path) -> None:
    server = servers(HEAD + oidc.account_config("work"))
    url = pending_url(server, "work")

    with chromium(tmp_path / "chromium") as page:
        page.goto(url)
        response = cancel_sign_in(page, landing_prefix(url))
        assert response.status == 400
        assert "error=access_denied" in page.url
        # Upstream's message, then the provider's description of what went wrong.
        message = "Authentication for work failed: access_denied (End-User aborted interaction)"
        assert_landing_page(page, heading="Authorisation failed", message=message)
        screenshot(page, "landing-provider-error")

    # The account is back to no token: the next show starts a fresh authorisation.
    fresh = pending_url(server, "work")
    assert url_query(fresh)["state"] != url_query(url)["state"]


def test_browser_https_with_pinned_certificate(
    oidc_factory: OidcFactory, servers: ServerFactory, tmp_path: Path
) -> None:
    port, provider, config = oidc_factory.for_https_listener(
        "secure", "refresh_before_expiry = 10s;\n"
    )
    server = servers(config)
    url = pending_url(server, "secure")
    landing = landing_prefix(url)
    assert landing == f"https://localhost:{port}/"

    server_info = info_json(server)["server_info"]
    assert server_info["https_port"] == str(port)
    pin = spki_sha256(server_info["https_pub_key"])
    # The key info shows is the key the listener serves.
    served = x509.load_pem_x509_certificate(
        ssl.get_server_certificate(("127.0.0.1", port)).encode()
    )
    served_point = served.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert served_point.hex(":").upper() == server_info["https_pub_key"]

    with (
        impostor_https(tmp_path) as impostor,
        chromium(tmp_path / "chromium", trusted_spki=[pin]) as page,
    ):
        # Pinned means pizauth's key only: another self-signed localhost certificate is refused.
        # (In a tab of its own, so its error page cannot race the flow's first navigation.)
        probe = page.context.new_page()
        with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
            probe.goto(impostor)
        probe.close()

        page.goto(url)
        response = sign_in_and_consent(page, landing)
        assert response.status == 200
        assert page.url.startswith(landing + "?") and "code=" in page.url, page.url
        # Served over TLS by pizauth's own certificate (upstream's subject: localhost).
        tls = response.security_details()
        assert tls is not None and tls.get("subjectName") == "localhost", tls
        assert_landing_page(page, heading="Authorisation received", message=SUCCESS)
        screenshot(page, "landing-https-success")

    token = wait_for_token(server, "secure")
    introspection = provider.introspect(token, client_id=HTTPS_CLIENT_ID)
    assert introspection["active"] is True
    assert introspection["client_id"] == HTTPS_CLIENT_ID
