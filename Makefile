# Every developer and operator task. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PA := $(BIN)/pricealert
#: The installed set follows the lock files (`make lock` writes them from the pyprojects).
LOCKS := requirements.lock requirements-ops.lock requirements-dev.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml libs/pricealert_ops/pyproject.toml \
  requirements-dev.lock | cksum | cut -d' ' -f1)
#: One resolution for what CI, `make install` and the Dockerfile install: Python 3.11 on
#: linux x86_64 (the image's), whatever machine runs `make lock`.
UV_COMPILE := $(BIN)/uv pip compile --quiet --python-version 3.11 \
  --python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock" \
  --no-emit-package pricealert --no-emit-package pricealert-ops
LOCAL := $(or $(PRICEALERT_LOCAL_DIR),.local)
#: Finds or starts PostgreSQL and Redis (`pricealert servers up`: the configured ones, else
#: project-local ones in .local/) and writes the URLs in use to .local/servers.env ...
SERVERS_UP := scripts/ensure_services.sh
#: ... which a later recipe line sources, so the stack runs against them.
WITH_SERVERS := source $(LOCAL)/servers.env &&

.PHONY: help install lock run stop demo demo-shop demo-receiver test test-fast test-e2e lint typecheck format \
        migrate test-extract extraction-report test-fetch test-pipeline bench bench-quick bench-extract \
        bench-scrape bench-pipeline bench-workers bench-api bench-scale bench-http bench-web bench-cli \
        test-web web-screenshots monitoring-generate \
        monitoring-check infra-check backup backup-prune backup-verify config-backup restore-drill \
        restore-drill-rds deploy-plan deploy-apply db-maintenance audit \
        perf-report alert-review forecast chaos clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' \
	  '{ name[NR] = $$1; text[NR] = $$2; if (length($$1) > w) w = length($$1) } \
	   END { for (i = 1; i <= NR; i++) printf "  %-" w "s  %s\n", name[i], text[i] }'

$(STAMP): pyproject.toml libs/pricealert_ops/pyproject.toml requirements-dev.lock
	@echo "First run: creating .venv and installing PriceAlert and its tools (about two minutes)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "make: '$(PYTHON) -m venv' failed; Debian and Ubuntu ship it apart: apt-get install python3-venv" >&2; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e . -e libs/pricealert_ops
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP) ## Create .venv and install PriceAlert with its development tools

lock: ## Re-resolve requirements*.lock from the pyprojects (runtime, ops image, development)
	@test -x $(BIN)/uv || { $(MAKE) --no-print-directory install; }
	$(UV_COMPILE) pyproject.toml -o requirements.lock
	printf '%s\n' . ./libs/pricealert_ops | $(UV_COMPILE) - -o requirements-ops.lock
	printf '%s\n' '.[dev,local]' ./libs/pricealert_ops | $(UV_COMPILE) - -o requirements-dev.lock

migrate: install ## Apply database migrations (creates the database if missing)
	$(SERVERS_UP)
	$(WITH_SERVERS) $(PA) migrate

run: install ## Run the whole stack: API on :8000, web UI on :8080 (PRICEALERT_WEB_PORT), three workers
	$(SERVERS_UP)
	$(WITH_SERVERS) $(PA) migrate && exec $(PA) run all

stop: install ## Stop the PostgreSQL and Redis that make started in .local/
	$(PA) servers stop

test: install ## The whole suite (real PostgreSQL, Redis, Prometheus tools): ~45 min on 2 busy cores
	scripts/test_tools.sh
	$(SERVERS_UP) --tests
	$(WITH_SERVERS) PYTHON=$(BIN)/python bash monitoring/check.sh -p no:cacheprovider
	$(WITH_SERVERS) $(BIN)/pytest -q -p no:cacheprovider --ignore=tests/monitoring

test-fast: install ## All but the 60 tests marked slow (processes, browsers, chaos): ~22 min on 2 busy cores
	$(SERVERS_UP) --tests
	scripts/test_tools.sh
	$(WITH_SERVERS) $(BIN)/pytest -q -p no:cacheprovider -m "not slow"

lint: install ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install ## mypy --strict over the library, services and tests
	$(BIN)/mypy libs services tests scripts

demo: install ## The real stack, a moving demo shop, each signed alert as it arrives (~1 min; Ctrl-C ends)
	$(BIN)/python -m scripts.demo

demo-shop: install ## The demo shop on 127.0.0.1:8180 for the README walk-through (prints its URLs)
	$(PA) demo shop

demo-receiver: install ## A webhook receiver on 127.0.0.1:8190 that checks signatures (SECRET=whsec_...)
	$(PA) demo receiver $(if $(SECRET),--secret '$(SECRET)')

test-e2e: install ## The four services as real processes (about 2 min)
	$(SERVERS_UP) --tests
	$(WITH_SERVERS) $(BIN)/pytest -q tests/e2e

extraction-report: install ## Real-page extraction score beside extruct + lowest offer, CPU per page, suggest top-3 (ARGS=--update-ratchet)
	$(BIN)/python -m scripts.extraction_report $(ARGS)

bench-pipeline: install ## Scrape → evaluate → notify with every service running (JSON)
	$(SERVERS_UP)
	$(WITH_SERVERS) $(BIN)/python -m scripts.bench.bench_pipeline $(ARGS)

bench: install ## Every benchmark: JSON in bench-results.json and a table (never pass/fail)
	$(SERVERS_UP)
	$(WITH_SERVERS) $(BIN)/python -m scripts.bench.run_all

bench-quick: install ## A short run of every benchmark
	$(SERVERS_UP)
	$(WITH_SERVERS) $(BIN)/python -m scripts.bench.run_all --quick

bench-scrape: install ## Scraper end to end: checks/s per core, CPU ms per check and its parts (JSON)
	$(SERVERS_UP)
	$(WITH_SERVERS) $(BIN)/python -m scripts.bench.bench_scrape $(ARGS)

bench-api: install ## API read endpoints at fixed offered load, 100k products / 10M history rows (JSON)
	$(SERVERS_UP)
	$(WITH_SERVERS) $(BIN)/python -m scripts.bench.bench_api $(ARGS)

bench-workers: install ## Evaluator and notifier alone: CPU per change evaluated and per webhook delivered (JSON)
	$(SERVERS_UP)
	$(WITH_SERVERS) $(BIN)/python -m scripts.bench.bench_workers $(ARGS)

bench-scale: install ## Claim latency with 1M products due per hour, service RSS, bytes per million checks
	$(SERVERS_UP)
	$(WITH_SERVERS) $(BIN)/python -m scripts.bench.bench_scale $(ARGS)

bench-http: install ## CPU ms per GET: guarded client, bare aiohttp and httpx against nginx (JSON)
	$(BIN)/python -m scripts.bench.http_client_bench $(ARGS)

bench-web: install ## Product page load (a year of history) in Debian's chromium: p50/p95 warm and cold (JSON)
	$(SERVERS_UP)
	$(WITH_SERVERS) $(BIN)/python -m scripts.bench.bench_web $(ARGS)

test-web: install ## The web UI's tests: pages, sign-in, i18n, and a real browser (about 1½ min)
	$(SERVERS_UP) --tests
	$(WITH_SERVERS) $(BIN)/pytest -q -p no:cacheprovider tests/web tests/api/test_sign_in.py

web-screenshots: install ## Photograph the web UI's main pages into services/web/screenshots/ (for the README)
	$(SERVERS_UP) --tests
	$(WITH_SERVERS) PRICEALERT_WEB_SCREENSHOTS=$(CURDIR)/services/web/screenshots \
	  $(BIN)/pytest -q -p no:cacheprovider tests/web/test_stack.py

chaos: install ## Chaos experiments on a private local stack, short (~6 min); exit 1 when an invariant breaks
	$(PA) chaos --short

test-extract: install ## Extraction tests alone (no database needed)
	$(BIN)/pytest -q tests/extract

bench-extract: install ## Extraction pages/s and CPU ms per page (JSON)
	$(BIN)/python -m scripts.bench.bench_extract

bench-cli: install ## Wall and CPU seconds of `pricealert --help` and a command's --help (JSON)
	$(BIN)/python -m scripts.bench.bench_cli $(ARGS)

test-fetch: install ## Guarded client and shop fetcher tests
	$(BIN)/pytest -q tests/http tests/scraper/test_fetch.py

test-pipeline: install ## Evaluator and notifier tests
	$(BIN)/pytest -q tests/evaluator tests/notifier

monitoring-generate: install ## Regenerate metrics.md, SLO/escalation rules, log policies
	$(BIN)/python -m pricealert_ops.monitoring generate

monitoring-check: install ## promtool/amtool checks and every monitoring test
	PYTHON=$(BIN)/python bash monitoring/check.sh

infra-check: install ## cfn-lint and the CloudFormation tests (moto)
	$(BIN)/cfn-lint --regions ap-northeast-1 ap-northeast-3 -- infra/*.yaml
	$(BIN)/pytest -q tests/infra

backup: install ## pg_dump to PRICEALERT_BACKUP_BUCKET (bucket, s3://bucket or file:///dir)
	$(PA) backup create

config-backup: install ## Export templates, monitoring config, deployed parameters and task definitions to the versioned config bucket if changed
	$(PA) config backup

backup-prune: install ## Delete dumps past retention (90 days); DRY_RUN=1 to only list
	$(PA) backup prune $(if $(DRY_RUN),--dry-run)

backup-verify: install ## Restore the newest dump into a scratch database and compare every table
	$(PA) backup verify

restore-drill: install ## Real schema + 100k history rows: back up, destroy, restore, prove data and app; RTO, RPO
	$(SERVERS_UP)
	$(WITH_SERVERS) $(PA) backup drill

restore-drill-rds: install ## Both RDS restore paths against moto: each restored instance comes up like its source
	$(PA) restore drill-rds

deploy-plan: install ## STACKS="services jobs" PARAMS="ImageUri=..." [EMERGENCY="reason" APPROVER=name]: change sets + class (7.3)
	$(PA) deploy plan $(STACKS) $(foreach p,$(PARAMS),--parameter $(p)) \
	  $(if $(ENV),--env $(ENV)) $(if $(REGION),--region $(REGION)) $(if $(S3_BUCKET),--s3-bucket $(S3_BUCKET)) \
	  $(if $(EMERGENCY),--emergency --reason '$(EMERGENCY)' --approver '$(APPROVER)') \
	  $(if $(ALLOW_DATA_LOSS),--allow-data-loss)

deploy-apply: install ## STACKS="services jobs" CHANGE_SET=plan-...: run the approved change sets, then config-backup (7.3, 5.1)
	$(PA) deploy apply $(STACKS) --change-set-name '$(CHANGE_SET)' \
	  $(if $(ENV),--env $(ENV)) $(if $(REGION),--region $(REGION))

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
