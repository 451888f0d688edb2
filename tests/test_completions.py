"""Shell completions (bash, zsh, fish) against a real server: commands, flags, account names.

bash is driven the way readline drives it (``COMP_WORDS``/``COMP_CWORD``, then the completion
function); fish answers ``complete -C`` without a terminal; zsh's completion system needs one,
so its builtins (``compadd``, ``_describe``, ``_arguments``) are replaced by recorders and the
file's own logic is run as zsh would run it. Account names with spaces and colons are included
because ``pizauth status`` lines are ``<name>: <state>``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.server import PizauthServer, ServerFactory

ROOT = Path(__file__).resolve().parent.parent
COMPLETIONS = ROOT / "completions"
ACCOUNTS = ["plain", "team: ops", "work mail"]
COMMANDS = ["complete", "dump", "info", "refresh", "reload", "restore"]
COMMANDS += ["revoke", "server", "show", "shutdown", "status"]


def _account(name: str) -> str:
    return (
        f'account "{name}" {{\n  auth_uri = "http://127.0.0.1:9/auth";\n'
        '  token_uri = "http://127.0.0.1:9/token";\n  client_id = "c";\n}\n'
    )


@pytest.fixture
def server(servers: ServerFactory) -> PizauthServer:
    s = servers("https_listen = none;\n" + "".join(_account(n) for n in ACCOUNTS))
    # One account pending, so that more than one kind of status line is parsed.
    assert s.cli("show", "work mail").returncode == 1
    return s


def _run(server: PizauthServer, argv: list[str]) -> list[str]:
    r = subprocess.run(argv, env=server.env, capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stderr) == (0, ""), r
    return r.stdout.splitlines()


def _bash(server: PizauthServer, *words: str) -> list[str]:
    """What bash offers for the command line ``words`` (the last one being completed)."""
    script = (
        f"source {COMPLETIONS / 'pizauth.bash'}\n"
        'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))\n'
        "_pizauth\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    return [x for x in _run(server, ["bash", "-c", script, "bash", *words]) if x]


def test_bash(server: PizauthServer) -> None:
    assert _bash(server, "pizauth", "") == COMMANDS
    assert _bash(server, "pizauth", "s") == ["server", "show", "shutdown", "status"]
    assert _bash(server, "pizauth", "show", "") == ["plain", "team:\\ ops", "work\\ mail"]
    assert _bash(server, "pizauth", "revoke", "work\\ ") == ["work\\ mail"]
    assert _bash(server, "pizauth", "refresh", "-u", "p") == ["plain"]
    assert _bash(server, "pizauth", "show", "plain", "") == []  # one account only
    assert _bash(server, "pizauth", "show", "-") == ["-u", "-w"]
    assert _bash(server, "pizauth", "show", "-w", "") == []  # seconds: nothing to offer
    assert _bash(server, "pizauth", "show", "-w", "30", "p") == ["plain"]  # not an account
    assert _bash(server, "pizauth", "refresh", "-") == ["-u"]
    assert _bash(server, "pizauth", "info", "-") == ["-j"]
    assert _bash(server, "pizauth", "server", "-") == ["-c", "-d", "-v"]
    conf = Path(server.env["XDG_CONFIG_HOME"]) / "pizauth.conf"
    assert _bash(server, "pizauth", "server", "-c", str(conf)[:-3]) == [str(conf)]


def _fish(server: PizauthServer, line: str) -> list[str]:
    script = f"source {COMPLETIONS / 'pizauth.fish'}; complete -C {_fish_quote(line)}"
    return [x.split("\t")[0] for x in _run(server, ["fish", "--no-config", "-c", script])]


def _fish_quote(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def test_fish(server: PizauthServer) -> None:
    assert _fish(server, "pizauth ") == COMMANDS
    assert _fish(server, "pizauth show ") == ACCOUNTS
    assert _fish(server, "pizauth revoke work") == ["work mail"]
    assert _fish(server, "pizauth show plain ") == []
    assert _fish(server, "pizauth refresh -u ") == ACCOUNTS
    assert _fish(server, "pizauth show -") == ["-u", "-w"]
    assert _fish(server, "pizauth show -w 30 ") == ACCOUNTS
    assert _fish(server, "pizauth refresh -") == ["-u"]
    assert _fish(server, "pizauth info -") == ["-j"]
    assert set(_fish(server, "pizauth server -")) == {"-c", "-d", "-v"}


_ZSH_STUBS = """
compadd() { local a; [[ $1 == -a ]] && for a in "${(@P)2}"; do print -r -- "account=$a"; done; }
_describe() { local d; for d in "${(@P)4}"; do print -r -- "command=${d%%:*}"; done; }
_arguments() {
    local spec
    for spec; do
        case $spec in
        *:_pizauth_accounts) _pizauth_accounts ;;
        -*|[*]-*) print -r -- "flag=${${spec%%\\[*}%+}" ;;
        esac
    done
}
words=("$@"); CURRENT=$#
"""


def _zsh(server: PizauthServer, *words: str) -> list[str]:
    script = _ZSH_STUBS + f"source {COMPLETIONS / '_pizauth'}\n"
    return _run(server, ["zsh", "-f", "-c", script, "zsh", *words])


def test_zsh(server: PizauthServer) -> None:
    assert _zsh(server, "pizauth", "") == [f"command={c}" for c in COMMANDS]
    accounts = [f"account={a}" for a in ACCOUNTS]
    assert _zsh(server, "pizauth", "show", "") == ["flag=-u", "flag=-w", *accounts]
    assert _zsh(server, "pizauth", "revoke", "") == accounts
    assert _zsh(server, "pizauth", "info", "") == ["flag=-j"]
    assert _zsh(server, "pizauth", "server", "") == ["flag=-c", "flag=-d", "flag=*-v"]


@pytest.mark.parametrize(
    ("shell", "name"), [("bash", "pizauth.bash"), ("zsh", "_pizauth"), ("fish", "pizauth.fish")]
)
def test_syntax(shell: str, name: str) -> None:
    r = subprocess.run(
        [shell, "-n", str(COMPLETIONS / name)], capture_output=True, text=True, timeout=30
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
