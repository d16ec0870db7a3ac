# Quickstart: `make demo` then `make test` on a fresh machine (Python 3.11).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# the CPU wheel of torch that lies on this kind of machine, when there is one
WHEELS := $(wildcard /opt/wheels)
PIP_FLAGS := $(if $(WHEELS),--find-links $(WHEELS),)

.PHONY: venv demo test test-fast quality bench clean

$(VENV)/.installed: pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip==24.3.1
	$(PIP) install -q $(PIP_FLAGS) -c requirements.lock -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) -m pipelines.demo

test: venv
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

# the quality recipe on a real AANLIB-style folder: pipeline in runs/quality/, then reports/bench/quality.md
quality: venv
	@test -n "$(DATA)" || { echo "usage: make quality DATA=<AANLIB-style folder <TASK>/<MODALITY>/<name>.png>"; exit 2; }
	$(PY) -m pipelines.quality --data "$(DATA)"

clean:
	rm -rf $(VENV) data models mlruns runs ray_results reports/bench/*.json
