# Every target creates the virtualenv it needs, so a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint-code unit clean controlplane

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: the seed's experiment on the embedded sandbox, before and after its fixes
demo: $(STAMP)
	$(BIN)/nonstop demo

## controlplane: build the real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
## and the Argo Rollouts and Argo Workflows controllers from controlplane/'s pinned Go modules into
## ~/.cache/nonstop/ (needs Go ≥ 1.24; cached by pins)
controlplane: $(STAMP)
	$(BIN)/nonstop controlplane build --with argo-rollouts --with argo-workflows

## test: every check CI runs — ruff, mypy (strict), import-linter, then pytest (all tiers but soak)
test: $(STAMP) lint-code
	$(BIN)/pytest -m "not soak"

lint-code: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info
