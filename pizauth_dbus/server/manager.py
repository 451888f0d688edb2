"""The ``org.pizauth.Manager`` D-Bus interface on ``/org/pizauth``.

A thin skin over :class:`~pizauth_dbus.server.commands.Commands`: each method translates a
:class:`~pizauth_dbus.errors.PizauthError` into a named D-Bus error (``org.pizauth.Error.*``) and
nothing else leaves the process: an unexpected exception becomes dbus-fast's generic error,
which carries no traceback.
"""

import logging
import os
import time
from collections.abc import Callable
from typing import Annotated, TypeVar

from dbus_fast import DBusError, Message, MessageFlag, MessageType, PropertyAccess
from dbus_fast.annotations import DBusBytes, DBusInt64, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

from pizauth_dbus import INTERFACE, OBJECT_PATH, __version__
from pizauth_dbus.errors import PizauthError
from pizauth_dbus.server.commands import Commands
from pizauth_dbus.server.events import TokenEvent
from pizauth_dbus.server.state import Entry

T = TypeVar("T")
log = logging.getLogger(__name__)

StatusList = Annotated[list[list[object]], DBusSignature("a(ssa{sx})")]
ErrorList = Annotated[list[list[object]], DBusSignature("a(sss)")]
InfoDict = Annotated[dict[str, str], DBusSignature("a{ss}")]
StrList = Annotated[list[str], DBusSignature("as")]
StrPair = Annotated[list[str], DBusSignature("ss")]
StrQuad = Annotated[list[str], DBusSignature("ssss")]


def _call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except Exception as e:
        raise _named(e) from None


def _named(e: Exception) -> DBusError:
    """The named D-Bus error for ``e``: its own for ours, ``org.pizauth.Error.Failed`` (and a
    log line) for anything unexpected, which then carries no detail but its type."""
    if isinstance(e, PizauthError):
        return DBusError(e.dbus_name, str(e))
    log.error("Internal error answering a bus call: %s: %s", type(e).__name__, e)
    log.debug("The failure in detail", exc_info=e)
    return DBusError(PizauthError.dbus_name, f"Internal error ({type(e).__name__})")


class Manager(ServiceInterface):
    """What bus callers (the CLI, busctl, gdbus, scripts) can ask of the server.

    ``server.serve`` connects :meth:`token_changed`, :meth:`auth_needed` and
    :meth:`account_changed` to the duties' signals.
    """

    def __init__(
        self, commands: Commands, network_info: Callable[[], dict[str, str]] = dict
    ) -> None:
        super().__init__(INTERFACE)
        self._commands = commands
        self._network_info = network_info
        self._accounts = commands.store.names()
        self._started = int(time.time())

    # -- methods --------------------------------------------------------------------------

    @dbus_method()
    async def Show(self, account: DBusStr) -> DBusStr:
        """The account's access token; AuthorisationPending (with the URL, and the code for a
        device code account) when there is none."""
        try:
            return await self._commands.show(account)
        except Exception as e:
            raise _named(e) from None

    @dbus_method()
    async def WaitForToken(self, account: DBusStr, timeout_seconds: DBusUInt32) -> DBusStr:
        """Show's answer, but waiting up to ``timeout_seconds`` for a token that is not there
        yet (starting its authorisation as Show does); on timeout, Show's error."""
        try:
            return await self._commands.wait_for_token(account, timeout_seconds)
        except Exception as e:
            raise _named(e) from None

    @dbus_method()
    async def Refresh(self, account: DBusStr) -> None:
        """Refresh now; for an account with no token, start a new authorisation."""
        try:
            await self._commands.refresh(account)
        except Exception as e:
            raise _named(e) from None

    @dbus_method()
    def Revoke(self, account: DBusStr) -> None:
        """Forget the account's token."""
        _call(lambda: self._commands.revoke(account))

    @dbus_method()
    async def Reload(self) -> None:
        """Re-read the configuration file; on error nothing changes."""
        try:
            await self._commands.reload()
        except Exception as e:
            raise _named(e) from None

    @dbus_method()
    def Dump(self) -> DBusBytes:
        """Every token, obfuscated (not encrypted): see pizauth(1)."""
        return _call(self._commands.dump)

    @dbus_method()
    def Restore(self, dump: DBusBytes) -> None:
        """Put tokens from an earlier Dump back, where the config still matches."""
        _call(lambda: self._commands.restore(bytes(dump)))

    @dbus_method()
    def Status(self) -> StatusList:
        """(account, state, times) for every account, sorted; times are Unix seconds."""
        return [list(row) for row in _call(self._commands.status)]

    @dbus_method()
    async def Complete(self, account: DBusStr, url: DBusStr) -> None:
        """Finish the account's pending sign-in with the address the browser ended on (a
        browser on another machine, a redirect that never reached the listener)."""
        try:
            await self._commands.complete(account, url)
        except Exception as e:
            raise _named(e) from None

    @dbus_method()
    def Errors(self) -> ErrorList:
        """(account, message, hint) for each account's last failure since its last token;
        the hint is what to do, empty when no known cause explains the message."""
        return [list(row) for row in _call(self._commands.errors)]

    @dbus_method()
    def Info(self) -> InfoDict:
        """Listener ports and the HTTPS certificate's public key and fingerprint."""
        return _call(self._commands.info)

    @dbus_method()
    def Shutdown(self) -> None:
        """Stop the server cleanly (the reply is sent first)."""
        self._commands.shutdown()

    # -- properties -----------------------------------------------------------------------

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusStr:
        """This server's pizauth-dbus version."""
        return __version__

    @dbus_property(access=PropertyAccess.READ)
    def ConfigPath(self) -> DBusStr:
        """The configuration file the server reads (and ``reload`` reads again)."""
        return os.path.abspath(self._commands.config_path)

    @dbus_property(access=PropertyAccess.READ)
    def StartedAt(self) -> DBusInt64:
        """When the server started, in Unix seconds."""
        return self._started

    @dbus_property(access=PropertyAccess.READ)
    def Accounts(self) -> StrList:
        """The configured account names, sorted; changes on reload."""
        return self._accounts

    @dbus_property(access=PropertyAccess.READ)
    def Network(self) -> InfoDict:
        """The network as this server sees it: ``state``, ``monitor``, ``resume`` sources, the
        proxy variables in its environment (no credentials), ``offline_since``."""
        return _call(self._network_info)

    # -- signals --------------------------------------------------------------------------

    @dbus_signal()
    def TokenChanged(self, account: str, event: str) -> StrPair:
        """token_new, token_refreshed, token_invalidated or token_revoked."""
        return [account, event]

    @dbus_signal()
    def AuthNeeded(self, account: str, url: str) -> StrPair:
        """The account waits for the person to open ``url``."""
        return [account, url]

    @dbus_signal()
    def DeviceAuthNeeded(
        self, account: str, verification_uri: str, user_code: str, verification_uri_complete: str
    ) -> StrQuad:
        """The account waits for the person to enter ``user_code`` at ``verification_uri``
        (``verification_uri_complete``, empty when the provider gave none, has it filled in).
        Emitted just after ``AuthNeeded``, whose URL is then the page to open."""
        return [account, verification_uri, user_code, verification_uri_complete]

    # -- the fast path ----------------------------------------------------------------------

    def answer_show_at_once(self, msg: Message) -> Message | None:
        """A message handler (``server.serve`` installs it) that answers ``Show`` itself when
        the account has a usable token, and leaves every other message to the interface.

        Show is a coroutine method (a device code account may have to wait for its code), and
        dbus-fast runs each call of one as a task of its own: twice the server's CPU per call
        of a plain method under load. Almost every Show finds a token, so that answer is
        given here, synchronously, with the same reply the method would send.
        """
        if (
            msg.message_type is not MessageType.METHOD_CALL
            or msg.member != "Show"
            or msg.path != OBJECT_PATH
            or msg.interface not in (INTERFACE, None)
            or msg.signature != "s"
            or msg.flags & MessageFlag.NO_REPLY_EXPECTED
        ):
            return None
        token = self._commands.usable_token(msg.body[0])
        return None if token is None else Message.new_method_return(msg, "s", [token])

    # -- what the duties tell it ------------------------------------------------------------

    def token_changed(self, account: str, event: TokenEvent) -> None:
        self.TokenChanged(account, event.value)

    def auth_needed(self, account: str, url: str) -> None:
        self.AuthNeeded(account, url)

    def device_auth_needed(self, account: str, uri: str, code: str, complete: str) -> None:
        self.DeviceAuthNeeded(account, uri, code, complete)

    def account_changed(self, name: str, old: Entry | None, new: Entry | None) -> None:
        """Announce a changed list of accounts (a reload added or removed some)."""
        names = self._commands.store.names()
        if names != self._accounts:
            self._accounts = names
            self.emit_properties_changed({"Accounts": names})
