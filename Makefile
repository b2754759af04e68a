# kubeward developer entry points. Every target installs what it needs, idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LAB ?= demo
NODES ?= 3

.PHONY: deps venv demo test test-unit lint bench clean kube-bin kube-hunter

# Debian packages the lab and the tests need on the operator's machine (root only).
HOST_PACKAGES := debootstrap nftables iproute2 openssh-client apt-utils busybox-static util-linux netcat-openbsd \
	nmap chromium curl openssl
deps:
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# The main job on the embedded default: a local Kubernetes lab, validated, preflighted, converged twice
# (the second `up` shows that a converged cluster changes nothing), smoke-tested, listed, audited.
demo: deps venv kube-bin
	$(PY) -m kubeward lab up --name $(LAB) --nodes $(NODES) --control-planes 1 --if-missing --kubernetes
	$(PY) -m kubeward lab status --name $(LAB)
	$(PY) -m kubeward validate -c $$($(PY) -m kubeward lab path --name $(LAB))
	$(PY) -m kubeward preflight -c $$($(PY) -m kubeward lab path --name $(LAB))
	$(PY) -m kubeward up -c $$($(PY) -m kubeward lab path --name $(LAB))
	$(PY) -m kubeward up -c $$($(PY) -m kubeward lab path --name $(LAB))
	$(PY) -m kubeward check -c $$($(PY) -m kubeward lab path --name $(LAB))
	$(PY) -m kubeward kubectl -c $$($(PY) -m kubeward lab path --name $(LAB)) -- get nodes -o wide
	$(PY) -m kubeward audit -c $$($(PY) -m kubeward lab path --name $(LAB)) -o html \
	  --file $$(dirname $$($(PY) -m kubeward lab path --name $(LAB)))/audit.html

# Kubernetes v1.20.2 server binaries built from Debian bookworm's source package, plus the pause
# and busybox images, into /var/cache/kubeward/kubernetes/<version>-<key>/ (root; ~6 min once,
# then a no-op).
kube-bin: venv
	$(PY) -m kubeward artifacts build

test: deps venv kube-bin kube-hunter
	$(PY) -m pytest -q tests

test-unit: venv
	$(PY) -m pytest -q tests/unit

lint: venv
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy

# kubeward against Ansible on fresh labs (root; ~25 min): Ansible goes into its own bench-only
# virtualenv (bench/.venv-ansible), never into $(VENV). BENCH_ARGS e.g. "--sizes 3,10 --reps 1".
bench: deps venv
	@test -x bench/.venv-ansible/bin/ansible-playbook || { $(PYTHON) -m venv bench/.venv-ansible && \
	  bench/.venv-ansible/bin/pip install -q --upgrade pip && \
	  bench/.venv-ansible/bin/pip install -q 'ansible-core>=2.16'; }
	$(PY) -m bench $(BENCH_ARGS)

# kube-hunter 0.6.8 (Aqua's scanner, archived upstream) for the audit's cross-check test, in its own
# test-only virtualenv (tests/.venv-kube-hunter), never in $(VENV) nor in kubeward's dependencies.
KUBE_HUNTER_VENV := tests/.venv-kube-hunter
kube-hunter:
	@test -x $(KUBE_HUNTER_VENV)/bin/kube-hunter || { $(PYTHON) -m venv $(KUBE_HUNTER_VENV) && \
	  $(KUBE_HUNTER_VENV)/bin/pip install -q --upgrade pip && \
	  $(KUBE_HUNTER_VENV)/bin/pip install -q 'kube-hunter==0.6.8'; }

clean:
	rm -rf $(VENV) build src/*.egg-info
