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

# pytest runs each suite on this many workers (pytest-xdist), which steal work from each other
# as they run dry (the tests' lengths differ a lot). The tests mostly wait, on servers starting
# and on the timers they test, so more workers than cores keep the cores busy; on 2 cores, 4
# were the fastest (the whole suite: 2 workers 186 s, 4 113 s, 6 126 s; then the cores are
# the limit).
workers=${PIZAUTH_TEST_WORKERS:-$(($(nproc) * 2))}
xdist=(-n "$workers" --dist worksteal)

# What the tests start lives under this run's own directory (pytest's temporary trees, private
# buses, browser profiles), and every process they start carries it in its environment: so the
# leftovers check below sees this run's processes only, not those of another run on the machine.
# Short, as Unix socket paths inside it must stay under 108 bytes.
run_dir=$(mktemp -d /tmp/pzt-XXXXXX)
trap 'rm -rf "$run_dir"' EXIT
export TMPDIR=$run_dir

failed=()
timings=("$(printf '%6d s  %-6s  %s' "$SECONDS" ok "set-up (packages, virtualenvs, npm)")")
check() {
	local name=$1 start=$SECONDS status=ok
	shift
	step "$name: $*"
	"$@" || {
		failed+=("$name")
		status=FAILED
	}
	timings+=("$(printf '%6d s  %-6s  %s' $((SECONDS - start)) "$status" "$name")")
}

check ruff "$venv/bin/ruff" check .
check ruff-format "$venv/bin/ruff" format --check .
check mypy "$venv/bin/mypy"
check "pytest (Python $main_version)" "$venv/bin/pytest" "${xdist[@]}" \
	--basetemp="$run_dir/py$main_version" -ra "$@"
# The same suite on every other CPython 3.11+ the machine has, so that a break on a newer
# Python shows up here rather than on a user's machine.
for version in "${other_pythons[@]}"; do
	check "pytest (Python $version)" ".venv-$version/bin/pytest" "${xdist[@]}" \
		--basetemp="$run_dir/py$version" -ra "$@"
done

# The lowest version of each dependency that pyproject.toml allows, installed together in a
# virtualenv of their own, must pass the end-to-end tests: a floor that is too low fails here
# rather than in a user's installation. The listener, hardening and sandbox tests are among them
# because that code reaches into aiohttp's and dbus-fast's internals, which differ by release.
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
		.venv-lowest/bin/pytest -q -p no:cacheprovider "${xdist[@]}" --basetemp="$run_dir/lowest" \
			tests/test_e2e.py tests/test_dbus_api.py tests/test_desktop.py \
			tests/test_oauth_faults.py tests/test_keyring.py tests/test_redirects.py \
			tests/test_redirects_https.py tests/test_hardening.py tests/test_sandbox.py
}
check "lowest dependency versions" lowest

# Nothing the tests started may outlive them: private buses (pzbus-*), the provider
# (oidc-server.mjs), servers, Xvfb, notification-daemon and gnome-keyring, each found by this
# run's directory in its environment (the provider: by running in this checkout's tests/oidc).
leftovers() {
	local pid left=() oidc=$PWD/tests/oidc
	for pid in $(pgrep -f 'pzbus-|oidc-server\.mjs|pizauth|Xvfb :|notification-daemon|gnome-keyring-daemon'); do
		[[ $pid != "$$" ]] || continue
		if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qF "$run_dir" ||
			[[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$oidc" ]]; then
			left+=("$(ps -o pid=,args= -p "$pid")")
		fi
	done
	((${#left[@]} == 0)) || {
		printf 'left running after the tests:\n%s\n' "${left[@]}" >&2
		return 1
	}
}
check leftovers leftovers

printf '\ntest.sh: the time each check took:\n'
printf '  %s\n' "${timings[@]}"
printf '  %6d s  in all, set-up included\n' "$SECONDS"

if ((${#failed[@]})); then
	printf '\ntest.sh: these checks failed: %s\n' "${failed[*]}" >&2
	exit 1
fi
printf '\ntest.sh: every check succeeded\n'
