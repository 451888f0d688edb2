"""pizauth.conf: upstream's example configurations, and finding and reading the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.texts import MINIMAL
from pizauth_dbus.config.loader import ConfigParseError, load, parse
from pizauth_dbus.errors import ConfigError
from pizauth_dbus.paths import config_path

# ==== Upstream's example configurations ====

EXAMPLE_CONF = """\
account "officesmtp" {
    auth_uri = "https://login.microsoftonline.com/common/oauth2/v2.0/authorize";
    token_uri = "https://login.microsoftonline.com/common/oauth2/v2.0/token";
    client_id = "..."; // Fill in with your Client ID
    client_secret = "..."; // Fill in with your Client secret
    scopes = [
      "https://outlook.office365.com/IMAP.AccessAsUser.All",
      "https://outlook.office365.com/SMTP.Send",
      "offline_access"
    ];
    // You don't have to specify login_hint, but it does make
    // authentication a little easier.
    auth_uri_fields = { "login_hint": "email@example.com" };
}
"""

SPEC_EXAMPLE = (
    "// global options\n"
    'auth_notify_cmd = "notify-send -t 30000 \'pizauth authorisation\' \\"$PIZAUTH_ACCOUNT\\"";\n'
    'error_notify_cmd = "notify-send -t 90000 \\"pizauth error for $PIZAUTH_ACCOUNT\\" '
    '\\"$PIZAUTH_MSG\\"";\n'
    'token_event_cmd = "pizauth dump | age --encrypt --output pizauth.age -R age_public_key";\n'
    'http_listen = "127.0.0.1:<port>";\n'
    "https_listen = none;\n"
    "refresh_retry = 33s;\n\n" + EXAMPLE_CONF.replace(" // Fill in with your Client ID", "")
)

README_EXAMPLES = {
    "office365": """account "<your-account-name>" {
    auth_uri = "https://login.microsoftonline.com/common/oauth2/v2.0/authorize";
    auth_uri_fields = { "login_hint": "<your-email-address>" };
    token_uri = "https://login.microsoftonline.com/common/oauth2/v2.0/token";
    client_id = "<your-client-id>";
    client_secret = "<your-client-secret>";
    scopes = [
      "https://outlook.office365.com/IMAP.AccessAsUser.All",
      "https://outlook.office365.com/POP.AccessAsUser.All",
      "https://outlook.office365.com/SMTP.Send",
      "offline_access"
    ];
}
""",
    "gmail": """account "<your-account-name>" {
    auth_uri = "https://accounts.google.com/o/oauth2/auth";
    auth_uri_fields = {"login_hint": "<your-email-address>"};
    token_uri = "https://oauth2.googleapis.com/token";
    client_id = "<your-client-id>";
    client_secret = "<your-client-secret>";
    scopes = ["https://mail.google.com/"];
}
""",
    "miele": """account "<your-account-name>" {
    auth_uri = "https://api.mcs3.miele.com/thirdparty/login/";
    token_uri = "https://api.mcs3.miele.com/thirdparty/token/";
    client_id = "<your-client-id>";
    client_secret = "<your-client-secret>";
}
""",
}


def test_example_conf() -> None:
    act = parse(EXAMPLE_CONF).accounts["officesmtp"]
    assert act.scopes == (
        "https://outlook.office365.com/IMAP.AccessAsUser.All",
        "https://outlook.office365.com/SMTP.Send",
        "offline_access",
    )
    assert act.auth_uri_fields == (("login_hint", "email@example.com"),)
    assert act.client_secret == "..."


def test_spec_example() -> None:
    c = parse(SPEC_EXAMPLE)
    assert c.auth_notify_cmd == "notify-send -t 30000 'pizauth authorisation' \"$PIZAUTH_ACCOUNT\""
    assert c.error_notify_cmd == (
        'notify-send -t 90000 "pizauth error for $PIZAUTH_ACCOUNT" "$PIZAUTH_MSG"'
    )
    assert (c.http_listen, c.https_listen) == ("127.0.0.1:<port>", None)
    assert c.accounts["officesmtp"].refresh_retry == 33


@pytest.mark.parametrize("name", sorted(README_EXAMPLES))
def test_readme_examples(name: str) -> None:
    act = parse(README_EXAMPLES[name]).accounts["<your-account-name>"]
    assert act.client_id == "<your-client-id>"
    assert act.auth_uri.startswith("https://")


def test_readme_remote_machine_example() -> None:
    c = parse('http_listen = "127.0.0.1:8765";\n' + README_EXAMPLES["gmail"])
    assert c.http_listen == "127.0.0.1:8765"


def test_upstream_system_test_config() -> None:
    c = parse(
        'http_listen = "127.0.0.1:0";\nhttps_listen = none;\nstartup_cmd = "touch ready";\n'
        'account "test" {\n    auth_uri = "http://127.0.0.1:4567/authorize";\n'
        '    token_uri = "http://127.0.0.1:4567/token";\n    client_id = "test_client";\n'
        "    refresh_before_expiry = 0s;\n}\n"
    )
    assert c.startup_cmd == "touch ready"
    assert c.accounts["test"].refresh_before_expiry == 0


# ==== Files ====


def test_load(tmp_path: Path) -> None:
    path = tmp_path / "pizauth.conf"
    path.write_bytes(SPEC_EXAMPLE.encode())
    assert load(str(path)) == parse(SPEC_EXAMPLE)


def test_load_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "missing.conf"
    with pytest.raises(ConfigError) as e:
        load(str(path))
    assert str(e.value) == f'Can\'t read "{path}": No such file or directory (os error 2)'
    with pytest.raises(ConfigError) as e:
        load(str(tmp_path))
    assert str(e.value) == f'Can\'t read "{tmp_path}": Is a directory (os error 21)'
    (tmp_path / "latin1.conf").write_bytes(b"// caf\xe9\n")
    with pytest.raises(ConfigError) as e:
        load(str(tmp_path / "latin1.conf"))
    assert str(e.value).endswith(": stream did not contain valid UTF-8")


def test_config_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match=r"^No config file found at .*/xdg/pizauth\.conf$"):
        config_path(None)
    monkeypatch.delenv("XDG_CONFIG_HOME")
    (tmp_path / "home" / ".config").mkdir(parents=True)
    (tmp_path / "home" / ".config" / "pizauth.conf").write_text(MINIMAL)
    assert config_path(None) == os.path.join(str(tmp_path), "home", ".config", "pizauth.conf")
    assert load(config_path(None)).accounts["x"].client_id == "b"
    # An explicit path is taken as given (even empty); reading it is what fails, as upstream.
    assert config_path(str(tmp_path)) == str(tmp_path)
    assert config_path("") == ""
    (tmp_path / "xdg").mkdir()
    (tmp_path / "xdg" / "pizauth.conf").mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    with pytest.raises(ConfigError, match=r"^No config file found at .*/xdg/pizauth\.conf$"):
        config_path(None)  # the default path must be a regular file
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.delenv("HOME")
    with pytest.raises(ConfigError, match=r"^Neither \$XDG_CONFIG_HOME or \$HOME set$"):
        config_path(None)


def test_errors_are_config_errors_with_diagnostics() -> None:
    with pytest.raises(ConfigParseError) as e:
        parse('startup_cmd = 5s;\naccount "x" { }')
    assert isinstance(e.value, ConfigError)
    assert len(e.value.diagnostics) == 4
