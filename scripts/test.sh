#!/usr/bin/env bash
# The project's one test command: ./scripts/test.sh [pytest arguments...]
#
# Sets up what the tests need (scripts/setup.sh: Debian packages, .venv, the npm test server),
# then runs every check: ruff, ruff format, mypy, and pytest once on each CPython 3.11 or newer
# that the machine has (python3, python3.11, python3.12, ...). Each check runs even when an
# earlier one failed; the script exits non-zero if any setup step or check failed.
#
# Works from any directory, as root (CI: a fresh Debian 12 machine) or as a user with sudo.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

source scripts/setup.sh

# -- Checks ----------------------------------------------------------------------------------------

failed=()
check() {
	local name=$1
	shift
	step "$name: $*"
	"$@" || failed+=("$name")
}

check ruff "$venv/bin/ruff" check .
check ruff-format "$venv/bin/ruff" format --check .
check mypy "$venv/bin/mypy"
check "pytest (Python $main_version)" "$venv/bin/pytest" -ra "$@"
# The same suite on every other CPython 3.11+ the machine has, so that a break on a newer
# Python shows up here rather than on a user's machine.
for version in "${other_pythons[@]}"; do
	check "pytest (Python $version)" ".venv-$version/bin/pytest" -ra "$@"
done

# The lowest version of each dependency that pyproject.toml allows, installed together in a
# virtualenv of their own, must pass the end-to-end tests: a floor that is too low fails here
# rather than in a user's installation.
lowest() {
	local constraints=.venv-lowest.txt
	"$venv/bin/python" - >"$constraints" <<-'PY'
		import re, tomllib
		for dep in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
		    name, floor = re.match(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([^,;\s]+)", dep).groups()
		    print(f"{name}=={floor}")
	PY
	make_venv .venv-lowest python3 -c "$constraints" &&
		.venv-lowest/bin/pip list --disable-pip-version-check 2>/dev/null |
		grep -iE "^($(cut -d= -f1 "$constraints" | paste -sd'|')) " &&
		.venv-lowest/bin/pytest -q -p no:cacheprovider tests/test_e2e.py tests/test_dbus_api.py \
			tests/test_desktop.py tests/test_oauth_faults.py tests/test_keyring.py
}
check "lowest dependency versions" lowest

# Nothing the tests started may outlive them: private buses live in pzbus-* directories, the
# provider runs oidc-server.mjs, servers run with configs under pytest's temporary tree, and
# the real-desktop tests start Xvfb and notification-daemon, the keyring tests gnome-keyring.
leftovers() {
	local left
	left=$(pgrep -af 'pzbus-|oidc-server\.mjs|pytest-of-.*pizauth|Xvfb :|notification-daemon|gnome-keyring-daemon' |
		grep -v pgrep || true)
	[[ -z $left ]] || {
		printf 'left running after the tests:\n%s\n' "$left" >&2
		return 1
	}
}
check leftovers leftovers

if ((${#failed[@]})); then
	printf '\ntest.sh: these checks failed: %s\n' "${failed[*]}" >&2
	exit 1
fi
printf '\ntest.sh: every check succeeded\n'
