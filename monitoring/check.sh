#!/usr/bin/env bash
# `make monitoring-check`: everything under monitoring/ is valid, current and tested.
#   1. generated files (metrics.md, the rule files, SLO and escalation rules, log
#      routing and retention policies, infra/*.generated.yaml) match their sources;
#   2. promtool check rules / amtool check-config are clean;
#   3. tests/monitoring: promtool unit tests of every alert, boundary tests of every
#      threshold and the mutation check that moves each one, amtool route tests of
#      every severity × escalation pair, live Prometheus and Alertmanager tests, the
#      pinned exporters run against PostgreSQL and Redis, metric-name, dashboard,
#      runbook and log-shipping checks (real log lines through the Fluent Bit config).
# Needs the Debian packages prometheus, prometheus-alertmanager,
# prometheus-postgres-exporter and prometheus-redis-exporter.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "monitoring-check: $1 not found: apt-get install -y $2" >&2
    exit 1
  }
}
need promtool prometheus
need prometheus-postgres-exporter prometheus-postgres-exporter
need prometheus-redis-exporter prometheus-redis-exporter
need prometheus prometheus
need amtool prometheus-alertmanager
command -v alertmanager >/dev/null 2>&1 || need prometheus-alertmanager prometheus-alertmanager

"$PYTHON" -m pricealert_ops.monitoring check
promtool check rules monitoring/prometheus/rules/*.yml
promtool check config --syntax-only monitoring/prometheus/prometheus.yml
amtool check-config monitoring/alertmanager/alertmanager.yml
"$PYTHON" -m pytest tests/monitoring -q "$@"
