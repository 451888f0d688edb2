"""The test authorisation server: ``tests/oidc/oidc-server.mjs`` (npm oidc-provider) under Node.

It listens on 127.0.0.1 at a free port; its storage is in memory, so stopping it forgets every
grant. Its clients (see the script): ``pizauth-test`` (confidential, native), ``pizauth-public``
(public, native) and ``pizauth-https`` (confidential, web, exact HTTPS redirect URIs). Refresh
tokens need ``prompt=consent`` in the authorisation request; :meth:`account_config` adds it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypedDict, Unpack

from harness.endpoints import Endpoint
from harness.procs import free_port, popen_in_group, read_text, stop_group, wait_until
from harness.service import Service
from harness.texts import account_block, conf_string

OIDC_DIR = Path(__file__).resolve().parent.parent / "tests" / "oidc"
"""``tests/oidc``: the server script, its package.json and (once installed) node_modules."""

START_TIMEOUT = 20.0
"""Seconds to wait for the discovery document: it normally answers within half a second."""

START_ATTEMPTS = 3
"""Tries with a new port when another process grabbed the chosen one first."""

HTTP_TIMEOUT = 10.0
"""Seconds allowed for one request to the server."""

CLIENT_ID = "pizauth-test"
CLIENT_SECRET = "test-secret"
PUBLIC_CLIENT_ID = "pizauth-public"
HTTPS_CLIENT_ID = "pizauth-https"

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""An opener that never goes through a proxy: everything here is on loopback."""


def post_form(
    url: str, fields: Mapping[str, str], *, timeout: float = HTTP_TIMEOUT
) -> tuple[int, dict[str, Any]]:
    """POST ``fields`` form-encoded to ``url``.

    :returns: the HTTP status and the JSON body ({} when empty); error statuses are returned, not
        raised.
    """
    request = urllib.request.Request(url, urllib.parse.urlencode(fields).encode())
    try:
        with _NO_PROXY.open(request, timeout=timeout) as response:
            status: int = response.status
            raw: bytes = response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
        e.close()
    body: dict[str, Any] = json.loads(raw) if raw.strip() else {}
    return status, body


class OidcProvider(Service):
    """One oidc-provider process; also a context manager that stops it on exit.

    :param at_ttl: access token lifetime, seconds.
    :param rt_ttl: refresh token lifetime, seconds.
    :param https_redirects: exact redirect URIs for the ``pizauth-https`` client; the script's
        default (``https://localhost:8443/``) when empty.
    :param rotate_refresh_tokens: rotate the refresh token on every refresh, for every client.
    :param device_code_ttl: device code lifetime, seconds (the device flow, RFC 8628).
    :param log_dir: where to write the server's output; a new temporary directory by default.
    """

    def __init__(
        self,
        *,
        at_ttl: int = 60,
        rt_ttl: int = 3600,
        https_redirects: Sequence[str] = (),
        rotate_refresh_tokens: bool = False,
        device_code_ttl: int = 600,
        log_dir: Path | None = None,
    ) -> None:
        self.at_ttl = at_ttl
        self.rt_ttl = rt_ttl
        self.https_redirects = tuple(https_redirects)
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.device_code_ttl = device_code_ttl
        self._own_dir = log_dir is None
        self.dir = Path(tempfile.mkdtemp(prefix="pzoidc-")) if log_dir is None else log_dir
        self.log_path = self.dir / "oidc-provider.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the server and wait (bounded) until its discovery document answers.

        :raises RuntimeError: if Node or the installed package is missing, or the server does not
            come up; the message holds the server's output.
        """
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed: run ./scripts/test.sh to set up the tests")
        if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(
                f"oidc-provider is not installed in {OIDC_DIR}: run ./scripts/test.sh "
                "(or `npm ci` there)"
            )
        for attempt in range(START_ATTEMPTS):
            if self._start_once(node):
                return self
            log = self.log()
            self.stop()
            if "EADDRINUSE" not in log or attempt + 1 == START_ATTEMPTS:
                raise RuntimeError(f"oidc-provider did not start (port {self.port}):\n{log}")
        raise AssertionError("unreachable")

    def _start_once(self, node: str) -> bool:
        self.port = free_port()
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "AT_TTL": str(self.at_ttl),
            "RT_TTL": str(self.rt_ttl),
            "DC_TTL": str(self.device_code_ttl),
            "ROTATE_RT": "1" if self.rotate_refresh_tokens else "0",
        }
        if self.https_redirects:
            env["HTTPS_REDIRECTS"] = ",".join(self.https_redirects)
        proc = popen_in_group(
            [node, "oidc-server.mjs"], env=env, log_path=self.log_path, cwd=OIDC_DIR
        )
        self._proc = proc
        return bool(wait_until(self._answers, START_TIMEOUT, abort=lambda: proc.poll() is not None))

    def _answers(self) -> bool:
        try:
            with _NO_PROXY.open(self.discovery_uri, timeout=1.0) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def running(self) -> bool:
        """Whether the server process is still running."""
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        """The server's output so far: start-up warnings, ``grant.success``/``grant.error``."""
        return read_text(self.log_path)

    def stop(self) -> None:
        """SIGTERM the server, wait (bounded), then SIGKILL. Idempotent."""
        if self._proc is not None:
            stop_group(self._proc)

    def cleanup(self) -> None:
        """Stop the server and remove its temporary directory (if it made one); what leaving
        its ``with`` block does."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def started(self) -> bool:
        return self._proc is not None

    # -- endpoints ----------------------------------------------------------------------------

    issuer = Endpoint()
    discovery_uri = Endpoint("/.well-known/openid-configuration")
    auth_uri = Endpoint("/auth")
    token_uri = Endpoint("/token")
    revocation_uri = Endpoint("/token/revocation")
    introspection_uri = Endpoint("/token/introspection")
    registration_uri = Endpoint("/reg")
    device_auth_uri = Endpoint("/device/auth")

    # -- helpers ------------------------------------------------------------------------------

    def token(self, fields: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """POST ``fields`` to the token endpoint; returns the status and the JSON body."""
        return post_form(self.token_uri, fields)

    def introspect(
        self, token: str, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET
    ) -> dict[str, Any]:
        """RFC 7662 introspection of ``token``: ``{"active": False}`` once expired or revoked.

        :raises RuntimeError: on a non-200 answer (e.g. wrong client credentials).
        """
        status, body = post_form(
            self.introspection_uri,
            {"token": token, "client_id": client_id, "client_secret": client_secret},
        )
        if status != 200:
            raise RuntimeError(f"introspection answered {status}: {body}")
        return body

    def revoke(
        self,
        token: str,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        token_type_hint: str | None = None,
    ) -> None:
        """RFC 7009 revocation of ``token`` (access or refresh token).

        Revoking a refresh token makes the next refresh fail with ``invalid_grant``.

        :raises RuntimeError: on a non-200 answer.
        """
        fields = {"token": token, "client_id": client_id, "client_secret": client_secret}
        if token_type_hint is not None:
            fields["token_type_hint"] = token_type_hint
        status, body = post_form(self.revocation_uri, fields)
        if status != 200:
            raise RuntimeError(f"revocation answered {status}: {body}")

    def register_client(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """RFC 7591 dynamic registration; returns the new client (``client_id``, ...).

        :raises RuntimeError: on a non-201 answer.
        """
        request = urllib.request.Request(
            self.registration_uri,
            json.dumps(dict(metadata)).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with _NO_PROXY.open(request, timeout=HTTP_TIMEOUT) as response:
                client: dict[str, Any] = json.loads(response.read())
                return client
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", errors="replace")
            e.close()
            raise RuntimeError(f"registration answered {e.code}: {detail}") from None

    def account_config(
        self,
        name: str,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str | None = CLIENT_SECRET,
        scopes: Sequence[str] = ("openid", "offline_access"),
        auth_uri_fields: Mapping[str, str] | None = None,
        extra: str = "",
        device: bool = False,
    ) -> str:
        """A pizauth.conf ``account`` block using this server.

        ``auth_uri_fields`` defaults to ``{"prompt": "consent"}``: without it, oidc-provider drops
        ``offline_access`` and issues no refresh token. Pass ``client_secret=None`` for the
        public client, and extra settings (each ending in ``;``) in ``extra``, e.g.
        ``'redirect_uri = "http://127.0.0.1/";'``. With ``device``, the account signs in with
        the device flow: ``device_auth_uri`` in place of ``auth_uri``, and no ``auth_uri_fields``
        (the device flow grants ``offline_access`` without ``prompt``).
        """
        fields = {"prompt": "consent"} if auth_uri_fields is None else auth_uri_fields
        if device:
            fields = auth_uri_fields or {}
        more = []
        if fields:
            pairs = ", ".join(f"{conf_string(k)}: {conf_string(v)}" for k, v in fields.items())
            more.append(("auth_uri_fields", f"{{ {pairs} }}"))
        tail = "".join(f"    {line.strip()}\n" for line in extra.splitlines() if line.strip())
        start = ("device_auth_uri", self.device_auth_uri) if device else ("auth_uri", self.auth_uri)
        return account_block(
            name, start, self.token_uri, client_id, client_secret, scopes, more=more, tail=tail
        )


class Settings(TypedDict, total=False):
    """What a provider is started with, but for where its log goes: :class:`OidcProvider`'s
    parameters of the same names."""

    at_ttl: int
    rt_ttl: int
    https_redirects: Sequence[str]
    rotate_refresh_tokens: bool
    device_code_ttl: int


class OidcFactory:
    """Starts oidc-provider instances with their logs under ``tmp_path``; :meth:`stop_all`
    stops them (the ``oidc_factory`` fixture does at teardown)."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._started: list[OidcProvider] = []

    def __call__(self, **settings: Unpack[Settings]) -> OidcProvider:
        """A started provider with ``settings`` (:class:`OidcProvider`'s defaults for the rest)."""
        log_dir = self._tmp_path / f"oidc-{len(self._started)}"
        log_dir.mkdir()
        provider = OidcProvider(**settings, log_dir=log_dir)
        self._started.append(provider)
        return provider.start()

    def for_https_listener(self, account: str, settings: str = "") -> tuple[int, OidcProvider, str]:
        """A pizauth config with only the HTTPS listener, on a port chosen first, and a provider
        that accepts it (oidc-provider matches an https redirect URI exactly, port included).

        :param settings: more global settings, each ending in ``;`` and a newline.
        :returns: the port, the provider, and the config: ``settings`` and ``account`` as the
            web client ``pizauth-https`` whose redirect URI is ``https://localhost/``.
        """
        port = free_port()
        provider = self(https_redirects=[f"https://localhost:{port}/"])
        config = (
            f'http_listen = none;\nhttps_listen = "127.0.0.1:{port}";\n'
            + settings
            + provider.account_config(
                account, client_id=HTTPS_CLIENT_ID, extra='redirect_uri = "https://localhost/";'
            )
        )
        return port, provider, config

    def stop_all(self) -> None:
        for provider in self._started:
            provider.cleanup()
