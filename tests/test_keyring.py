"""``token_store = "keyring"`` against a real gnome-keyring on the test's bus.

Each test runs the real server and CLI and signs in on the real provider; it then looks into
the keyring as any program of the same user could, to check what was stored, replaced and
deleted, and restarts the server to check what is resumed without a new sign-in.
"""

from __future__ import annotations

import time
from pathlib import Path

from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from harness.dbus_daemon import PrivateBus
from harness.flows import authorise_account, device_code, gdbus, pending_url, wait_for_token
from harness.keyring import SCHEMA, GnomeKeyring
from harness.lifecycle import in_log, status, wait_for
from harness.oidc import OidcProvider
from harness.server import PizauthServer, ServerFactory
from harness.texts import HEAD
from harness.user import enter_user_code

KEYRING = 'token_store = "keyring";\n'
NOT_PERSISTED = "are kept in memory only, not in the keyring"


def _config(oidc: OidcProvider, *accounts: str, head: str = KEYRING, extra: str = "") -> str:
    return head + HEAD + "".join(oidc.account_config(a, extra=extra) for a in accounts)


def _stored(keyring: GnomeKeyring, account: str, token: str) -> bool:
    item = keyring.items().get(account)
    return item is not None and item["secret"]["access_token"] == token


def _signed_in(keyring: GnomeKeyring, server: PizauthServer, account: str = "work") -> str:
    """Sign the account in and wait until its token is in the keyring; the token."""
    token, _ = authorise_account(server, account)
    wait_for(lambda: _stored(keyring, account, token), f"{account}'s token in the keyring")
    return token


def _stop(server: PizauthServer) -> None:
    """``pizauth shutdown``, and the server exits cleanly."""
    assert server.cli("shutdown").returncode == 0
    assert server.wait_exit() == 0


def _restart(servers: ServerFactory, server: PizauthServer, config: str) -> PizauthServer:
    _stop(server)
    return servers(config)


def test_a_restarted_server_resumes_the_token_without_a_sign_in(
    oidc: OidcProvider, servers: ServerFactory, keyring: GnomeKeyring
) -> None:
    config = _config(oidc, "work")
    server = servers(config)
    token = _signed_in(keyring, server)
    item = keyring.items()["work"]
    # Attributes name the schema and the account, never a secret; the label is for people.
    assert item["attributes"] == {"xdg:schema": SCHEMA, "account": "work"}
    assert item["label"] == "pizauth: account work"
    assert item["secret"]["refresh_token"]
    assert "[keyring: saved " in status(server)["work"]

    fresh = _restart(servers, server, config)  # no restore: only the keyring knows the token
    r = fresh.cli("show", "work")
    assert (r.returncode, r.stdout.decode(), r.stderr) == (0, token + "\n", b"")
    assert oidc.introspect(token)["active"] is True
    assert "[keyring: resumed at start " in status(fresh)["work"]
    over_bus = gdbus(fresh.env, "Status")
    assert over_bus.returncode == 0 and "'keyring_resumed': " in over_bus.stdout
    assert in_log(fresh, "Resumed account work from the keyring")


def test_a_refresh_replaces_the_item_and_a_revoke_deletes_it(
    oidc: OidcProvider, servers: ServerFactory, keyring: GnomeKeyring
) -> None:
    server = servers(_config(oidc, "work", "home"))
    first, _ = authorise_account(server, "work")
    authorise_account(server, "home")
    wait_for(lambda: _stored(keyring, "work", first), "the first token stored")
    assert server.cli("refresh", "work").returncode == 0

    def refreshed() -> bool:
        tok = server.cli("show", "work").stdout.decode().strip()
        return tok not in ("", first) and _stored(keyring, "work", tok)

    wait_for(refreshed, "the refreshed token stored")
    items = keyring.items()  # one item per account: replaced, not added
    assert sorted(items) == ["home", "work"]

    assert server.cli("revoke", "work").returncode == 0
    wait_for(lambda: "work" not in keyring.items(), "the revoked account's item deleted")
    assert "home" in keyring.items()


def test_a_permanent_refresh_failure_deletes_the_item(
    oidc: OidcProvider, servers: ServerFactory, keyring: GnomeKeyring
) -> None:
    server = servers(_config(oidc, "work"))
    _signed_in(keyring, server)
    oidc.revoke(keyring.items()["work"]["secret"]["refresh_token"])
    assert server.cli("refresh", "work").returncode == 0
    wait_for(lambda: "work" not in keyring.items(), "the invalidated account's item deleted")


def test_an_account_removed_by_reload_loses_its_item(
    oidc: OidcProvider, servers: ServerFactory, keyring: GnomeKeyring
) -> None:
    server = servers(_config(oidc, "work", "home"))
    tokens = {account: authorise_account(server, account)[0] for account in ("work", "home")}
    wait_for(lambda: all(_stored(keyring, a, t) for a, t in tokens.items()), "both tokens stored")
    server.write_config(_config(oidc, "home"))
    assert server.cli("reload").returncode == 0
    wait_for(lambda: sorted(keyring.items()) == ["home"], "the removed account's item deleted")


def test_a_changed_account_is_not_resumed_and_its_stale_item_goes(
    oidc: OidcProvider, servers: ServerFactory, keyring: GnomeKeyring
) -> None:
    server = servers(_config(oidc, "work"))
    _signed_in(keyring, server)
    # Another scope: the old token was not granted for it, so it must not be handed out.
    changed = _config(oidc, "work").replace('"offline_access"]', '"offline_access", "email"]')
    assert changed != _config(oidc, "work")
    fresh = _restart(servers, server, changed)
    assert pending_url(fresh, "work")
    wait_for(lambda: "work" not in keyring.items(), "the stale item deleted")
    assert in_log(fresh, "The keyring item of account work is stale")


def test_a_locked_keyring_warns_keeps_memory_only_and_is_used_once_unlocked(
    oidc: OidcProvider, servers: ServerFactory, keyring: GnomeKeyring
) -> None:
    keyring.lock()
    server = servers(_config(oidc, "work"))
    wait_for(lambda: in_log(server, NOT_PERSISTED), "the warning")
    assert in_log(server, "Tokens of account(s) work are kept in memory only")
    assert "locked" in server.log()
    token, _ = authorise_account(server, "work")  # show and sign-in unaffected
    assert "[keyring: not saved" in status(server)["work"]
    keyring.unlock()
    wait_for(lambda: _stored(keyring, "work", token), "the token stored after the unlock")
    assert "[keyring: saved " in status(server)["work"]


def test_no_default_collection_warns_and_show_works(
    oidc: OidcProvider,
    servers: ServerFactory,
    pizauth_env: dict[str, str],
    session_bus: PrivateBus,
) -> None:
    with GnomeKeyring(pizauth_env, unlock=False) as bare:
        assert bare.default_collection() == "/"
        server = servers(_config(oidc, "work"))
        wait_for(lambda: in_log(server, "no default collection"), "the warning")
        token, _ = authorise_account(server, "work")
        assert token
        assert bare.items() == {}


def test_no_secret_service_warns_and_show_works(oidc: OidcProvider, servers: ServerFactory) -> None:
    server = servers(_config(oidc, "work"))
    wait_for(lambda: in_log(server, "no Secret Service is running"), "the warning")
    assert in_log(server, "Tokens of account(s) work are kept in memory only")
    token, _ = authorise_account(server, "work")
    assert token and server.running()


def test_memory_store_writes_nothing_to_the_keyring(
    oidc: OidcProvider, servers: ServerFactory, keyring: GnomeKeyring
) -> None:
    for head in ("", 'token_store = "memory";\n'):
        server = servers(_config(oidc, "work", head=head))
        token, _ = authorise_account(server, "work")
        assert server.cli("refresh", "work").returncode == 0
        wait_for_token(server, "work")
        assert keyring.items() == {}
        assert "keyring" not in status(server)["work"]
        assert not in_log(server, "keyring")
        _stop(server)
        assert token


def test_tokens_are_on_disk_only_encrypted_inside_the_keyring(
    oidc: OidcProvider, servers: ServerFactory, keyring: GnomeKeyring, tmp_path: Path
) -> None:
    config = _config(oidc, "work")
    server = servers(config, flag="-vvvv")
    token = _signed_in(keyring, server)
    refresh = keyring.items()["work"]["secret"]["refresh_token"]
    fresh = _restart(servers, server, config)
    assert fresh.cli("show", "work").stdout.decode().strip() == token
    _stop(fresh)
    keyring.stop()  # so that it has written everything it holds
    keyring_files = keyring.files_text()
    assert keyring_files  # the encrypted login keyring is there ...
    for secret in (token, refresh):
        assert secret.encode() not in keyring_files  # ... and does not show the tokens
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def test_a_hung_keyring_holds_up_neither_start_nor_show(
    oidc: OidcProvider, servers: ServerFactory, session_bus: PrivateBus
) -> None:
    # Owns the Secret Service's name and never reads a message: every call to it hangs.
    with open_dbus_connection(bus=session_bus.address) as hung:
        reply = hung.send_and_get_reply(message_bus.RequestName("org.freedesktop.secrets"))
        assert reply.body == (1,)  # the primary owner
        server = servers(_config(oidc, "work"), extra_env={"PIZAUTH_KEYRING_TIMEOUT": "3"})
        assert in_log(server, "The keyring has not answered yet")
        token, _ = authorise_account(server, "work")
        assert token
        wait_for(lambda: in_log(server, "did not answer within 3 s"), "the keyring's timeout")
        assert in_log(server, "Tokens of account(s) work are kept in memory only")


def test_an_expired_access_token_is_refreshed_at_once_on_resume(
    oidc: OidcProvider, servers: ServerFactory, keyring: GnomeKeyring
) -> None:
    config = _config(oidc, "work")
    server = servers(config)
    token = _signed_in(keyring, server)
    _stop(server)
    # As if the machine had been off past the access token's lifetime.
    secret = keyring.items()["work"]["secret"]
    keyring.put("work", {**secret, "expiry": time.time() - 60})
    fresh = servers(config)
    new = wait_for_token(fresh, "work")
    assert new != token and oidc.introspect(new)["active"] is True
    assert in_log(fresh, "Resumed account work from the keyring")
    assert in_log(fresh, "Refreshed token for work")
    assert "Authorisation needed" not in fresh.log()


def test_switching_to_memory_by_reload_deletes_the_items(
    oidc: OidcProvider, servers: ServerFactory, keyring: GnomeKeyring
) -> None:
    server = servers(_config(oidc, "work"))
    token = _signed_in(keyring, server)
    server.write_config(_config(oidc, "work", head='token_store = "memory";\n'))
    assert server.cli("reload").returncode == 0
    wait_for(lambda: keyring.items() == {}, "the items deleted")
    assert server.cli("show", "work").stdout.decode().strip() == token  # still in memory
    assert "keyring" not in status(server)["work"]


def test_a_malformed_item_is_removed_not_resumed(
    oidc: OidcProvider, servers: ServerFactory, keyring: GnomeKeyring
) -> None:
    keyring.put("work", {"format": 1, "account": "work", "access_token": ["not", "a", "str"]})
    server = servers(_config(oidc, "work"))
    wait_for(lambda: keyring.items() == {}, "the malformed item deleted")
    assert in_log(server, "The keyring item of account work is stale")
    assert pending_url(server, "work")


def test_a_keyring_that_appears_later_is_used_from_then_on(
    oidc: OidcProvider,
    servers: ServerFactory,
    pizauth_env: dict[str, str],
    session_bus: PrivateBus,
) -> None:
    server = servers(_config(oidc, "work"))
    wait_for(lambda: in_log(server, "no Secret Service is running"), "the warning")
    token, _ = authorise_account(server, "work")
    with GnomeKeyring(pizauth_env) as late:
        # Its arrival on the bus is the cue: no retry timer is that short.
        wait_for(lambda: _stored(late, "work", token), "the token stored once it appeared")
        assert in_log(server, "The keyring is usable again")


def test_a_device_code_account_is_resumed_too(
    oidc: OidcProvider, servers: ServerFactory, keyring: GnomeKeyring
) -> None:
    config = KEYRING + HEAD
    config += oidc.account_config("dev", device=True)
    poll = {"PIZAUTH_DEVICE_INTERVAL": "0.2"}
    server = servers(config, extra_env=poll)
    uri, code = device_code(server, "dev")
    assert enter_user_code(uri, code).status == 200
    token = wait_for_token(server, "dev")
    wait_for(lambda: _stored(keyring, "dev", token), "the token stored")
    _stop(server)
    fresh = servers(config, extra_env=poll)
    assert fresh.cli("show", "dev").stdout.decode().strip() == token
