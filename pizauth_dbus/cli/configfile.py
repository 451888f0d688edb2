"""Adding an account block to pizauth.conf safely, for ``pizauth-dbus new-account``.

The new file is checked with the server's own checker before anything is written; a new
config is created 0600; an existing one is kept as ``<file>.bak`` and replaced atomically (a
temporary file in the same directory, renamed over it), keeping its mode; an account that
already exists is refused unless the person asks to replace it, and then its block alone is
replaced. A failure at any step leaves the file as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from pizauth_dbus.errors import error_text

BACKUP_SUFFIX = ".bak"
NEW_FILE_MODE = 0o600
"""The config holds client secrets: only its owner may read a new one."""
_TOKEN = re.compile(r'"(?:\\[\\"]|[^"\\])*"|//[^\n]*|[{}]|\baccount\b|\S', re.DOTALL)
"""The scanner's pieces: strings (the language's), comments, braces, the word account."""


class ConfigWriteError(Exception):
    """The config cannot be written as asked; nothing was changed."""


def _unquote(s: str) -> str:
    return re.sub(r"\\([\\\"])", r"\1", s[1:-1])


def account_spans(text: str) -> dict[str, tuple[int, int]]:
    """Where each top-level ``account "NAME" { ... }`` block is: ``{name: (start, end)}``."""
    spans: dict[str, tuple[int, int]] = {}
    depth = 0
    pieces = list(_TOKEN.finditer(text))
    i = 0
    while i < len(pieces):
        m = pieces[i]
        tok = m.group()
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth = max(0, depth - 1)
        elif tok == "account" and depth == 0 and i + 2 < len(pieces):
            name, brace = pieces[i + 1].group(), pieces[i + 2].group()
            if name.startswith('"') and brace == "{":
                inner, j = 1, i + 3
                while j < len(pieces) and inner:
                    t = pieces[j].group()
                    inner += 1 if t == "{" else -1 if t == "}" else 0
                    j += 1
                end = pieces[j - 1].end() if not inner else len(text)
                spans[_unquote(name)] = (m.start(), end)
                i = j
                continue
        i += 1
    return spans


def with_account(text: str, name: str, block: str, *, replace: bool) -> str:
    """``text`` with ``block`` added, or put where the account's old block was.

    :raises ConfigWriteError: when the account exists and ``replace`` is not set.
    """
    spans = account_spans(text)
    if name in spans:
        if not replace:
            raise ConfigWriteError(
                f"An account '{name}' already exists: choose another name, or replace it "
                "(--replace)"
            )
        start, end = spans[name]
        return text[:start] + block.rstrip("\n") + text[end:]
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    return text + sep + block


def read(path: Path) -> str | None:
    """The file's text, or None when there is none yet.

    :raises ConfigWriteError: when it exists but cannot be read.
    """
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigWriteError(f"Can't read {path}: {error_text(e)}") from None


def _write_atomically(path: Path, text: str, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write(path: Path, old: str | None, new: str) -> Path | None:
    """Write ``new`` to ``path``, keeping ``old`` (what it held) as the backup.

    :returns: the backup's path, or None for a new file.
    :raises ConfigWriteError: naming the file and the system's reason; the file is unchanged.
    """
    try:
        if old is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, new, NEW_FILE_MODE)
            return None
        mode = path.stat().st_mode & 0o7777
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        _write_atomically(backup, old, mode & 0o600 or NEW_FILE_MODE)
        _write_atomically(path, new, mode)
        return backup
    except OSError as e:
        raise ConfigWriteError(f"Can't write {path}: {error_text(e)}") from None
