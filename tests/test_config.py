"""pizauth.conf: upstream's scenarios, its examples, defaults, precedence and exact messages."""

from __future__ import annotations

import pytest

from pizauth_dbus import config
from pizauth_dbus.config import Config, parse
from pizauth_dbus.errors import ConfigError

MINIMAL = 'account "x" { auth_uri = "http://a.com"; client_id = "b"; token_uri = "http://f.com"; }'


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        parse(text)
    return str(e.value)


def test_valid_config() -> None:
    c = parse(
        """
        auth_notify_cmd = "g";
        auth_notify_interval = 88m;
        error_notify_cmd = "j";
        http_listen = "127.0.0.1:56789";
        transient_error_if_cmd = "k";
        token_event_cmd = "q";
        account "x" {
            // Mandatory fields
            auth_uri = "http://a.com";
            auth_uri_fields = {"l": "m", "n": "o", "l": "p"};
            client_id = "b";
            scopes = ["c", "d"];
            token_uri = "http://f.com";
            // Optional fields
            client_secret = "h";
            login_hint = "i";
            redirect_uri = "http://e.com";
            refresh_at_least = 43m;
            refresh_before_expiry = 42s;
            refresh_retry = 33s;
        }
        """
    )
    assert c.error_notify_cmd == "j"
    assert c.auth_notify_cmd == "g"
    assert c.auth_notify_interval == 88 * 60
    assert c.http_listen == "127.0.0.1:56789"
    assert c.https_listen == config.LISTEN_DEFAULT
    assert c.transient_error_if_cmd == "k"
    assert c.token_event_cmd == "q"
    assert c.startup_cmd is None
    act = c.accounts["x"]
    assert act.auth_uri == "http://a.com"
    # login_hint is forwarded, appended after the configured fields (upstream drops it).
    assert act.auth_uri_fields == (("l", "m"), ("n", "o"), ("l", "p"), ("login_hint", "i"))
    assert act.client_id == "b"
    assert act.client_secret == "h"
    assert act.redirect_uri == "http://e.com"
    assert act.token_uri == "http://f.com"
    assert act.scopes == ("c", "d")
    assert act.refresh_at_least == 43 * 60
    assert act.refresh_before_expiry == 42
    assert act.refresh_retry == 33


def test_minimal_defaults() -> None:
    c = parse(MINIMAL)
    assert c == Config(accounts=c.accounts)
    act = c.accounts["x"]
    assert act.client_secret is None
    assert act.scopes == ()
    assert act.auth_uri_fields == ()
    assert act.redirect_uri == "http://localhost/"
    assert act.refresh_at_least == config.REFRESH_AT_LEAST_DEFAULT == 5400
    assert act.refresh_before_expiry == config.REFRESH_BEFORE_EXPIRY_DEFAULT == 90
    assert act.refresh_retry == config.REFRESH_RETRY_DEFAULT == 40
    assert c.auth_notify_interval == 900


def test_at_least_one_account() -> None:
    assert error_of("").splitlines()[0] == "Must specify at least one account"


def test_duplicate_global() -> None:
    msg = error_of('auth_notify_cmd = "a"; auth_notify_cmd = "a";\n' + MINIMAL)
    assert "Line 1, column 42:\n  auth_notify_cmd" in msg
    assert "\nMustn't specify 'auth_notify_cmd' more than once\n" in msg
