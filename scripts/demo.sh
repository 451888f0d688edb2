#!/usr/bin/env bash
# The project's one "run it" command: sets up what is needed (scripts/setup.sh), then runs a
# complete pizauth-dbus session on the bundled local OAuth2 provider (scripts/demo.py).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
SETUP_FOR=demo source scripts/setup.sh
exec "$venv/bin/python" scripts/demo.py "$@"
