# airflow-provider-amt: the two commands a fresh clone needs are `make demo` and `make test`.
# Both create .venv from uv.lock first (uv is installed with pip when it is missing).

PYTHON ?= python3
VENV   := .venv
VENV_DISTRIBUTED := .venv-distributed
UV     := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: dist help env env-distributed test test-cluster test-matrix test-distributed test-fast lint format demo bench bench-live bench-checkpoint bench-outage bench-triggerer bench-worker-free faults clean ui-check

help:
	@echo "make demo   start the AMT emulator, run the example DAG in real Airflow, show the task log"
	@echo "make test   create the environment and run the whole test suite"
	@echo "make test-cluster  the real scheduler + triggerer + api-server tests (~4 min; CI runs them)"
	@echo "make test-matrix  every declared Airflow minor on its Python (CELLS=\"3.0 3.3\" for some)"
	@echo "make test-distributed  CeleryExecutor + PostgreSQL + Redis + two triggerers (installs the Debian packages)"
	@echo "make lint   ruff (lint and format) and mypy"
	@echo "make bench  benchmarks (figures, not pass/fail; ~5 min)"
	@echo "make bench-live  how soon AMT messages are in the UI log, on a real Airflow (~75 s)"
	@echo "make bench-checkpoint  the message checkpoint's cost on a real triggerer (PostgreSQL; ~5 min)"
	@echo "make bench-outage  a 90 s Batch Server outage under 2,000 deferred jobs in a real triggerer, before/after (~20 min)"
	@echo "make bench-triggerer  a ladder of deferred AMT jobs (messages live and at read, quiet), the peer design and Airflow's floor in one real triggerer"
	@echo "make bench-worker-free  Airflow CPU per AMT job: start_from_trigger against the classic deferrable path"
	@echo "make faults the bad-input catalogue and the fault suite, written into docs/reliability.md"
	@echo "make dist  build the three distributions, twine check them, install the wheels without the repo and run an example DAG"
	@echo "make ui-check  headless Chromium reads a task log in the Airflow UI (installs chromium; opt-in)"

$(VENV)/.synced: pyproject.toml uv.lock libs/amt-client/pyproject.toml libs/amt-emulator/pyproject.toml
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

env: $(VENV)/.synced

# The suite runs in two processes, a test file each at a time (its module fixtures run once): most of
# its time is spent waiting for real Airflow runs and emulator jobs, not on the CPU (10 minutes in one
# process, 6 in two on a 2-core machine). scripts/matrix.py runs each cell's suite the same way.
IN_TWO_PROCESSES := -n 2 --dist loadfile

test: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	AMT_UV="$(UV)" $(VENV)/bin/pytest -p no:cacheprovider $(IN_TWO_PROCESSES) --durations=15

# A real scheduler, triggerer and api-server per test: restarts, crashes, kills, live logs, the log
# handler in the api-server (about 4 minutes; CI runs it after make test).
test-cluster: env
	AMT_UV="$(UV)" $(VENV)/bin/pytest -p no:cacheprovider --durations=5 -m cluster tests/test_airflow_cluster.py

# The production topology from packages: PostgreSQL and Redis from Debian (installed when missing),
# the Celery and Postgres providers in their own venv, every service on a free loopback port.
env-distributed: env
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server)
	UV_PROJECT_ENVIRONMENT=$(VENV_DISTRIBUTED) $(UV) sync --frozen --python $(PYTHON) --group distributed

test-distributed: env-distributed
	$(VENV_DISTRIBUTED)/bin/pytest -p no:cacheprovider -m distributed tests/distributed

# Airflow 3.0 / 3.1 / 3.2 / 3.3 on Python 3.10 / 3.12 / 3.11 / 3.13 (pyenv), each from matrix/*.txt;
# rewrites the results table in docs/compatibility.md.
CELLS ?=
MATRIX_WRITE ?= --write
test-matrix: env
	AMT_UV="$(UV)" $(VENV)/bin/python scripts/matrix.py run $(CELLS) $(MATRIX_WRITE)

test-fast: env
	AMT_UV="$(UV)" $(VENV)/bin/pytest -p no:cacheprovider $(IN_TWO_PROCESSES) -m "not airflow_e2e"

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: env
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: env
	$(VENV)/bin/python scripts/demo.py

# The sdists and wheels a site installs: built into dist/, checked (twine, contents), installed into a
# fresh venv outside the repository, which then runs an example DAG against the installed emulator.
dist: env
	AMT_UV="$(UV)" $(VENV)/bin/python scripts/dist.py

bench: env
	$(VENV)/bin/python bench/run.py

# A real Airflow (scheduler, triggerer, API server): how soon a job's messages are in the UI log (~75 s).
bench-live: env
	$(VENV)/bin/python bench/live_latency.py $(ARGS)

# A real triggerer with 500 deferred AMT watches, the previous provider against this checkout.
bench-checkpoint: env-distributed
	$(VENV_DISTRIBUTED)/bin/python bench/checkpoint_cost.py $(ARGS)

# A real triggerer with 2,000 deferred AMT watches through a 90 s outage, before issue 22 and this checkout.
bench-outage: env-distributed
	$(VENV_DISTRIBUTED)/bin/python bench/outage_cost.py $(ARGS)

# One real triggerer, a ladder of deferred AMT jobs (with messages, quiet) against the peer design.
bench-triggerer: env-distributed
	$(VENV_DISTRIBUTED)/bin/python bench/triggerer_ladder.py $(ARGS)

bench-worker-free: env-distributed
	$(VENV_DISTRIBUTED)/bin/python bench/worker_free.py $(ARGS)

# The bad-input catalogue and the fault suite (real triggers, emulator faults); rewrites their tables.
faults: env
	$(VENV)/bin/python scripts/reliability.py all --write

clean:
	rm -rf $(VENV) $(VENV_DISTRIBUTED) .demo .pytest_cache .ruff_cache

# Opt-in: headless Chromium (Debian's package) opens the Airflow UI log page; saves docs/img/task-log.png.
ui-check: env
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(UV) sync --frozen --python $(PYTHON) --group browser
	$(VENV)/bin/pytest -p no:cacheprovider -m browser tests/test_ui_browser.py tests/test_ui_connection_form.py
