# The entry point: `make run` for the demo, `make test` for the suite, `make bench` for numbers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# Where links point: bound to every interface (HOST=0.0.0.0), this machine's loopback.
SITE_HOST := $(if $(filter 0.0.0.0 ::,$(HOST)),127.0.0.1,$(HOST))
# The suite runs on PostgreSQL; pytest-django creates and drops its own test_ database.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/governance
TEST_REDIS_URL ?= redis://127.0.0.1:6379

.PHONY: venv run demo test test-next lint bench clean messages

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The demo: SQLite and a file-based broker, so it needs no server at all.
demo: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py compile_translations -v 0
	$(BIN)/python manage.py seed_demo --cases 200 --if-empty

run: demo
	@echo
	@echo "  Grid governance is starting at http://$(SITE_HOST):$(PORT)/  (admin: http://$(SITE_HOST):$(PORT)/admin/)"
	@echo "  Demo logins are printed above by seed_demo. Stop with Ctrl-C."
	@echo
	PATH="$(abspath $(BIN)):$$PATH" PORT=$(PORT) HOST=$(HOST) SITE_URL="$${SITE_URL:-http://$(SITE_HOST):$(PORT)}" $(BIN)/python -m governance.demo_runner start -f Procfile

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The .mo is not in git: tests that read Chinese need it compiled from the .po first.
test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py compile_translations -v 0
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest -n 2 --dist loadgroup

# The suite on the next Django (6.0, which needs Python 3.12 or newer), for which the code is
# kept clean: not part of `make test`. Its own venv; the project pins 5.2 LTS, so Django 6.0
# goes in over it (pip warns of the conflict). Deprecation warnings fail the run.
NEXT_PYTHON ?= python3.12
NEXT_VENV ?= .venv-next
test-next:
	test -x $(NEXT_VENV)/bin/python || $(NEXT_PYTHON) -m venv $(NEXT_VENV)
	$(NEXT_VENV)/bin/python -m pip install --quiet -e '.[test]'
	$(NEXT_VENV)/bin/python -m pip install --quiet 'Django>=6.0,<6.1'
	$(NEXT_VENV)/bin/python manage.py compile_translations -v 0
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(NEXT_VENV)/bin/pytest -n 2 --dist loadgroup -W error::DeprecationWarning -W error::PendingDeprecationWarning

# Needs PostgreSQL; N = 100,000 and 1,000,000 by default, `BENCH_SIZES=10000` for a quick look (bench/README.md).
bench: venv
	$(BIN)/python bench/run.py

# Extract every user-facing string (not the tests' or benchmarks'), then compile. Every
# msgid needs a msgstr: tests/cases/test_i18n.py fails on an untranslated or fuzzy one.
messages: venv
	$(BIN)/python manage.py makemessages -l zh_Hans --no-obsolete --ignore '.venv/*' --ignore '.venv-next/*' --ignore 'var/*' --ignore 'tests/*' --ignore 'bench/*' --ignore 'test-artifacts/*'
	$(BIN)/python manage.py compile_translations

clean:
	rm -rf var $(VENV) $(NEXT_VENV)
