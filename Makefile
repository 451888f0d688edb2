# Convenience targets; the real work is in scripts/.
#
# `make install` is for packagers: it installs the files a wheel cannot (man pages, shell
# completions, the D-Bus activation file, the systemd user unit, the desktop entry), after the
# Python package itself has been installed (pip, or the distribution's Python packaging), e.g.
#   make install PREFIX=/usr DESTDIR="$pkgdir"
# BINDIR is where that put the `pizauth` command: the activation file and the unit name it by
# absolute path, as D-Bus and systemd require. Per-user installs use `pizauth-dbus install`.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
# systemd looks for user units in $(PREFIX)/lib/systemd/user for both /usr and /usr/local.
USERUNITDIR ?= $(PREFIX)/lib/systemd/user

INSTALL ?= install
INSTALLED = \
	$(MANDIR)/man1/pizauth.1 \
	$(MANDIR)/man1/pizauth-dbus.1 \
	$(MANDIR)/man5/pizauth.conf.5 \
	$(MANDIR)/man5/org.pizauth.5 \
	$(DATADIR)/bash-completion/completions/pizauth \
	$(DATADIR)/zsh/site-functions/_pizauth \
	$(DATADIR)/fish/vendor_completions.d/pizauth.fish \
	$(DATADIR)/dbus-1/services/org.pizauth.service \
	$(DATADIR)/applications/pizauth.desktop \
	$(USERUNITDIR)/pizauth.service

.PHONY: demo test bench lint install uninstall

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

bench:
	./scripts/bench.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

install:
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	$(INSTALL) -m 644 man/pizauth.1 man/pizauth-dbus.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 644 man/pizauth.conf.5 man/org.pizauth.5 $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -d $(DESTDIR)$(DATADIR)/bash-completion/completions
	$(INSTALL) -m 644 completions/pizauth.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/pizauth
	$(INSTALL) -d $(DESTDIR)$(DATADIR)/zsh/site-functions
	$(INSTALL) -m 644 completions/_pizauth $(DESTDIR)$(DATADIR)/zsh/site-functions/
	$(INSTALL) -d $(DESTDIR)$(DATADIR)/fish/vendor_completions.d
	$(INSTALL) -m 644 completions/pizauth.fish $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/
	$(INSTALL) -d $(DESTDIR)$(DATADIR)/dbus-1/services $(DESTDIR)$(DATADIR)/applications
	$(INSTALL) -d $(DESTDIR)$(USERUNITDIR)
	# The shipped files say /usr/bin/pizauth; point them at BINDIR (pizauth #65: a unit that
	# named /usr/bin while `make install` put the program in /usr/local/bin).
	sed 's|/usr/bin/pizauth|$(BINDIR)/pizauth|g' data/org.pizauth.service \
		>$(DESTDIR)$(DATADIR)/dbus-1/services/org.pizauth.service
	sed 's|/usr/bin/pizauth|$(BINDIR)/pizauth|g' data/pizauth.desktop \
		>$(DESTDIR)$(DATADIR)/applications/pizauth.desktop
	sed 's|/usr/bin/pizauth|$(BINDIR)/pizauth|g' data/pizauth.service \
		>$(DESTDIR)$(USERUNITDIR)/pizauth.service
	chmod 644 $(DESTDIR)$(DATADIR)/dbus-1/services/org.pizauth.service \
		$(DESTDIR)$(DATADIR)/applications/pizauth.desktop $(DESTDIR)$(USERUNITDIR)/pizauth.service

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
