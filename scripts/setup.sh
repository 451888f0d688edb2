#!/usr/bin/env bash
# Sets up everything pizauth-dbus's demo and tests need, each step only when it is missing or out
# of date, so running it again is cheap:
#   1. Debian packages for the commands the tests run (dbus-daemon, gdbus, busctl, node, npm, ...);
#   2. a virtualenv at .venv with this project installed editable, test extras included, and
#      one more, .venv-3.N, for every other CPython 3.11+ on PATH (not for the demo);
#   3. the test authorisation server's npm packages in tests/oidc.
# Sourced by scripts/test.sh and scripts/demo.sh; works as root (CI) or as a user with sudo.

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

step() { printf '\n==> %s\n' "$*"; }
die() {
	printf '%s: %s\n' "$(basename "$0")" "$*" >&2
	exit 1
}

# -- 1. System packages -------------------------------------------------------------------------

missing_packages=()
# need COMMAND PACKAGE...: install PACKAGE... unless COMMAND is already on PATH.
need() {
	local cmd=$1
	shift
	command -v "$cmd" >/dev/null 2>&1 || missing_packages+=("$@")
}

# What the demo needs too: a bus, the provider, Python.
need dbus-daemon dbus dbus-daemon    # the private session bus
need node nodejs                     # the oidc-provider authorisation server
need npm npm
need python3 python3 python3-venv
# What only the tests need; scripts/demo.sh sets SETUP_FOR=demo to skip these.
if [[ ${SETUP_FOR:-tests} != demo ]]; then
	need gdbus libglib2.0-bin          # D-Bus calls by hand, as a user would make them
	need busctl systemd                # likewise; needs no running systemd
	need chromium chromium             # real-browser tests (Playwright drives it; no download)
	need mandoc mandoc                 # man page lint
	need desktop-file-validate desktop-file-utils  # desktop entry check
	need zsh zsh                       # completion tests
	need fish fish                     # likewise
	need Xvfb xvfb                     # a display for the real notification server
	need xdotool xdotool               # clicking its notifications with the pointer
	need import imagemagick            # screenshots of them
	need /usr/lib/notification-daemon/notification-daemon notification-daemon  # the server
	need gnome-keyring-daemon gnome-keyring  # a real Secret Service for token_store = "keyring"
	need tinyproxy tinyproxy           # a real HTTP proxy the token requests must pass through
	need bwrap bubblewrap              # a Flatpak-like sandbox for the sandboxed-caller tests
	# python-dbusmock (logind, NetworkManager, the portal on private buses) needs dbus-python
	# and PyGObject, which are built from source against these.
	if ! { command -v pkg-config >/dev/null &&
		pkg-config --exists dbus-1 glib-2.0 gobject-introspection-1.0 cairo; }; then
		missing_packages+=(pkg-config libdbus-1-dev libglib2.0-dev libgirepository1.0-dev libcairo2-dev)
	fi
fi

# Debian's own python3 needs python3-venv for `python3 -m venv`.
if command -v python3 >/dev/null && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
	missing_packages+=(python3-venv)
fi

if ((${#missing_packages[@]})); then
	step "Installing Debian packages: ${missing_packages[*]}"
	command -v apt-get >/dev/null || die "missing ${missing_packages[*]} and no apt-get to install them"
	sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || die "installing ${missing_packages[*]} needs root or sudo"
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${missing_packages[@]}"
fi

# oidc-provider 9 declares Node 22+; every flow the tests use was verified on Node 20.
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
	printf 'test.sh: warning: node %s is older than the verified 20; oidc-provider may fail\n' \
		"$(node --version)" >&2
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
	die "Python 3.11 or newer is needed, python3 is $(python3 --version 2>&1)"

# -- 2. Python virtualenvs ----------------------------------------------------------------------

# make_venv DIR PYTHON [PIP-ARGS...]: a virtualenv at DIR made with PYTHON, holding this project
# installed editable with its test extras. Reinstalled when pyproject.toml changes (dependencies,
# entry points); source changes need nothing.
make_venv() {
	local dir=$1 python=$2 stamp want
	shift 2
	if ! "$dir/bin/python" -c '' >/dev/null 2>&1; then
		step "Creating $dir with $("$python" --version 2>&1)"
		rm -rf "$dir"
		"$python" -m venv "$dir"
	fi
	stamp="$dir/.pizauth-test-deps"
	want=$(sha256sum pyproject.toml | cut -d' ' -f1)
	if [[ ! -x $dir/bin/pizauth || $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
		step "Installing the project and its test dependencies into $dir"
		"$dir/bin/python" -m pip install --disable-pip-version-check -q "$@" -e '.[test]'
		echo "$want" >"$stamp"
	fi
}

venv=.venv
make_venv "$venv" python3

# find_python 3.N: print a working python3.N: the one on PATH, else one that pyenv has installed
# but not selected (its shim then refuses to run it). Fails when there is none.
find_python() {
	local version=$1 candidate
	candidate=$(command -v "python$version" 2>/dev/null) &&
		"$candidate" -c '' >/dev/null 2>&1 && echo "$candidate" && return 0
	command -v pyenv >/dev/null 2>&1 || return 1
	for candidate in $(ls -d "$(pyenv root)/versions/$version".* 2>/dev/null | sort -V -r); do
		[[ $candidate =~ /$version\.[0-9]+$ ]] || continue # CPython releases only
		"$candidate/bin/python$version" -c '' >/dev/null 2>&1 &&
			echo "$candidate/bin/python$version" && return 0
	done
	return 1
}

# Every other CPython from 3.11 on that this machine has gets a virtualenv of its own,
# .venv-3.N, so the tests can run on each (scripts/test.sh).
other_pythons=()
main_version=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [[ ${SETUP_FOR:-tests} != demo ]]; then
	for minor in $(seq 11 30); do
		[[ 3.$minor != "$main_version" ]] || continue
		python=$(find_python "3.$minor") || continue
		other_pythons+=("3.$minor")
		make_venv ".venv-3.$minor" "$python"
	done
fi

# -- 3. npm packages for the test authorisation server ------------------------------------------

oidc=tests/oidc
stamp="$oidc/node_modules/.pizauth-lock-sha256"
want=$(sha256sum "$oidc/package-lock.json" | cut -d' ' -f1)
if [[ $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
	step "Installing $oidc's npm packages"
	(cd "$oidc" && npm ci --no-audit --no-fund)
	echo "$want" >"$stamp"
fi

