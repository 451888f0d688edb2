"""``pizauth-dbus new-account``: the assistant, driven as a script (``--yes``) and through a
real pseudo-terminal as a person types, for every provider kind. What it writes loads with the
server's own checker and passes the doctor; for "any other provider" it reads the test
provider's discovery document, and the sign-in then completes end to end. Refusals leave the
file as it was."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.dbus_daemon import PrivateBus
from harness.flows import pending_url
from harness.lifecycle import show_token
from harness.oidc import CLIENT_ID, CLIENT_SECRET, OidcProvider
from harness.server import ServerFactory, install_into
from harness.terminal import Terminal
from harness.texts import HEAD
from harness.user import authorise
from pizauth_dbus.config.loader import load

pytestmark = pytest.mark.timeout(120)
TOOL = [str(Path(sys.executable).with_name("pizauth-dbus")), "new-account"]
DOCTOR = [str(Path(sys.executable).with_name("pizauth-dbus")), "doctor", "--json"]

KINDS: list[tuple[str, list[str], dict[str, str]]] = [
    # (id, options, what the written account must say)
    (
        "microsoft-personal",
        ["--provider", "microsoft", "--tenant", "consumers"],
        {"token_uri": "https://login.microsoftonline.com/consumers/oauth2/v2.0/token"},
    ),
    (
        "microsoft-work",
        ["--provider", "microsoft", "--tenant", "organizations", "--device"],
        {
            "device_auth_uri": "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode"
        },
    ),
    (
        "microsoft-tenant",
        ["--provider", "microsoft", "--tenant", "contoso.onmicrosoft.com"],
        {
            "auth_uri": "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
        },
    ),
    (
        "google",
        ["--provider", "google", "--client-secret", "s3cret"],
        {"auth_uri": "https://accounts.google.com/o/oauth2/auth"},
    ),
    (
        "fastmail",
        ["--provider", "fastmail"],
        {"token_uri": "https://api.fastmail.com/oauth/refresh"},
    ),
    (
        "yahoo",
        ["--provider", "yahoo", "--client-secret", "s3cret"],
        {"redirect_uri": "https://localhost/"},
    ),
    (
        "aol",
        ["--provider", "aol", "--client-secret", "s3cret"],
        {"redirect_uri": "https://localhost/"},
    ),
]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TOOL, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def doctor(env: dict[str, str], config: Path) -> dict[str, Any]:
    r = subprocess.run(
        [*DOCTOR, "-c", str(config)], env=env, capture_output=True, timeout=60, check=False
    )
    doc: dict[str, Any] = json.loads(r.stdout)
    assert r.returncode == 0 and doc["ok"], doc
    return doc


@pytest.fixture
def env(pizauth_env: dict[str, str], session_bus: PrivateBus) -> dict[str, str]:
    """The person's environment on the test's bus, with ``pizauth-dbus install`` done (so
    the doctor's verdict is about the config)."""
    e = {**pizauth_env, "XDG_DATA_DIRS": str(session_bus.data_dir)}
    install_into(e, session_bus)
    return e


def conf(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "pizauth.conf"


@pytest.mark.parametrize(("kind", "options", "expect"), KINDS, ids=[k[0] for k in KINDS])
def test_scripted_for_each_provider(
    kind: str, options: list[str], expect: dict[str, str], env: dict[str, str]
) -> None:
    r = run(
        env,
        "--name", "mail", "--email", "me@example.com", "--client-id", "my-own-id",
        "--protocols", "imap,smtp,pop", "--yes", *options,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    path = conf(env)
    assert path.stat().st_mode & 0o777 == 0o600
    account = load(str(path)).accounts["mail"]  # the server's own checker
    for key, value in expect.items():
        assert getattr(account, key) == value, (key, account)
    assert account.client_id == "my-own-id"
    if account.device_auth_uri is None:
        assert ("login_hint", "me@example.com") in account.auth_uri_fields
    if kind.startswith("microsoft"):
        assert set(account.scopes) == {
            "https://outlook.office.com/IMAP.AccessAsUser.All",
            "https://outlook.office.com/SMTP.Send",
            "https://outlook.office.com/POP.AccessAsUser.All",
            "offline_access",
        }
        assert "AuthMechs XOAUTH2" in r.stdout and "auth xoauth2" in r.stdout
    if kind == "google":
        assert account.scopes == ("https://mail.google.com/",)
        assert ("prompt", "consent") in account.auth_uri_fields
        assert "s3cret" not in r.stdout  # in the file, not on the screen
    assert "Register your own application" in r.stdout
    assert 'passwordeval "pizauth show mail"' in r.stdout
    doctor(env, path)


def test_a_secret_from_standard_input_stays_out_of_the_command_line(env: dict[str, str]) -> None:
    r = subprocess.run(
        [*TOOL, "--name", "g", "--provider", "google", "--email", "me@gmail.com",
         "--client-id", "id", "--client-secret", "-", "--yes"],
        env=env, input="from-stdin\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert load(str(conf(env))).accounts["g"].client_secret == "from-stdin"
    assert "from-stdin" not in r.stdout


def test_google_device_flow_is_refused(env: dict[str, str]) -> None:
    r = run(env, "--name", "g", "--provider", "google", "--email", "me@gmail.com",
            "--client-id", "id", "--device", "--yes")  # fmt: skip
    assert r.returncode == 1 and "refuses the mail scope" in r.stderr
    assert not conf(env).exists()


def test_other_provider_from_discovery_signs_in_end_to_end(
    oidc: OidcProvider, servers: ServerFactory
) -> None:
    server = servers(HEAD + oidc.account_config("first"))
    r = run(
        server.env,
        "-c", str(server.config_path), "--name", "mail", "--provider", "oidc",
        "--issuer", oidc.issuer, "--email", "alice@example.com", "--client-id", CLIENT_ID,
        "--client-secret", CLIENT_SECRET, "--scopes", "openid,offline_access,mail", "--yes",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "The running server has read the new account." in r.stdout
    backup = server.config_path.with_name("pizauth.conf.bak")
    assert backup.read_text() == HEAD + oidc.account_config("first")
    account = load(str(server.config_path)).accounts["mail"]
    assert account.auth_uri == oidc.auth_uri and account.token_uri == oidc.token_uri
    page = authorise(pending_url(server, "mail"))
    assert page.status == 200
    token = show_token(server, "mail")
    assert token is not None and oidc.introspect(token)["active"] is True


def test_an_existing_name_is_refused_unless_replaced(env: dict[str, str]) -> None:
    args = ["--name", "m", "--provider", "fastmail", "--email", "me@fastmail.com", "--yes"]
    assert run(env, *args, "--client-id", "one").returncode == 0
    before = conf(env).read_text()
    r = run(env, *args, "--client-id", "two")
    assert r.returncode == 1 and "An account 'm' already exists" in r.stderr
    assert conf(env).read_text() == before
    assert run(env, *args, "--client-id", "two", "--replace").returncode == 0
    assert load(str(conf(env))).accounts["m"].client_id == "two"
    assert list(load(str(conf(env))).accounts) == ["m"]
    assert conf(env).with_name("pizauth.conf.bak").read_text() == before


def test_an_unwritable_config_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    # Where nobody may create a file (root included): the write fails after every check.
    target = "/proc/self/pizauth.conf"
    r = run(env, "-c", target, "--name", "m", "--provider", "fastmail",
            "--email", "me@fastmail.com", "--client-id", "id", "--yes")  # fmt: skip
    assert r.returncode == 1 and r.stderr.startswith(f"ERROR - Can't write {target}: "), r.stderr
    assert "Wrote" not in r.stdout
    # A config that cannot even be read is refused before anything is asked.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    r = run(env, "-c", str(blocker / "pizauth.conf"), "--yes")
    assert r.returncode == 1 and r.stderr.startswith("ERROR - Can't read "), r.stderr
    assert blocker.read_text() == ""


def test_a_config_the_checker_refuses_is_not_written(env: dict[str, str]) -> None:
    conf(env).write_text("https_listen = none;\n")
    r = run(env, "--name", "y", "--provider", "yahoo", "--email", "me@yahoo.com",
            "--client-id", "id", "--client-secret", "s", "--yes")  # fmt: skip
    assert r.returncode == 1 and "would not load, so nothing was written" in r.stderr
    assert conf(env).read_text() == "https_listen = none;\n"


@pytest.fixture
def garbage_issuer() -> Iterator[str]:
    class Garbage(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"<html>this is not metadata")

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_discovery_url_that_answers_garbage_is_refused(
    env: dict[str, str], garbage_issuer: str
) -> None:
    r = run(env, "--name", "o", "--provider", "oidc", "--issuer", garbage_issuer,
            "--email", "me@example.com", "--client-id", "id", "--yes")  # fmt: skip
    assert r.returncode == 1
    assert r.stderr == (
        f"ERROR - {garbage_issuer}/.well-known/openid-configuration did not answer with JSON "
        "metadata\n"
    )
    assert not conf(env).exists()


def test_missing_answers_with_yes_are_named(env: dict[str, str]) -> None:
    r = run(env, "--provider", "oidc", "--yes")
    assert r.returncode == 1
    assert (
        r.stderr == "ERROR - Missing --email, --client-id, --name, --issuer "
        "(without --yes, the assistant asks)\n"
    )


# -- as a person types ------------------------------------------------------------------------

MENU = {
    "microsoft-personal": "1",
    "microsoft-work": "2",
    "microsoft-tenant": "3",
    "google": "4",
    "fastmail": "5",
    "yahoo": "6",
    "aol": "7",
}


@pytest.mark.parametrize("kind", list(MENU))
def test_typed_at_a_terminal_for_each_provider(kind: str, env: dict[str, str]) -> None:
    with Terminal(TOOL, env) as term:
        term.expect("Provider [1]: ")
        term.answer(MENU[kind])
        if kind == "microsoft-tenant":
            term.expect("Tenant (directory) ID or domain: ")
            term.answer("contoso.onmicrosoft.com")
        term.expect("Mail address: ")
        term.answer("me@example.com")
        term.expect("Account name for pizauth [example]: ")
        term.answer("")
        term.expect("Protocols (imap, smtp, pop) [imap,smtp]: ")
        term.answer("imap")
        term.expect("Your application's client ID: ")
        term.answer("typed-id")
        term.expect("Its client secret (Enter for none): ")
        term.answer("typed-secret")
        if kind.startswith("microsoft"):
            term.expect("Sign in with [1]: ")
            term.answer("2" if kind == "microsoft-work" else "")
        shown = term.expect("? (Y/n): ")
        assert "typed-secret" not in shown and "********" in shown  # getpass: no echo either
        term.answer("y")
        assert term.wait() == 0, term.output
    account = load(str(conf(env))).accounts["example"]
    assert account.client_id == "typed-id" and account.client_secret == "typed-secret"
    assert (account.device_auth_uri is not None) == (kind == "microsoft-work")
    doctor(env, conf(env))


def test_typed_at_a_terminal_for_another_provider_then_signed_in(
    oidc: OidcProvider, servers: ServerFactory
) -> None:
    server = servers(HEAD + oidc.account_config("first"))
    with Terminal([*TOOL, "-c", str(server.config_path)], server.env) as term:
        term.expect("Provider [1]: ")
        term.answer("8")
        term.expect("Issuer URL (e.g. https://login.example.com): ")
        term.answer(oidc.issuer)
        term.expect("Mail address: ")
        term.answer("alice@example.com")
        term.expect("Account name for pizauth [example]: ")
        term.answer("mail")
        term.expect("[imap,smtp]: ")
        term.answer("")
        term.expect("client ID: ")
        term.answer(CLIENT_ID)
        term.expect("(Enter for none): ")
        term.answer(CLIENT_SECRET)
        term.expect("Sign in with [1]: ")
        term.answer("1")
        term.expect("(Y/n): ")
        term.answer("")
        term.expect("Sign in now? (Y/n): ")
        term.answer("y")
        line = term.expect("\n(From a browser")
        url = line.split("authorised with URL ", 1)[1].split("\n", 1)[0]
        assert authorise(url).status == 200
        term.expect("Signed in: pizauth show mail now prints a token.")
        assert term.wait() == 0
    token = show_token(server, "mail")
    assert token is not None and oidc.introspect(token)["active"] is True
    doctor({**server.env}, server.config_path)
