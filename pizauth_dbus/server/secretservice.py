"""A small asyncio client of the freedesktop Secret Service (``org.freedesktop.secrets``).

It owns the protocol only: opening a session (Diffie-Hellman with AES-128-CBC, or ``plain``
when the service offers nothing better), finding, reading, writing and deleting items in the
default collection. What is stored, and when, is :mod:`pizauth_dbus.server.persistence`'s business.

Why not a library: SecretStorage and keyring are blocking (they would stall the server's loop
or need a thread per call), and neither runs on the dbus-fast connection the server already
has. The messages are marshalled by dbus-fast and all cryptography is ``cryptography``'s; this
module only puts the documented calls in order.

It never prompts: a locked collection, or a call that answers with a prompt, is reported as
:class:`KeyringError` and left for the person to unlock in their own keyring tool.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from pizauth_dbus.server import buscall
from pizauth_dbus.server.buscall import BusCallError

SERVICE = "org.freedesktop.secrets"
SERVICE_PATH = "/org/freedesktop/secrets"
_SERVICE_IFACE = "org.freedesktop.Secret.Service"
_COLLECTION_IFACE = "org.freedesktop.Secret.Collection"
_ITEM_IFACE = "org.freedesktop.Secret.Item"
_NO_PROMPT = "/"
DH_ALGORITHM = "dh-ietf1024-sha256-aes128-cbc-pkcs7"
CONTENT_TYPE = "application/json"

# The 1024-bit MODP group of RFC 2409 (section 6.2), generator 2: the group the Secret Service
# specification names for its "dh-ietf1024" session algorithm.
_DH_PRIME = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
    16,
)
_DH_BYTES = 128


class KeyringError(Exception):
    """The keyring cannot be used now; the text says why in words a person can act on."""


class _Cipher:
    """The session's encryption: AES-128-CBC with PKCS#7 padding under the agreed key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def encrypt(self, data: bytes) -> tuple[bytes, bytes]:
        from cryptography.hazmat.primitives import padding
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(self._key), modes.CBC(iv)).encryptor()
        return iv, enc.update(padder.update(data) + padder.finalize()) + enc.finalize()

    def decrypt(self, iv: bytes, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import padding
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        try:
            dec = Cipher(algorithms.AES(self._key), modes.CBC(iv)).decryptor()
            unpadder = padding.PKCS7(128).unpadder()
            return unpadder.update(dec.update(data) + dec.finalize()) + unpadder.finalize()
        except ValueError:
            raise KeyringError("the keyring sent a secret that does not decrypt") from None


class _KeyExchange:
    """One side of the session's Diffie-Hellman exchange, with the key derivation the
    specification prescribes (HKDF-SHA256, no salt, no info, 16 bytes).

    The two modular exponentiations use Python's own ``pow``: ``cryptography`` has deprecated
    finite-field Diffie-Hellman and warns on every use, and this fixed, published group needs
    nothing else from it. The key derivation and the cipher are ``cryptography``'s.
    """

    def __init__(self) -> None:
        self._private = secrets.randbelow(_DH_PRIME - 3) + 2

    def public_bytes(self) -> bytes:
        return pow(2, self._private, _DH_PRIME).to_bytes(_DH_BYTES, "big")

    def cipher(self, peer: bytes) -> _Cipher:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        y = int.from_bytes(peer, "big")
        if not 1 < y < _DH_PRIME - 1:  # 0, 1 and p-1 would make the shared key guessable
            raise KeyringError("the keyring's session key is not valid")
        shared = pow(y, self._private, _DH_PRIME).to_bytes(_DH_BYTES, "big")
        key = HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=None).derive(shared)
        return _Cipher(key)


class SecretService:
    """The Secret Service on one bus connection. Every call is bounded by ``timeout``."""

    def __init__(self, bus: MessageBus, timeout: float) -> None:
        self._bus = bus
        self._timeout = timeout
        self._session: str | None = None
        self._cipher: _Cipher | None = None
        self.algorithm: str | None = None
        """The session algorithm in use once a session is open (``plain`` or DH)."""

    async def _call(
        self, path: str, interface: str, member: str, signature: str = "", body: Any = ()
    ) -> list[Any]:
        try:
            return await buscall.call(
                self._bus,
                buscall.Target(SERVICE, path, interface),
                member,
                signature,
                body,
                timeout=self._timeout,
            )
        except BusCallError as e:
            if e.name is None:
                timeout = self._timeout
                raise KeyringError(f"the keyring did not answer within {timeout:g} s") from None
            if e.gone:
                self.forget_session()
                raise KeyringError("no Secret Service is running on the session bus") from None
            raise KeyringError(f"the keyring refused {member}: {e.name} {e.text}".strip()) from None

    def forget_session(self) -> None:
        """Open a new session at the next call (the service restarted, or went away)."""
        self._session = None
        self._cipher = None
        self.algorithm = None

    async def _open(self) -> str:
        if self._session is not None:
            return self._session
        exchange = _KeyExchange()
        try:
            output, path = await self._call(
                SERVICE_PATH,
                _SERVICE_IFACE,
                "OpenSession",
                "sv",
                [DH_ALGORITHM, Variant("ay", exchange.public_bytes())],
            )
        except KeyringError as e:
            if "NotSupported" not in str(e):
                raise
            # Only a service without the encrypted algorithm gets the secret in the clear; the
            # bus is the user's own, so this is what every Secret Service client falls back to.
            _, path = await self._call(
                SERVICE_PATH, _SERVICE_IFACE, "OpenSession", "sv", ["plain", Variant("s", "")]
            )
            self._session, self._cipher, self.algorithm = str(path), None, "plain"
            return str(path)
        if not isinstance(output.value, bytes):
            raise KeyringError("the keyring's session answer is malformed")
        self._cipher = exchange.cipher(output.value)
        self._session, self.algorithm = str(path), DH_ALGORITHM
        return str(path)

    async def default_collection(self) -> str:
        """The default collection's object path, checked to be unlocked.

        :raises KeyringError: no service, no default collection, or a locked one.
        """
        (path,) = await self._call(SERVICE_PATH, _SERVICE_IFACE, "ReadAlias", "s", ["default"])
        if path == _NO_PROMPT:
            raise KeyringError(
                "the keyring has no default collection (create one, e.g. a 'Login' keyring, "
                "in your keyring manager)"
            )
        (locked,) = await self._call(
            path,
            "org.freedesktop.DBus.Properties",
            "Get",
            "ss",
            [_COLLECTION_IFACE, "Locked"],
        )
        if locked.value:
            raise KeyringError(
                "the default keyring collection is locked (unlock it in your keyring manager)"
            )
        return str(path)

    async def search(self, attributes: dict[str, str]) -> tuple[list[str], list[str]]:
        """The items (unlocked, locked) whose attributes include ``attributes``."""
        unlocked, locked = await self._call(
            SERVICE_PATH, _SERVICE_IFACE, "SearchItems", "a{ss}", [attributes]
        )
        return list(unlocked), list(locked)

    async def read(self, item: str) -> bytes:
        """An unlocked item's secret, decrypted."""
        session = await self._open()
        ((_, params, value, _),) = await self._call(item, _ITEM_IFACE, "GetSecret", "o", [session])
        if self._cipher is None:
            return bytes(value)
        return self._cipher.decrypt(bytes(params), bytes(value))

    async def write(
        self, collection: str, label: str, attributes: dict[str, str], secret: bytes
    ) -> str:
        """Create the item, or replace the one with the same attributes; its object path."""
        session = await self._open()
        if self._cipher is None:
            params, value = b"", secret
        else:
            params, value = self._cipher.encrypt(secret)
        properties = {
            f"{_ITEM_IFACE}.Label": Variant("s", label),
            f"{_ITEM_IFACE}.Attributes": Variant("a{ss}", attributes),
        }
        item, prompt = await self._call(
            collection,
            _COLLECTION_IFACE,
            "CreateItem",
            "a{sv}(oayays)b",
            [properties, [session, params, value, CONTENT_TYPE], True],
        )
        if prompt != _NO_PROMPT:
            raise KeyringError("the keyring asked for a prompt to store a token")
        return str(item)

    async def delete(self, item: str) -> None:
        """Delete one item (without a prompt)."""
        (prompt,) = await self._call(item, _ITEM_IFACE, "Delete")
        if prompt != _NO_PROMPT:
            raise KeyringError("the keyring asked for a prompt to delete a token")

    async def watch(self, on_change: Callable[[], None]) -> None:
        """Call ``on_change`` whenever the keyring may have become usable: the service gained
        an owner, or a collection was created, changed, locked or unlocked.

        :raises KeyringError: if the bus refuses the subscriptions.
        """
        rules = [
            "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',"
            f"arg0='{SERVICE}'",
            f"type='signal',sender='{SERVICE}',interface='{_SERVICE_IFACE}'",
            f"type='signal',sender='{SERVICE}',member='PropertiesChanged',"
            f"arg0='{_COLLECTION_IFACE}'",
        ]
        for rule in rules:
            try:
                await buscall.add_match(self._bus, rule, timeout=self._timeout)
            except BusCallError:
                raise KeyringError("the bus refused to report keyring changes") from None

        def handler(msg: Message) -> None:
            if msg.message_type != MessageType.SIGNAL:
                return
            if msg.member == "NameOwnerChanged":
                if msg.body and msg.body[0] == SERVICE and msg.body[2]:
                    on_change()
            elif msg.interface == _SERVICE_IFACE or (
                msg.member == "PropertiesChanged" and msg.body and msg.body[0] == _COLLECTION_IFACE
            ):
                on_change()

        self._bus.add_message_handler(handler)

    async def close(self) -> None:
        """End the session, if one is open; errors are of no interest at this point."""
        if self._session is not None:
            path, self._session = self._session, None
            with contextlib.suppress(KeyringError):
                await self._call(path, "org.freedesktop.Secret.Session", "Close")
