# Two entry points (see README): `make quickstart` and `make test`.
# Each sets up .venv on first use, then runs. Python 3.10+ (3.11 recommended).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
# The tests train tiny models on the CPU; GPU users install their own CUDA torch instead.
TORCH  ?= torch==2.13.0

.PHONY: quickstart test setup setup-dev clean

quickstart: $(VENV)/.core
	HF_HUB_OFFLINE=1 $(BIN)/datatools build recipes/quickstart.yaml

test: $(VENV)/.dev
	$(BIN)/python -m pytest -q

setup: $(VENV)/.core
setup-dev: $(VENV)/.dev

$(VENV)/.core: pyproject.toml setup.py $(wildcard datatools/native/*.c)
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

# torch first and pinned: an unpinned install pulls a multi-GB CUDA build.
$(VENV)/.dev: pyproject.toml setup.py $(wildcard datatools/native/*.c)
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev,train,tox,bench,ray]" "$(TORCH)"
	touch $(VENV)/.core $@

clean:
	rm -rf out .pytest_cache
