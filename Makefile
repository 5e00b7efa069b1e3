# imageaccess: the two commands a new machine needs are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
BIND ?= 127.0.0.1:8000
PYTEST_ARGS ?=

.PHONY: run test lint typecheck serve bench soak worker beat migrate install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

migrate: install
	$(BIN)/python manage.py migrate --noinput

## Serve the demo on http://127.0.0.1:8000 with an embedded SQLite database.
run: migrate
	$(BIN)/python manage.py seed_demo --url http://$(BIND)/
	$(BIN)/python manage.py runserver $(BIND)

## Run the whole test suite (real PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set).
test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Lint, format check and the import contracts between the rooms (pyproject.toml).
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install-test
	$(BIN)/mypy .

## The production server: production settings come from the environment. granian (WSGI), one
## worker per core (WEB_CONCURRENCY), one blocking thread each: chosen by measurement, see
## docs/benchmarks.md. GRANIAN_* variables tune it further: GRANIAN_LOG_ACCESS_ENABLED=1 turns
## the access log on (GRANIAN_LOG_ACCESS_FMT sets its line format); its lines go through the
## app's logging, which masks credentials (tokens, passwords, invitation and reset keys).
serve: install
	DJANGO_DEBUG=$${DJANGO_DEBUG:-0} $(BIN)/python manage.py collectstatic --noinput -v0
	bind='$(BIND)'; host=$${bind%:*}; host=$${host#[}; host=$${host%]}; \
	DJANGO_DEBUG=$${DJANGO_DEBUG:-0} exec $(BIN)/granian --interface wsgi \
		--host "$$host" --port "$${bind##*:}" \
		--workers $${WEB_CONCURRENCY:-$$(nproc)} --blocking-threads 1 \
		imageaccess.wsgi:application

worker: install
	$(BIN)/celery -A imageaccess worker --loglevel=INFO

beat: install
	$(BIN)/celery -A imageaccess beat --loglevel=INFO

bench: install-test
	$(BIN)/python bench/run.py

## 60 s at 80% of capacity with 1% malformed requests: errors, memory, events.
soak: install-test
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
