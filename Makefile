# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# The demo: fake department systems on 127.0.0.1:9101 (stopped with the server) and connectors.demo.json.
DEMO_CONNECTORS ?= connectors.demo.json

run: $(STAMP)
	$(PY) -m tests.fake_department --port 9101 & trap 'kill $$! 2>/dev/null' EXIT INT TERM; \
	LIANBAN_CONNECTORS="$${LIANBAN_CONNECTORS:-$(DEMO_CONNECTORS)}" $(PY) -m orchestrator serve

# Third-party Camunda clients that the tests run unchanged (pinned in tests/clients/package-lock.json).
CLIENTS_STAMP := tests/clients/node_modules/.installed

$(CLIENTS_STAMP): tests/clients/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make test: npm 未安装 / npm is missing: the JS external-task client test needs Node.js and npm (apt-get install -y nodejs npm)" >&2; exit 1; }
	npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error
	touch $(CLIENTS_STAMP)

# The browser tests need Debian's chromium (Playwright drives it; its own browser download fails here).
test: $(STAMP) $(CLIENTS_STAMP)
	@command -v chromium >/dev/null 2>&1 || { echo "make test: chromium 未安装 / chromium is missing: the browser tests (tests/browser) need it. Install it with: apt-get update -qq && apt-get install -y -qq chromium (.ci/run does this)" >&2; exit 1; }
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m benchmarks.parallel_cases
	$(PY) -m benchmarks.jobs

lint: $(STAMP)
	$(VENV)/bin/ruff check orchestrator workers tests benchmarks
	$(VENV)/bin/mypy --strict orchestrator workers

clean:
	rm -rf $(VENV) var
