# Voltrace: every target works on a fresh machine with Python 3.11+ and make (no Docker needed).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
CELERY := $(BIN)/celery -A config
# The embedded platform: SQLite under var/, a filesystem broker, development keys (DEBUG only).
RUN_ENV := DEBUG=$${DEBUG:-true}
PYTEST_ARGS ?=

.PHONY: help install run web worker beat migrate seed test e2e lint format check bench shell messages clean

help:
	@echo "make run    - install, migrate, seed demo data and serve web + worker + beat on http://127.0.0.1:8000"
	@echo "make test   - install and run the whole test suite"
	@echo "make check  - lint + import contracts + migrations check + tests"
	@echo "make bench  - run the benchmarks under bench/"

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate requirements/base.txt requirements/dev.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(RUN_ENV) $(MANAGE) migrate --noinput

seed: migrate
	$(RUN_ENV) $(MANAGE) seed_demo

run: seed
	@echo "Starting Voltrace on http://127.0.0.1:8000 (web, Celery worker and beat). Ctrl-C stops all three."
	@trap 'kill 0' INT TERM EXIT; \
	$(RUN_ENV) $(CELERY) worker --loglevel=INFO --concurrency=2 --without-gossip --without-mingle & \
	$(RUN_ENV) $(CELERY) beat --loglevel=INFO & \
	$(RUN_ENV) $(MANAGE) runserver 127.0.0.1:8000

web: install
	$(RUN_ENV) $(MANAGE) runserver 127.0.0.1:8000

worker: install
	$(RUN_ENV) $(CELERY) worker --loglevel=INFO

beat: install
	$(RUN_ENV) $(CELERY) beat --loglevel=INFO

test: install
	$(BIN)/pytest -n auto --dist loadfile $(PYTEST_ARGS)

e2e: install
	$(BIN)/pytest -m browser $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

messages: install
	$(RUN_ENV) $(MANAGE) makemessages --locale zh_Hans --ignore ".venv/*" --ignore "var/*" --ignore "tests/*" --ignore "bench/*" --no-obsolete
	$(RUN_ENV) $(MANAGE) makemessages --domain djangojs --locale zh_Hans --ignore ".venv/*" --ignore "var/*" --ignore "static/vendor/*" --no-obsolete
	$(RUN_ENV) $(MANAGE) compilemessages --ignore ".venv/*"

check: lint
	$(RUN_ENV) $(MANAGE) makemigrations --check --dry-run
	$(MAKE) test

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

shell: install
	$(RUN_ENV) $(MANAGE) shell

clean:
	rm -rf $(VENV) var staticfiles
