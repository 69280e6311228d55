#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer for this checkout: the configured servers when they
# answer, else project-local ones in .local/ (the machine's programs, else the embedded wheels
# of the `local` extra). Writes the URLs in use to .local/servers.env, which the Makefile
# sources before it runs the stack. See `pricealert servers up --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pricealert servers up "$@"
