"""Hostile input on every surface, generated: the outcome each time is a clear error, a server
still alive, and no state changed.

Surfaces: the config parser; both redirect listeners fed raw bytes over TCP and over TLS;
restore input, both as bytes and as JSON sealed again; the arguments of every D-Bus method.
Each runs ``PIZAUTH_FUZZ_EXAMPLES`` inputs (default 100, so the suite stays quick); set it
to 10000 or more for the long run, e.g.
``PIZAUTH_FUZZ_EXAMPLES=10000 ./scripts/test.sh tests/test_inputs_fuzz.py``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jeepney.io.blocking import DBusConnection, open_dbus_connection

from harness.dbus_call import MANAGER, call
from harness.fakeoauth import FakeOAuth
from harness.lifecycle import info, login_with_fake, show_token, status
from harness.server import PizauthServer, ServerFactory
from harness.texts import BOTH
from pizauth_dbus.config.loader import parse
from pizauth_dbus.errors import ConfigError
from pizauth_dbus.server.dump import _KEY, NONCE_BYTES

EXAMPLES = int(os.environ.get("PIZAUTH_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 100,  # the quick run is the same every time
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Target:
    """A running server with one Active account (``acct``) and one Pending one (``wait``)."""

    def __init__(self, server: PizauthServer) -> None:
        self.server = server
        self.token = login_with_fake(server, "acct")
        self.url = server.cli("show", "wait").stderr
        ports = info(server)
        self.http, self.https = int(ports["http_port"]), int(ports["https_port"])
        self.before = status(server)

    def unchanged(self) -> None:
        """The server is alive, and nothing it holds has moved."""
        assert self.server.running()
        assert status(self.server) == self.before
        assert show_token(self.server, "acct") == self.token
        assert self.server.cli("show", "wait").stderr == self.url


@pytest.fixture
def target(servers: ServerFactory, fake_oauth: FakeOAuth) -> Target:
    config = BOTH + fake_oauth.account_config("acct") + fake_oauth.account_config("wait")
    return Target(servers(config))


# -- The config parser -------------------------------------------------------------------------

VALID = 'http_listen = "127.0.0.1:0";\naccount "x" {\n  auth_uri = "http://a/";\n  token_uri = "http://b/";\n  client_id = "c";\n  scopes = ["s", "t"];\n}\n'  # noqa: E501


@given(st.data())
@FUZZ
def test_mutated_configs_give_a_config_or_a_config_error(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 8))
        text = text[:at] + data.draw(st.text(max_size=8)) + text[at + cut :]
    try:
        parse(text)
    except ConfigError as e:
        assert str(e)  # a message a person can read, whatever went wrong


# -- The redirect listeners, raw ---------------------------------------------------------------

REQUESTS = st.one_of(
    st.binary(max_size=2048),
    st.builds(
        lambda path, extra: f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n".encode(
            "utf-8", "surrogateescape"
        ),
        st.text(max_size=300).map(lambda s: "/" + s),
        st.text(max_size=200),
    ),
)


def _exchange(port: int, request: bytes, tls: bool) -> bytes:
    """Send ``request`` and read whatever comes back until the server closes (bounded)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=15)
    sock: socket.socket = raw
    try:
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(raw, server_hostname="localhost")
        sock.sendall(request)
        # End the request at the TCP level: SSLSocket.shutdown would also stop decrypting.
        socket.socket.shutdown(sock, socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return b""  # the server refused the connection's bytes: a clear answer too
    finally:
        sock.close()
        raw.close()


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_raw_bytes_on_the_redirect_listeners(target: Target, tls: bool) -> None:
    @given(REQUESTS)
    @FUZZ
    def one(request: bytes) -> None:
        answer = _exchange(target.https if tls else target.http, request, tls)
        if answer:  # else the server closed the connection, as it may for bytes it can't use
            status_line = answer.split(b"\r\n", 1)[0]
            assert re.fullmatch(rb"HTTP/1\.[01] (200|4\d\d) .*", status_line), status_line

    one()
    target.unchanged()


# -- Restore and every D-Bus method ------------------------------------------------------------


@pytest.fixture
def bus(target: Target) -> Iterator[DBusConnection]:
    with open_dbus_connection(bus=target.server.bus_address) as conn:
        yield conn


def _call(conn: DBusConnection, method: str, signature: str, *args: Any) -> tuple[str, Any]:
    """The reply's error name ("" for success) and body."""
    reply = call(conn, MANAGER, method, signature, args, timeout=15)
    return reply.error, reply.body


def test_restore_input(target: Target, bus: DBusConnection) -> None:
    good = target.server.cli("dump").stdout

    @given(
        st.one_of(
            st.binary(max_size=4096),
            st.builds(
                lambda at, b: good[:at] + bytes([b]) + good[at + 1 :],
                st.integers(0, len(good) - 1),
                st.integers(0, 255),
            ),
            st.integers(0, len(good)).map(lambda n: good[:n]),
        )
    )
    @FUZZ
    def one(data: bytes) -> None:
        name, body = _call(bus, "Restore", "ay", data)
        # A good dump changes nothing either: every account already has what it holds.
        assert name in ("", "org.pizauth.Error.Restore"), (name, body)
        if name:
            assert body and body[0] and "\n" not in body[0]

    one()
    target.unchanged()


# Inside the seal: a dump's JSON, mutated, then sealed again, so that the authentication tag
# lets every input through to the parser and the checks after it.

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(10**300, 10**400)  # past a float's range
    | st.floats()
    | st.text()  # lone surrogates and NULs included
    | st.sampled_from([1, 1.0, -1, 0, 253402300800, "x" * (70 << 10)]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _paths(value: object, at: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    """Every place in a JSON value, the value itself first."""
    yield at
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        yield from _paths(child, (*at, key))


def _replace(value: Any, path: tuple[Any, ...], new: object) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


def _deep(depth: int, inner: str) -> str:
    return "[" * depth + inner + "]" * depth


@st.composite
def _sealed_payloads(draw: st.DrawFn, plain: bytes) -> bytes:
    """The dump's own JSON with some of it replaced, its text cut up, or nesting added."""
    payload = json.loads(plain)
    kind = draw(st.sampled_from(["values", "text", "deep"]))
    if kind == "values":
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(list(_paths(payload))))
            payload = _replace(payload, path, draw(JSON_VALUES))
        text = json.dumps(payload)
    elif kind == "text":
        text = json.dumps(payload)
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=12)) + text[at + draw(st.integers(0, 12)) :]
    else:
        path = draw(st.sampled_from(list(_paths(payload))))
        marker = "\u0000MARK"
        text = json.dumps(_replace(payload, path, marker)).replace(
            json.dumps(marker),
            _deep(draw(st.integers(100, 3000)), draw(st.sampled_from(["", '"s"', "1"]))),
        )
    nonce = os.urandom(NONCE_BYTES)
    return nonce + ChaCha20Poly1305(_KEY).encrypt(
        nonce, text.encode("utf-8", "surrogatepass"), None
    )


def test_restore_json_inside_the_seal(target: Target, bus: DBusConnection) -> None:
    """Integers of 310 digits and fields nested 500-990 lists deep failed with a bus error
    of no name: mutating the sealed bytes never reached them, as the tag refuses nearly all."""
    good = target.server.cli("dump").stdout
    plain = ChaCha20Poly1305(_KEY).decrypt(good[:NONCE_BYTES], good[NONCE_BYTES:], None)

    @given(_sealed_payloads(plain))
    @FUZZ
    def one(data: bytes) -> None:
        name, body = _call(bus, "Restore", "ay", data)
        assert name in ("", "org.pizauth.Error.Restore"), (name, body)
        if name:
            assert body and body[0] and "\n" not in body[0] and len(body[0]) < 300

    one()
    target.unchanged()


METHODS = {
    "Show": ("s", st.text()),
    "Refresh": ("s", st.text()),
    "Revoke": ("s", st.text()),
}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_account_arguments_of_every_method(
    target: Target, bus: DBusConnection, method: str
) -> None:
    """Every name but the two configured ones is unknown; a clear error, and nothing moves."""
    signature, names = METHODS[method]

    @given(names.filter(lambda n: n not in ("acct", "wait") and "\x00" not in n))
    @FUZZ
    def one(account: str) -> None:
        name, body = _call(bus, method, signature, account)
        assert name == "org.pizauth.Error.UnknownAccount", (name, body)
        assert body == (f"No account '{account}'",)

    one()
    target.unchanged()


def test_methods_without_arguments_and_wrong_signatures(
    target: Target, bus: DBusConnection, tmp_path: Path
) -> None:
    for method in ("Status", "Info", "Dump", "Reload"):
        name, body = _call(bus, method, "")
        assert name == "", (method, name, body)
    # Arguments of the wrong types are refused by the bus library with its standard errors.
    for method, signature, args in [
        ("Show", "u", (5,)),
        ("Restore", "s", ("not bytes",)),
        ("Status", "s", ("extra",)),
        ("Show", "ss", ("a", "b")),
    ]:
        name, _ = _call(bus, method, signature, *args)
        assert name in (
            "org.freedesktop.DBus.Error.InvalidArgs",
            "org.freedesktop.DBus.Error.UnknownMethod",  # no method of that signature
        ), (method, name)
    target.unchanged()
