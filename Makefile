# Convenience targets; the real work is in scripts/.
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: demo test lint

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
