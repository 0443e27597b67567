# ingestd: `make serve` and `make test` set everything up on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: serve test lint generate assets bench clean chromium

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# `npm install`, not `npm ci`: the lock omits other platforms' optional buf binaries, which `ci` refuses.
$(NODE_STAMP): package.json package-lock.json
	npm install --no-audit --no-fund --no-save --loglevel=error
	touch $@

## Serve on SQLite (./ingestd.db) unless INGESTD_DATABASE_URL says otherwise; the environment passes through.
serve: $(PY_STAMP)
	$(BIN)/ingestd serve

## Run the tests: SQLite always, PostgreSQL on 127.0.0.1:5432 when reachable (required under CI=true).
test: $(PY_STAMP) $(NODE_STAMP) chromium
	$(BIN)/pytest

# Debian's chromium for the real-browser tests, installed once where apt-get can run (as root);
# elsewhere those tests skip, except under CI=true, where they fail.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && { apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 \
	  && apt-get install -y -q chromium >/dev/null 2>&1; }; }; } \
	  || echo "make: chromium is not installed; the browser tests will not run"

## buf lint (STANDARD + COMMENTS), ruff, and mypy --strict on the application code.
lint: $(PY_STAMP) $(NODE_STAMP)
	node_modules/.bin/buf lint
	$(BIN)/ruff check .
	$(BIN)/mypy server storage gateway tools

## Regenerate the committed Python code from proto/ after editing a .proto file.
generate: $(PY_STAMP)
	$(BIN)/python -m tools.protogen

## Re-copy the API docs' Swagger UI and Scalar files from node_modules into gateway/static.
assets: $(PY_STAMP) $(NODE_STAMP)
	$(BIN)/python -m tools.assets

## Throughput against bare aiohttp/grpc.aio handlers; see bench/README.md.
bench: $(PY_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules
