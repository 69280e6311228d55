# Every developer and operator task. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PA := $(BIN)/pricealert
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: help install run demo test test-e2e test-fast lint typecheck format migrate \
        test-extract bench bench-quick bench-extract bench-scrape bench-pipeline bench-workers bench-api bench-scale bench-http \
        monitoring-check infra-check backup-verify restore-drill db-maintenance audit \
        perf-report alert-review forecast chaos clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools
	$(BIN)/pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP) ## Create .venv and install PriceAlert with its development tools

migrate: install ## Apply database migrations (creates the database if missing)
	$(PA) migrate

run: install ## Run the whole stack: API on PRICEALERT_API_PORT (8000) and the three workers
	scripts/ensure_services.sh
	$(PA) migrate
	$(PA) run all

test: install ## The whole test suite (real PostgreSQL, Redis, Prometheus tools)
	scripts/ensure_services.sh
	PYTHON=$(BIN)/python bash monitoring/check.sh -p no:cacheprovider
	$(BIN)/pytest -q -p no:cacheprovider --ignore=tests/monitoring

lint: install ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install ## mypy --strict over the library, services and tests
	$(BIN)/mypy libs services tests scripts

demo: install ## The real stack, a moving demo shop, each signed alert as it arrives (~1 min; Ctrl-C ends)
	scripts/ensure_services.sh
	$(BIN)/python -m scripts.demo

test-e2e: install ## The four services as real processes (about 2 min)
	scripts/ensure_services.sh
	$(BIN)/pytest -q tests/e2e

bench-pipeline: install ## Scrape → evaluate → notify with every service running (JSON)
	scripts/ensure_services.sh
	$(BIN)/python -m scripts.bench.bench_pipeline $(ARGS)

bench: install ## Every benchmark: JSON in bench-results.json and a table (never pass/fail)
	scripts/ensure_services.sh
	$(BIN)/python -m scripts.bench.run_all

bench-quick: install ## A short run of every benchmark
	scripts/ensure_services.sh
	$(BIN)/python -m scripts.bench.run_all --quick

bench-scrape: install ## Scraper end to end: checks/s per core, CPU ms per check and its parts (JSON)
	scripts/ensure_services.sh
	$(BIN)/python -m scripts.bench.bench_scrape $(ARGS)

bench-api: install ## API read endpoints at fixed offered load, 100k products / 10M history rows (JSON)
	scripts/ensure_services.sh
	$(BIN)/python -m scripts.bench.bench_api $(ARGS)

bench-workers: install ## Evaluator and notifier alone: CPU per change evaluated and per webhook delivered (JSON)
	scripts/ensure_services.sh
	$(BIN)/python -m scripts.bench.bench_workers $(ARGS)

bench-scale: install ## Claim latency with 1M products due per hour, service RSS, bytes per million checks
	scripts/ensure_services.sh
	$(BIN)/python -m scripts.bench.bench_scale $(ARGS)

bench-http: install ## CPU ms per GET: guarded client, bare aiohttp and httpx against nginx (JSON)
	$(BIN)/python -m scripts.bench.http_client_bench $(ARGS)

chaos: install ## Chaos experiments on a private local stack, short (~6 min); exit 1 when an invariant breaks
	$(PA) chaos --short

test-extract: install ## Extraction tests alone (no database needed)
	$(BIN)/pytest -q tests/extract

bench-extract: install ## Extraction pages/s and CPU ms per page (JSON)
	$(BIN)/python -m scripts.bench.bench_extract

test-fetch: install ## Guarded client and shop fetcher tests
	$(BIN)/pytest -q tests/http tests/scraper/test_fetch.py

test-pipeline: install ## Evaluator and notifier tests
	$(BIN)/pytest -q tests/evaluator tests/notifier

monitoring-generate: install ## Regenerate metrics.md, SLO/escalation rules, log policies
	$(BIN)/python -m pricealert.monitoring generate

monitoring-check: install ## promtool/amtool checks and every monitoring test
	PYTHON=$(BIN)/python bash monitoring/check.sh

infra-check: install ## cfn-lint and the CloudFormation tests (moto)
	$(BIN)/cfn-lint --regions ap-northeast-1 ap-northeast-3 -- infra/*.yaml
	$(BIN)/pytest -q tests/infra

backup: install ## pg_dump to PRICEALERT_BACKUP_BUCKET (bucket, s3://bucket or file:///dir)
	$(PA) backup create

backup-prune: install ## Delete dumps past retention (90 days); DRY_RUN=1 to only list
	$(PA) backup prune $(if $(DRY_RUN),--dry-run)

backup-verify: install ## Restore the newest dump into a scratch database and compare every table
	$(PA) backup verify

restore-drill: install ## Create data, back up, destroy, restore, prove identical; prints the RTO
	$(PA) backup drill

db-maintenance: install ## ANALYZE, bloat and unused-index report; REINDEX=1 to reindex
	$(PA) db maintenance $(if $(REINDEX),--reindex)

audit: install ## Dependency vulnerability audit (pip-audit)
	$(PA) audit

perf-report: install ## Slowest statements from pg_stat_statements
	$(PA) perf report

alert-review: install ## Alerts without runbooks; ALERTMANAGER_URL=... what is firing; PROMETHEUS_URL=... the quarter's firings
	$(PA) alert review $(if $(ALERTMANAGER_URL),--alertmanager $(ALERTMANAGER_URL)) $(if $(PROMETHEUS_URL),--prometheus $(PROMETHEUS_URL))

forecast: install ## PROMETHEUS_URL=... QUERY='...' KIND=queue_length|cpu|requests
	mkdir -p build && $(PA) forecast --prometheus $(PROMETHEUS_URL) --query '$(QUERY)' \
	  --metric-kind $(or $(KIND),queue_length) --out build/forecast.csv --plot build/forecast.png

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
