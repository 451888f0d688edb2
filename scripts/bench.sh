#!/usr/bin/env bash
# The project's one benchmark command: ./scripts/bench.sh [--quick] [--soak MINUTES [--soak-accounts N]]
#
# Sets up what it needs (scripts/setup.sh: the system packages, .venv, the test provider's npm
# packages), then runs benchmarks/bench.py, which installs this checkout regularly (not
# editable) into .venv-bench, starts private buses and servers, and prints one Markdown table
# of ratios measured side by side (benchmarks/RESULTS.md holds the last committed one).
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

SETUP_FOR=${SETUP_FOR:-tests} source scripts/setup.sh >&2

exec "$venv/bin/python" benchmarks/bench.py "$@"
