"""Where pizauth-dbus looks for its configuration and keeps its runtime directory.

Upstream's rules and messages, kept exact because scripts and completions rely on them. This
module is imported by the CLI, so it must stay light (os and pathlib only).
"""

from __future__ import annotations

import os
import pwd
import stat

from pizauth_dbus.errors import ConfigError

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
    """The config file to use: ``explicit`` when given, else the default; it must be a regular file.

    :raises ConfigError: ``No config file found at <path>`` when it is not a regular file.
    """
    path = explicit if explicit else default_config_path()
    try:
        is_file = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        is_file = False
    if not is_file:
        raise ConfigError(f"No config file found at {path}")
    return path


def read_config_text(path: str) -> str:
    """The config file's text.

    :raises ConfigError: ``Can't read "<path>": <os error>``.
    """
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f'Can\'t read "{path}": {e}') from None


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
            raise ConfigError(f"Can't create cache dir: {e}") from None
        try:
            os.chmod(d, 0o700)
        except OSError:
            raise ConfigError(f"Can't set permissions for {d} to 0700 (octal)") from None
    return path
