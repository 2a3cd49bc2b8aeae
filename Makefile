# Cortex MCP. `make run` serves a development instance; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
# Request threads per worker. SQLite runs in-process, under the GIL: a second thread only adds GIL hand-offs
# (one thread served about 20% more requests here). PostgreSQL waits on the network: threads overlap the waits.
THREADS ?= $(if $(filter postgres%,$(DATABASE_URL)),4,1)

.PHONY: run serve worker beat test test-sqlite test-postgres lint bench bench-codebase clean interop-install conformance doctor

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=python3"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

# Development: SQLite, no Redis, DEBUG on, the embedded development issuer (manage.py mint_token).
run: export DEBUG ?= 1
run: export MCP_RESOURCE_URL ?= http://$(HOST):$(PORT)/mcp
run: venv
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# Production: the same command the benchmark measures. Needs SECRET_KEY and the seed's variables.
serve: venv
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py check --deploy --fail-level ERROR
	$(BIN)/python manage.py collectstatic --no-input -v 0
	$(BIN)/granian --interface wsgi cortex.wsgi:application --host $(HOST) --port $(PORT) \
		--workers $(WORKERS) --blocking-threads $(THREADS) --no-ws

# Background work (needs REDIS_URL): one worker, and beat with the per-tenant schedule from the database.
worker: venv
	$(BIN)/celery -A cortex worker --loglevel INFO --concurrency 2

beat: venv
	$(BIN)/celery -A cortex beat --loglevel INFO --scheduler django_celery_beat.schedulers:DatabaseScheduler

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The whole suite, on SQLite and then on a throwaway PostgreSQL (scripts/postgres.sh). The interoperability
# tests (tests/test_oauth_flow.py, test_inspector.py, test_conformance.py) need the Node packages of interop/.
test: lint test-sqlite test-postgres

test-sqlite: venv interop-install
	env -u DATABASE_URL $(BIN)/pytest -q

test-postgres: venv interop-install
	DATABASE_URL=$$(scripts/postgres.sh start) $(BIN)/pytest -q

# Node packages for the interoperability tests (oidc-provider, MCP Inspector CLI, conformance suite), from the
# lock file. Node 20+ and npm must be on PATH.
interop-install: interop/node_modules/.installed

interop/node_modules/.installed: interop/package.json interop/package-lock.json
	cd interop && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The official MCP conformance suite against the conformance profile; prints passed / failed / baselined.
conformance: venv interop-install
	$(BIN)/python -m tests.conformance

# The seed guide's troubleshooting table as checks (TENANT=slug, TOKEN=an access token to check too).
doctor: venv
	$(BIN)/python manage.py oauth_doctor --tenant $(or $(TENANT),default) $(if $(TOKEN),--token $(TOKEN))

bench: venv
	$(BIN)/python bench/mcp_bench.py

# codebase.search on the installed CPython standard library (index build, size, p50 through MCP, rg -F).
bench-codebase: venv
	$(BIN)/python bench/codebase_bench.py

clean:
	rm -rf $(VENV) var
