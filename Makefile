# The two commands: `make run` (demo portal on http://127.0.0.1:8000/admin/) and `make test`.
# Both set up everything they need on a fresh machine: Debian libraries, virtual environment, packages.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres
# Debian packages WeasyPrint's wheel needs, fonts for the PDFs, pdftoppm for the PDF checks, and the Chromium
# the browser journeys drive (Playwright's own browser download does not work on these machines).
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-liberation poppler-utils \
	chromium

# The modules mypy checks strictly: the rules, the selectors and the scoping chokepoint.
TYPED := licensing/choices.py licensing/counting.py licensing/royalty.py licensing/position.py licensing/workflow.py \
	licensing/standing.py licensing/ownership.py licensing/access.py licensing/attention.py licensing/reminders.py \
	licensing/reconciliation.py licensing/evidence.py

.PHONY: run test test-sqlite test-postgres e2e screenshots serve serve-all bench load scale rosters setup system-packages migrate demo check \
	lint audit format clean

run: setup migrate demo
	$(BIN)/python manage.py runserver 127.0.0.1:8000

serve: setup migrate
	$(BIN)/python manage.py collectstatic --noinput -v 0
	$(BIN)/gunicorn -c portal/gunicorn_conf.py portal.wsgi:application --bind $${BIND:-127.0.0.1:8000} --workers $${WORKERS:-3} --access-logfile -

# The Procfile's web, worker and beat together (honcho), jobs going through Redis as in production
# (docs/deploy.md). Only here does the broker default to the machine's Redis; `make run` needs none.
SERVE_ALL_BROKER ?= redis://127.0.0.1:6379/0
# The web process shows a job's progress from the cache the worker writes to: both need the same one.
SERVE_ALL_CACHE ?= redis://127.0.0.1:6379/1

serve-all: setup migrate demo
	@broker="$${CELERY_BROKER_URL:-$(SERVE_ALL_BROKER)}"; \
	$(BIN)/python -c "import sys; from kombu import Connection; Connection(sys.argv[1], connect_timeout=2).ensure_connection(max_retries=1, interval_start=0, timeout=2)" "$$broker" 2>/dev/null \
	  || { echo "make serve-all needs a broker: nothing answers at $$broker. Start Redis (apt-get install redis-server) or set CELERY_BROKER_URL." >&2; exit 1; }
	$(BIN)/python manage.py collectstatic --noinput -v 0
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(SERVE_ALL_BROKER)}" CACHE_URL="$${CACHE_URL:-$(SERVE_ALL_CACHE)}" PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho -f Procfile start

setup: system-packages $(VENV)/.installed

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

migrate: setup
	$(BIN)/python manage.py migrate --noinput -v 0

demo: migrate
	$(BIN)/python manage.py seed_demo

check: setup
	$(BIN)/python manage.py makemigrations --check --dry-run -v 1
	$(BIN)/python manage.py check

# ruff (rules in pyproject.toml), ruff format, mypy strict on $(TYPED), bandit over the application code (its
# settings in pyproject.toml); CI fails on any of them.
lint: setup
	@echo "== Lint =="
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(TYPED)
	$(BIN)/bandit -c pyproject.toml -r licensing portal tools -q

# Known vulnerabilities in the installed packages (pip-audit, PyPI's advisories); fails when it could audit nothing.
# Not yet part of `make test`: the PyPI these machines reach answers no per-release JSON (404), so pip-audit can
# check nothing here and the target fails; add it to `test` where PyPI's JSON API answers.
audit: setup
	@echo "== Dependency audit =="
	$(BIN)/python tools/audit_dependencies.py

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The SQLite and PostgreSQL suites run at once, two test processes each: the tests wait on browsers, databases and
# servers for part of their time, so four processes keep both cores busy. With one SQLite process it was the long
# pole (40 min of a 42 min run on a slower machine, where PostgreSQL's two ended at 34). Each suite's output is
# printed whole when it ends.
test: setup lint check
	@$(MAKE) --no-print-directory -j 2 --output-sync=target test-sqlite test-postgres SQLITE_WORKERS=2 POSTGRES_WORKERS=2

# Test processes per suite when a suite runs alone.
SQLITE_WORKERS ?= 2
POSTGRES_WORKERS ?= 2
# Redis databases of the SQLite suite, apart from the PostgreSQL suite's defaults (3, 4, 5) as the two run at once.
SQLITE_SUITE_REDIS = TEST_REDIS_URL=redis://127.0.0.1:6379/11 TEST_REDIS_CACHE_URL=redis://127.0.0.1:6379/12 \
  JOBS_TEST_REDIS_URL=redis://127.0.0.1:6379/13

test-sqlite: setup
	@echo "== Test suite on SQLite =="
	env -u DATABASE_URL $(SQLITE_SUITE_REDIS) $(BIN)/python -m pytest -n $(SQLITE_WORKERS) -q $(PYTEST_ARGS)

# PostgreSQL runs when DATABASE_URL names one or a server answers on 127.0.0.1:5432; under CI=true it must.
test-postgres: setup
	@url="$${DATABASE_URL:-}"; \
	case "$$url" in postgres*) ;; *) url=""; esac; \
	if [ -z "$$url" ]; then \
	  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then url="$(POSTGRES_URL)"; \
	  elif [ "$${CI:-}" = "true" ]; then echo "PostgreSQL is required under CI=true but nothing answers on 127.0.0.1:5432." >&2; exit 1; \
	  else echo "== PostgreSQL not found on 127.0.0.1:5432: suite ran on SQLite only (set DATABASE_URL to test on PostgreSQL) =="; exit 0; fi; \
	fi; \
	echo "== Test suite on PostgreSQL =="; \
	DATABASE_URL="$$url" $(BIN)/python -m pytest -n $(POSTGRES_WORKERS) -q $(PYTEST_ARGS)

# Only the browser journeys (they also run in test-sqlite and test-postgres).
e2e: setup
	env -u DATABASE_URL $(BIN)/python -m pytest -n 2 -q tests/browser $(PYTEST_ARGS)

# Refresh docs/screenshots from the browser journeys; `make test` writes its screenshots to a temporary folder.
screenshots: setup
	env -u DATABASE_URL SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest -q tests/browser/test_journeys.py tests/browser/test_job_journey.py \
	  tests/browser/test_roster_journey.py

bench: setup
	$(BIN)/python benchmarks/run_all.py

# The portal under load (not part of `make bench`: about 5 minutes, PostgreSQL only): gunicorn on one core,
# 50 officers driven by locust on the other; docs/benchmarks.md "Under load". Arguments: LOAD_ARGS=--no-docs
load: setup
	$(BIN)/python benchmarks/load.py $(LOAD_ARGS)

# Jobs beside officers (not part of `make bench`: about 10 minutes, PostgreSQL and Redis db 6 and 7, both flushed):
# 2 gunicorn and 2 Celery worker processes, 20 officers through locust without and then with a 50,000-row import
# and a ZIP of 100 filings running as jobs; docs/benchmarks.md "Scale: jobs beside officers". SCALE_ARGS=--no-docs
scale: setup
	$(BIN)/python benchmarks/scale.py $(SCALE_ARGS)

# Rosters at scale (not part of `make bench`: a few minutes a database): a 30,000-person directory and 15 application
# rosters, 200,000 lines, imported and reconciled, then the reconciliation page; docs/benchmarks.md "Rosters".
# On PostgreSQL: ROSTERS_ARGS="--database-url postgres://postgres@127.0.0.1:5432/postgres"
rosters: setup
	$(BIN)/python benchmarks/rosters.py $(ROSTERS_ARGS)

clean:
	rm -rf $(VENV) var staticfiles .mypy_cache .ruff_cache
