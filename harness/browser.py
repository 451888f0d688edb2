"""A real person's browser: Debian's headless Chromium, driven by Playwright.

Playwright's pip wheel carries its own driver, so nothing is downloaded at run time; it launches
the system ``chromium`` (installed by ``scripts/setup.sh``), never a browser of its own. Each
:func:`chromium` call starts a fresh browser with an empty profile directory and closes it on
exit, however the block ends.

The browser is kept on loopback: every host name but ``localhost`` resolves to nothing, so
oidc-provider's web-font import and Chromium's own background traffic fail at once instead of
waiting on this machine's closed network. It trusts no certificate it would not trust anyway,
except those whose key hashes are passed in ``trusted_spki`` (Chromium's
``--ignore-certificate-errors-spki-list``): a pin on pizauth's per-start key, not a blanket
``--ignore-certificate-errors``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
)
from playwright.sync_api import Page, Response, ViewportSize, sync_playwright

from harness.certs import self_signed_server_context

ARTEFACTS = Path(__file__).resolve().parents[1] / "test-artefacts"
"""Where screenshots go: ``test-artefacts/`` at the top of the checkout (git-ignored)."""

LAUNCH_TIMEOUT_MS = 20_000
"""Chromium starts in about a second; a slow CI machine gets plenty more."""

STEP_TIMEOUT_MS = 10_000
"""Each click, fill and navigation: every page here is served from loopback."""

VIEWPORT: ViewportSize = {"width": 1024, "height": 640}
"""A laptop-sized window, so screenshots show the page as a person would see it."""

CHROMIUM_FLAGS = (
    # Root (as in CI) cannot use Chromium's sandbox; there is no GPU and no network.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Resolve nothing but loopback: no lookups of outside hosts that could only time out.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
)

BROWSER_ENV_KEEP = ("PATH", "LANG", "TZ")
"""Variables passed on to Chromium; the rest (notably the test's private D-Bus address) are
left out, so the browser cannot talk to the bus pizauth is being tested on."""


def chromium_path() -> str:
    """The Debian ``chromium`` command.

    :raises RuntimeError: when it is missing; the browser tests are part of the normal run and
        must fail, not skip, on a machine that was not set up.
    """
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("chromium is not installed: run ./scripts/test.sh to set up the tests")
    return path


def spki_sha256(info_pub_key: str) -> str:
    """Chromium's pin for the key ``pizauth info`` shows as ``https_pub_key``.

    ``info`` prints the raw uncompressed P-256 point (``04:...``, 65 bytes); Chromium pins the
    base64 SHA-256 of the DER SubjectPublicKeyInfo that wraps it.
    """
    point = bytes.fromhex(info_pub_key.replace(":", ""))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@contextlib.contextmanager
def chromium(
    profile_dir: Path, *, trusted_spki: Sequence[str] = (), unreachable: Sequence[str] = ()
) -> Iterator[Page]:
    """Headless Chromium with a new profile in ``profile_dir``; yields its one tab.

    :param profile_dir: must not exist yet (a fresh profile every time); it also holds the
        browser's HOME.
    :param trusted_spki: key hashes (:func:`spki_sha256`) whose certificates are accepted
        although no authority signed them.
    :param unreachable: host names the browser cannot resolve, as on another machine (where
        ``localhost`` is not the one pizauth listens on).
    """
    profile_dir.mkdir(parents=True)
    home = profile_dir / "home"
    home.mkdir()
    args = list(CHROMIUM_FLAGS)
    if trusted_spki:
        args.append("--ignore-certificate-errors-spki-list=" + ",".join(trusted_spki))
    if unreachable:
        args.append("--host-resolver-rules=" + ",".join(f"MAP {h} ~NOTFOUND" for h in unreachable))
    # Chromium's single-instance socket lives in TMPDIR and must fit a Unix socket path (108
    # bytes): pytest's tmp_path is too deep for that, so the browser gets a short one of its own.
    tmp = Path(tempfile.mkdtemp(prefix="pzchromium-"))
    env: dict[str, str | float | bool] = {
        k: v for k, v in os.environ.items() if k in BROWSER_ENV_KEEP
    }
    env.update(HOME=str(home), TMPDIR=str(tmp), XDG_CONFIG_HOME=str(home / ".config"))
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile_dir / "profile",
                executable_path=chromium_path(),
                headless=True,
                args=args,
                env=env,
                timeout=LAUNCH_TIMEOUT_MS,
                viewport=VIEWPORT,
                locale="en-GB",
            )
            try:
                context.set_default_timeout(STEP_TIMEOUT_MS)
                context.set_default_navigation_timeout(STEP_TIMEOUT_MS)
                yield context.pages[0] if context.pages else context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sign_in(page: Page, login: str, password: str) -> None:
    """Fill in oidc-provider's login form and submit it, as far as its consent page."""
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign-in").click()


def sign_in_and_consent(
    page: Page, landing: str, *, login: str = "alice", password: str = "any-password"
) -> Response:
    """On oidc-provider's login page: sign in, consent, and follow the redirect to ``landing``.

    Clicks what a person clicks; the provider's pages need no script, but they get a real
    browser anyway (cookies, redirects, form posts).

    :param landing: the start of the redirect URI (e.g. ``http://localhost:8080/``).
    :returns: the landing page's response (its status is the listener's answer).
    """
    _sign_in(page, login, password)
    # Consent names what the client asks for (offline access); "Continue" grants it.
    with page.expect_response(lambda r: r.url.startswith(landing)) as landed:
        page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    return landed.value


def sign_in_and_consent_to(
    page: Page, landing: str, *, login: str = "alice", password: str = "any-password"
) -> str:
    """As :func:`sign_in_and_consent`, for a landing page the browser cannot reach (its
    requests there are cut off by a route): returns the address it was sent to."""
    _sign_in(page, login, password)
    with page.expect_request(lambda r: r.url.startswith(landing)) as sent:
        page.get_by_role("button", name="Continue").click()
    return sent.value.url


def cancel_sign_in(page: Page, landing: str) -> Response:
    """On oidc-provider's login page: press "[ Cancel ]", as a person who changed their mind.

    The provider then redirects to ``landing`` with ``error=access_denied``.
    """
    with page.expect_response(lambda r: r.url.startswith(landing)) as landed:
        page.get_by_role("link", name="[ Cancel ]").click()
    page.wait_for_load_state()
    return landed.value


def screenshot(page: Page, name: str) -> Path:
    """Save what the tab shows as ``test-artefacts/<name>.png``; returns the path."""
    ARTEFACTS.mkdir(exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    page.screenshot(path=path)
    return path


@contextlib.contextmanager
def impostor_https(directory: Path) -> Iterator[str]:
    """An HTTPS page on loopback with a fresh self-signed certificate for ``localhost``.

    A pinned browser must refuse it: it proves the pin admits pizauth's key only, not any
    self-signed certificate. Yields the page's URL; the server stops on exit.
    """
    tls = self_signed_server_context(directory, "impostor")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!DOCTYPE html><title>impostor</title><p>not pizauth</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output clean

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
