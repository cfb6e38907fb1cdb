# studentops: the two quick-start commands are `make demo` and `make test`.
# Everything installs into .venv from the lock file; only Python 3.11+ and make are needed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
# Tests start many Python processes (CLI, workers, servers); let them cache bytecode.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup demo test test-unit test-integration lint format lock bench bench-quality \
        bench-serve bench-stream bench-events bench-generate bench-drift bench-flows \
        bench-early-warning bench-risk-ranking clean \
        lint-deploy dashboards

setup: $(STAMP)

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv==0.13.9"
	$(BIN)/uv pip sync -q --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q src
	@rm -f $(VENV)/.installed-* && touch $@

demo: setup
	$(BIN)/studentops demo

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: setup
	$(BIN)/pytest tests/unit tests/model $(PYTEST_ARGS)

test-integration: setup
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

lint: setup lint-deploy
	$(BIN)/ruff check src tests benchmarks deploy
	$(BIN)/ruff format --check src tests benchmarks deploy
	$(BIN)/mypy

# deploy/ and .github/ (docs/deploy.md): hadolint, promtool (Debian's prometheus), actionlint,
# the generated Grafana dashboards, and checkov in its own venv (it pins an older boto3 than
# the project's lock).
CHECKOV := .venv-checkov/bin/checkov
$(CHECKOV):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install -q --disable-pip-version-check "checkov==3.3.30"

lint-deploy: setup $(CHECKOV)
	$(BIN)/hadolint deploy/Dockerfile
	promtool check config deploy/prometheus/prometheus.yml
	promtool test rules deploy/prometheus/alerts_test.yml
	$(BIN)/actionlint
	$(BIN)/python deploy/grafana/build_dashboards.py --check
	$(CHECKOV) -d deploy/terraform --framework terraform --quiet --compact --skip-download
	$(CHECKOV) -f deploy/Dockerfile --framework dockerfile --quiet --compact --skip-download
	$(CHECKOV) -d .github/workflows --framework github_actions --quiet --compact --skip-download

dashboards: setup
	$(BIN)/python deploy/grafana/build_dashboards.py

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# Re-resolve the lock file after changing dependencies in pyproject.toml.
lock:
	$(BIN)/uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

bench: bench-generate bench-quality bench-events bench-serve bench-stream bench-drift bench-flows \
       bench-early-warning

bench-generate: setup
	$(BIN)/python benchmarks/bench_generate.py

bench-quality: setup
	$(BIN)/python benchmarks/bench_quality.py

bench-events: setup
	$(BIN)/python benchmarks/bench_events.py

bench-serve: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_serve.py

bench-stream: setup
	$(BIN)/python benchmarks/bench_stream.py

# Issue 18 item 5: time-forward on OULAD, weeks 5-20, studentops vs plain LightGBM (docs/events.md).
bench-early-warning: setup
	$(BIN)/python benchmarks/bench_early_warning.py $(BENCH_EARLY_ARGS)

# Evidently 0.7.23 (the comparison) needs pandas 3.0.x and plotly < 6: its own venv.
.venv-evidently/.installed:
	$(BIN)/uv venv -q --python $(BIN)/python .venv-evidently
	$(BIN)/uv pip install -q --python .venv-evidently/bin/python "evidently==0.7.23" "pandas>=3.0,<3.1" "plotly<6" pyarrow
	@touch $@

bench-drift: setup .venv-evidently/.installed
	$(BIN)/python benchmarks/bench_drift.py $(BENCH_ARGS)

bench-flows: setup
	$(BIN)/python benchmarks/bench_flows.py $(BENCH_FLOWS_ARGS)

bench-risk-ranking: setup
	$(BIN)/python benchmarks/bench_risk_ranking.py

clean:
	rm -rf .studentops .pytest_cache .mypy_cache .ruff_cache .venv-checkov
