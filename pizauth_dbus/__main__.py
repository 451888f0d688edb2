"""``python -m pizauth_dbus``: the same entry point as the ``pizauth`` script."""

import sys

from pizauth_dbus.cli.pizauth import main

sys.exit(main())
