#!/usr/bin/env bash
# What `make test` needs beyond Python: the Prometheus tools the monitoring tests run for real.
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
if ((${#missing[@]})); then
  echo "make test: the monitoring tests run the real Prometheus tools; missing:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  echo "  install them:  sudo apt-get install -y ${packages[*]}   (.ci/run does)" >&2
  exit 1
fi
