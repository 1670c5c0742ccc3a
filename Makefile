# Kaimen: `make demo` serves the sandbox bank; `make test` runs the test suite.
# Both create .venv in the repo root from the pinned lock files on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DATA_DIR ?= .kaimen-data
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test lint typecheck check bench bench-gateway bench-token bench-accounts bench-payments lock clean

$(BIN)/.runtime-installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(BIN)/.dev-installed: $(BIN)/.runtime-installed requirements-dev.lock
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

demo: $(BIN)/.runtime-installed
	$(BIN)/kaimen demo --port $(PORT) --data-dir $(DATA_DIR) --credentials-out $(DATA_DIR)/credentials.json

test: $(BIN)/.dev-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(BIN)/.dev-installed
	$(BIN)/mypy

check: lint typecheck test

# Every benchmark and one table of ratios and latencies, then 1 vs 2 workers on PostgreSQL + Redis
# (issue 6). wrk from Debian, as below. BENCH_ARGS="--quick" for CI, "--only gateway,token" for
# a subset; see `$(BIN)/python bench/all.py --help`.
bench: $(BIN)/.runtime-installed
	@command -v wrk >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	$(BIN)/python bench/all.py $(BENCH_ARGS)

# Gateway benchmark (issue 2): wrk comes from Debian's packages, installed when missing.
# BENCH_ARGS="--quick" for CI; see `$(BIN)/python bench/gateway.py --help`.
bench-gateway: $(BIN)/.runtime-installed
	@command -v wrk >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	$(BIN)/python bench/gateway.py $(BENCH_ARGS)

# Token endpoint benchmark (issue 3): client_credentials against the floor of its signature work,
# authorization_code redemptions, userinfo against a bare endpoint. wrk from Debian, as above.
# BENCH_ARGS="--quick" for CI; see `$(BIN)/python bench/token_bench.py --help`.
bench-token: $(BIN)/.runtime-installed
	@command -v wrk >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	$(BIN)/python bench/token_bench.py $(BENCH_ARGS)

# Account API benchmark (issue 4): transactions through the gateway against the ES256 proof floor, on
# SQLite and on PostgreSQL (a scratch database on BENCH_POSTGRES_URL, default
# postgresql://postgres@127.0.0.1:5432/; skipped, saying so, when that server does not answer).
# BENCH_ARGS="--quick" for CI, "--databases sqlite" for one; see `$(BIN)/python bench/accounts_bench.py --help`.
bench-accounts: $(BIN)/.runtime-installed
	@command -v wrk >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	$(BIN)/python bench/accounts_bench.py $(BENCH_ARGS)

# Payment API benchmark (issue 5): POST /domestic-payments per second on PostgreSQL (a scratch database on
# BENCH_POSTGRES_URL, skipped when it does not answer), 16 connections, risk engine on, Redis on
# BENCH_REDIS_URL (default redis://127.0.0.1:6379/15 when it answers; "none" for none); then the risk
# engine's decisions per second alone. BENCH_ARGS="--quick" for CI; see `$(BIN)/python bench/payments_bench.py --help`.
bench-payments: $(BIN)/.runtime-installed
	@command -v wrk >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	$(BIN)/python bench/payments_bench.py $(BENCH_ARGS)

lock: $(BIN)/.runtime-installed
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url -o requirements.lock requirements.in
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url -o requirements-dev.lock requirements-dev.in

clean:
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache .mypy_cache .ruff_cache

# Hostile-input fuzzing (issue 6 item 4): the hypothesis properties of tests/test_fuzz_*.py with a large
# budget (`make test` runs the same properties with 60 cases each). FUZZ_EXAMPLES=N per property;
# FUZZ_RANDOM=1 for fresh random cases instead of the reproducible (derandomized) ones;
# PYTEST_ARGS=-v adds how often each property met each status and error code.
FUZZ_EXAMPLES ?= 2000
.PHONY: fuzz
fuzz: $(BIN)/.dev-installed
	KAIMEN_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) KAIMEN_FUZZ_RANDOM=$(FUZZ_RANDOM) \
		$(BIN)/python -m pytest tests/test_fuzz_*.py $(PYTEST_ARGS)
