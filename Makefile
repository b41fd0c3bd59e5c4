# Entry points: `make run` (development server on :8001), `make test` (whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8001

.PHONY: run test serve lint format migrate bench clean

# Each requirements file is installed again only when it changes.
$(VENV)/.base: requirements/base.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.dev: $(VENV)/.base requirements/dev.txt
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	touch $@

# A real MongoDB-protocol server for the tests only (tests/mongo_server.py): SecantusDB, beta
# software under the GPL, in a virtualenv of its own so its dependencies never meet ours. It
# is not in requirements/ and not in the Docker image. TEST_MONGO_URI=... uses a mongod instead.
SECANTUSDB ?= SecantusDB==0.7.0b3
MONGO_VENV ?= .mongo-venv
$(MONGO_VENV)/.installed: Makefile
	test -x $(MONGO_VENV)/bin/python || $(PYTHON) -m venv $(MONGO_VENV)
	$(MONGO_VENV)/bin/python -m pip install --quiet "$(SECANTUSDB)"
	echo "$(SECANTUSDB)" > $@

# Development settings (DEBUG=true, default token allowed), only when there is no .env yet.
# Only `make run` writes it: `make serve` is production and must never get these settings.
.env:
	cp .env.example .env
	@echo "Wrote .env from .env.example (development mode)."

MIGRATE = $(BIN)/python manage.py migrate --noinput

migrate: $(VENV)/.base
	$(MIGRATE)

# Development server: make run [PORT=8001] [HOST=127.0.0.1]
run: $(VENV)/.base .env
	$(MIGRATE)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# Production-style server, as deployed (see README: Deploy); refuses unsafe settings.
serve: $(VENV)/.base
	$(MIGRATE)
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py dgen_ping_site.wsgi

# Benchmarks, not part of `make test` (docs/benchmarks.md). Installs nginx and wrk with
# apt-get, Portkey's gateway into bench/.portkey (npm) and LiteLLM into bench/.litellm-venv
# when missing. Options go in BENCH_ARGS:
#   make bench BENCH_ARGS="--quick --skip-litellm --skip-portkey"
#   make bench BENCH_ARGS="--only=reports"   # the dashboard and usage/me on 1M stored events
# Reports time MongoDB on the tests' SecantusDB server (.mongo-venv).
bench: $(VENV)/.base $(MONGO_VENV)/.installed
	$(BIN)/python -m bench.run $(BENCH_ARGS)

test: $(VENV)/.dev $(MONGO_VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(MONGO_VENV) staticfiles test-artifacts .pytest_cache
