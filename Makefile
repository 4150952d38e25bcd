# safeguard: `make demo` shows the guarded upgrade on the example app; `make test` runs
# the suite against real SQLite files and a throwaway PostgreSQL cluster.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The revision the demo seeds at: after `tenants` exists, before the data migrations.
DEMO_SEED_REVISION := 1580131d7fd2

# Two workers: the suite is mostly subprocesses and fsyncs, and the machines have 2 cores.
PYTEST_ARGS ?= -n 2

.PHONY: install demo test test-sqlite lint check lint-revisions docs bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --quiet -e '.[dev]'
	# The example app (core/) is not part of the package: the venv finds it in the
	# repository, for the demo and for the tests' own processes.
	$(BIN)/python -c 'import sys, sysconfig; open(sysconfig.get_paths()["purelib"] + "/safeguard-example-app.pth", "w").write(sys.argv[1] + "\n")' "$(CURDIR)"
	touch $(STAMP)

## demo: a fresh poolula.db with demo rows at an early revision, then the guarded upgrade.
demo: install
	rm -rf poolula.db poolula.db-wal poolula.db-shm poolula.db-journal .safeguard
	DATABASE_URL=sqlite:///./poolula.db $(BIN)/safeguard upgrade $(DEMO_SEED_REVISION) --create
	DATABASE_URL=sqlite:///./poolula.db $(BIN)/python scripts/seed_database.py
	DATABASE_URL=sqlite:///./poolula.db $(BIN)/safeguard upgrade head
	DATABASE_URL=sqlite:///./poolula.db $(BIN)/safeguard snapshot list

## test: the whole suite; PostgreSQL, MariaDB and S3 tests run against servers started for the run.
test: install
	scripts/pgtest.sh run scripts/mysqltest.sh run scripts/s3test.sh run $(BIN)/python -m pytest $(PYTEST_ARGS)

## test-sqlite: the suite without starting PostgreSQL (its tests skip).
test-sqlite: install
	$(BIN)/python -m pytest -m "not postgres and not mysql" $(PYTEST_ARGS)

## lint: the code's own linters, ruff and mypy (configured in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

## check: what CI runs before the tests (.ci/run): lint.
check: lint

## lint-revisions: the product's own linter on the example app's revisions.
lint-revisions: install
	$(BIN)/safeguard lint

## docs: the documentation site in site/ (reference pages written from the code; warnings fail).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: install
	for b in benchmarks/[!_]*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .safeguard poolula.db poolula.db-* .pytest_cache *.egg-info site dist
