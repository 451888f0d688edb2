"""Where pizauth-dbus looks for its configuration and keeps its runtime directory.

Upstream's rules and messages, kept exact because scripts and completions rely on them. This
module is imported by the CLI, so it must stay light (os and pathlib only).
"""

from __future__ import annotations

import os
import pwd
import stat

from pizauth_dbus.errors import ConfigError, error_text

CONFIG_NAME = "pizauth.conf"


def default_config_path() -> str:
    """``$XDG_CONFIG_HOME/pizauth.conf``, else ``$HOME/.config/pizauth.conf``.

    :raises ConfigError: when neither variable is set.
    """
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        return os.path.join(xdg, CONFIG_NAME)
    home = os.environ.get("HOME")
    if home:
        return os.path.join(home, ".config", CONFIG_NAME)
    raise ConfigError("Neither $XDG_CONFIG_HOME or $HOME set")


def config_path(explicit: str | None) -> str:
    """The config file to use: ``explicit`` when given (even empty), else the default.

    As upstream, only the default path is checked here; an explicit one that cannot be read
    fails when it is read, with :func:`read_config_text`'s message.

    :raises ConfigError: ``No config file found at <path>`` when the default path is not a
        regular file.
    """
    if explicit is not None:
        return explicit
    path = default_config_path()
    try:
        is_file = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        is_file = False
    if not is_file:
        raise ConfigError(f"No config file found at {path}")
    return path


def quoted(path: str) -> str:
    """``path`` in double quotes with escapes, as upstream's messages show paths."""
    out = []
    for ch in path:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{{{ord(ch):x}}}")
        elif 0xDC80 <= ord(ch) <= 0xDCFF:  # an undecodable byte, kept by surrogateescape
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def read_config_text(path: str) -> str:
    """The config file's text.

    :raises ConfigError: ``Can't read "<path>": <reason>``, worded as upstream's.
    """
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(f"Can't read {quoted(path)}: {error_text(e)}") from None
    except UnicodeDecodeError:
        reason = "stream did not contain valid UTF-8"
        raise ConfigError(f"Can't read {quoted(path)}: {reason}") from None


def runtime_dir() -> str:
    """``$XDG_RUNTIME_DIR/pizauth``, else ``${TMPDIR:-/tmp}/runtime-<user>/pizauth``."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "pizauth")
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = "unknown-user"
    tmp = os.environ.get("TMPDIR") or "/tmp"
    return os.path.join(tmp, f"runtime-{user}", "pizauth")


def ensure_runtime_dir() -> str:
    """Create the runtime directory and its parent with mode 0700, as upstream does every run.

    :raises ConfigError: with upstream's text when it cannot be made private.
    """
    path = runtime_dir()
    for d in (os.path.dirname(path), path):
        try:
            os.makedirs(d, mode=0o700, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"Can't create cache dir: {error_text(e)}") from None
        try:
            os.chmod(d, 0o700)
        except OSError:
            raise ConfigError(f"Can't set permissions for {d} to 0700 (octal)") from None
    return path
