#!/usr/bin/env bash
# What `make test` needs beyond Python: the Prometheus tools the monitoring tests run for real,
# and the chromium the web UI's tests drive (Playwright launches Debian's; it downloads none).
# Names every missing program and the Debian package that provides it, then fails.
set -uo pipefail
missing=() packages=()
need() {  # need PROGRAM PACKAGE [OTHER-NAME]
  command -v "$1" >/dev/null 2>&1 && return
  [[ -n "${3:-}" ]] && command -v "$3" >/dev/null 2>&1 && return
  missing+=("$1 (Debian package $2)")
  [[ " ${packages[*]} " == *" $2 "* ]] || packages+=("$2")
}
need promtool prometheus
need prometheus prometheus
need amtool prometheus-alertmanager
need alertmanager prometheus-alertmanager prometheus-alertmanager
need chromium chromium
if ((${#missing[@]})); then
  echo "make test: the monitoring and web tests run real programs; missing:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  echo "  install them:  sudo apt-get install -y ${packages[*]}   (.ci/run does)" >&2
  exit 1
fi
