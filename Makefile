# imageaccess: the two commands a new machine needs are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
BIND ?= 127.0.0.1:8000
PYTEST_ARGS ?=

## Dependencies are locked with hashes (uv pip compile --generate-hashes, for CPython 3.11 on
## Linux x86_64) in three files, installed with `pip install --require-hashes`:
##   requirements/build.txt    pip, setuptools and wheel: the venv's own tools, and what builds
##                             this project (pyproject's [build-system]), which then installs
##                             without build isolation
##   requirements/runtime.txt  pyproject's dependencies (make run / serve / worker, Dockerfile)
##   requirements/test.txt     the same plus the test and bench extras (make test / lint / CI),
##                             every version shared with runtime.txt identical
## The project itself installs on top with --no-deps. `make lock` rewrites the three files
## after a change to pyproject.toml, keeping every other pin; `make lock-upgrade` moves every
## package to its newest release allowed by pyproject.toml.
BUILD_LOCK := requirements/build.txt
RUNTIME_LOCK := requirements/runtime.txt
TEST_LOCK := requirements/test.txt
UV_VERSION := 0.13.9
LOCK_ARGS ?=
UV_COMPILE = $(BIN)/uv pip compile --quiet --no-config --generate-hashes \
	--python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command 'make lock  \# for CPython 3.11 on Linux x86_64' $(LOCK_ARGS)

.PHONY: run test lint typecheck serve bench soak worker beat migrate install install-test \
	lock lock-upgrade clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed-build: $(BUILD_LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(BUILD_LOCK)
	touch $@

$(VENV)/.installed: $(RUNTIME_LOCK) pyproject.toml $(VENV)/.installed-build
	$(BIN)/pip install --quiet --require-hashes -r $(RUNTIME_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-test: $(TEST_LOCK) pyproject.toml $(VENV)/.installed-build
	$(BIN)/pip install --quiet --require-hashes -r $(TEST_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
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

## uv itself is pinned and installed into the venv on demand.
$(VENV)/.uv-$(UV_VERSION): | $(BIN)/python
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	touch $@

lock: $(VENV)/.uv-$(UV_VERSION)
	$(UV_COMPILE) pyproject.toml --extra test --extra bench -o $(TEST_LOCK)
	$(UV_COMPILE) pyproject.toml -c $(TEST_LOCK) -o $(RUNTIME_LOCK)
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], "pip", sep="\n")' \
		| $(UV_COMPILE) - -c $(TEST_LOCK) -o $(BUILD_LOCK)

lock-upgrade:
	$(MAKE) lock LOCK_ARGS=--upgrade

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
