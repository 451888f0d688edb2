"""The pizauth.conf entry point: :func:`parse` a text or :func:`load` a file into a
:class:`Config`, or get a :class:`ConfigParseError` that shows every problem.

The data model lives in :mod:`pizauth_dbus.config.model` (and is imported from there: nothing
is re-exported here), the checks in :mod:`pizauth_dbus.config.checker`, the scanner that reads a
file in :mod:`pizauth_dbus.config.scanner`, and positioned messages in
:mod:`pizauth_dbus.config.diagnostics`. pyparsing is imported only when the scanner stops at
something it cannot read, to explain the error, so the CLI may import this cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence

from pizauth_dbus.config import grammar, scanner
from pizauth_dbus.config.checker import Checker
from pizauth_dbus.config.diagnostics import Diagnostic
from pizauth_dbus.config.model import Config
from pizauth_dbus.config.scanner import Node
from pizauth_dbus.errors import ConfigError


class ConfigParseError(ConfigError):
    """A configuration text with one or more problems; ``str()`` shows all of them."""

    def __init__(self, text: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        # Without diagnostics ``text`` is the message itself, as when unpickling.
        rendered = "\n\n".join(d.render(text) for d in diagnostics)
        super().__init__(rendered if diagnostics else text)
        self.diagnostics = tuple(diagnostics)


def read_tree(text: str) -> tuple[list[Node], list[Diagnostic]]:
    """Read ``text`` into top-level nodes, or explain why it is not valid syntax.

    :returns: all the nodes and no diagnostics; or, when there are syntax errors, the nodes
        complete before the first one and the errors (see
        :func:`~pizauth_dbus.config.grammar.explain`).
    """
    nodes, stopped = scanner.scan(text)
    if stopped is None:
        return nodes, []
    more, errors = grammar.explain(text, stopped)
    return [*nodes, *more], errors


def parse(text: str) -> Config:
    """Parse and validate a whole config file's text.

    :raises ConfigError: with the complete, printable message (line, column, source, caret).
    """
    nodes, syntax_errors = read_tree(text)
    checker = Checker(text)
    # After a syntax error only the items read before it are checked, one by one: checks that
    # need the whole file ("at least one account", listeners) would be guesses.
    config = checker.run(nodes, whole_file=not syntax_errors)
    if checker.errors or syntax_errors or config is None:
        raise ConfigParseError(text, [*checker.errors, *syntax_errors])
    return config


def load(path: str) -> Config:
    """Read and parse the config at ``path`` (already resolved by :mod:`pizauth_dbus.paths`)."""
    from pizauth_dbus.paths import read_config_text

    return parse(read_config_text(path))
