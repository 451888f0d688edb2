"""The addresses of the harness's own HTTP servers (oidc-provider, the fake token endpoint).

Each listens on 127.0.0.1 at the port its ``port`` attribute holds once started; an
:class:`Endpoint` names one path there, so that a server class lists its URLs as one line
each, all built the one way.
"""

from __future__ import annotations

from typing import Protocol, Self, overload


class Listening(Protocol):
    """A server on 127.0.0.1 at ``port``."""

    port: int


class Endpoint:
    """A class attribute that reads, on a server, as ``http://127.0.0.1:<port><path>``."""

    def __init__(self, path: str = "") -> None:
        self.path = path

    @overload
    def __get__(self, server: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, server: Listening, owner: type | None = None) -> str: ...

    def __get__(self, server: Listening | None, owner: type | None = None) -> Self | str:
        if server is None:  # looked up on the class itself
            return self
        return f"http://127.0.0.1:{server.port}{self.path}"
