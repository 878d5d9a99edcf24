# The project's interface for users and CI.  Every target works on a fresh
# machine by itself: it creates the virtualenv it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LOCALKUBE := $(PY) -m localkube
# Targets that need a cluster use KUBECONFIG, or the local cluster without it.
LOCAL_KUBECONFIG := /var/lib/mysql-operator-localkube/kubeconfig
WITH_KUBE := KUBECONFIG=$${KUBECONFIG:-$(LOCAL_KUBECONFIG)}
# kubectl: the one built with the local cluster when there is one, else PATH.
KUBECTL := $(shell ls /var/lib/mysql-operator-localkube/bin/kubectl 2>/dev/null || echo kubectl)

.PHONY: venv cluster cluster-down cluster-status install uninstall run demo bench deploy undeploy unit test lint crd

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

cluster: venv  ## bring the local cluster up (or reuse it); prints the exports to use it
	$(LOCALKUBE) up

cluster-down: venv  ## stop the local cluster and remove everything it created
	$(LOCALKUBE) down

cluster-status: venv  ## say what of the local cluster runs
	$(LOCALKUBE) status

unit: venv  ## fast tests, no cluster
	$(PY) -m pytest -m 'not cluster'

test: venv  ## every test: unit and cluster (the local cluster unless KUBECONFIG names one)
	@# Bring the local cluster up outside pytest, so a cold build shows its progress.
	@if [ -z "$$KUBECONFIG" ]; then $(LOCALKUBE) up; fi
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check mysql_operator localkube tests benchmarks demo
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --explicit-package-bases benchmarks demo

install: venv  ## the CRD into the cluster in KUBECONFIG (the local one without it)
	$(WITH_KUBE) $(KUBECTL) apply -f crds/

uninstall: venv  ## remove the CRD (and with it every MySQL object: their finalizers run first)
	$(WITH_KUBE) $(KUBECTL) delete -f crds/ --ignore-not-found

run: venv  ## the operator in the foreground against KUBECONFIG, every namespace
	$(WITH_KUBE) $(PY) -m mysql_operator run --standalone --all-namespaces

demo: venv  ## the seed's story end to end (the local cluster unless KUBECONFIG names one)
	$(PY) demo/seed.py

BENCH_ARGS ?=
bench: venv  ## time create, backup, restore and rotation on the cluster; prints figures (BENCH_ARGS="--rounds 5 --rows 200000")
	$(PY) benchmarks/lifecycle.py $(BENCH_ARGS)

# The operator in the cluster, from the Helm chart (localkube/chart.py).
# On the local cluster `deploy` builds the operator's image and imports it first.
DEPLOY_RELEASE ?= mysql-operator
DEPLOY_NAMESPACE ?= mysql-operator
DEPLOY_ARGS ?=
.PHONY: manifests

deploy: venv  ## helm upgrade --install the operator (namespace $(DEPLOY_NAMESPACE)); DEPLOY_ARGS go to helm
	$(WITH_KUBE) $(PY) -m localkube.chart deploy --release=$(DEPLOY_RELEASE) \
		--namespace=$(DEPLOY_NAMESPACE) -- $(DEPLOY_ARGS)

undeploy: venv  ## helm uninstall the operator; the CRD, MySQL objects and their volumes stay
	$(WITH_KUBE) $(PY) -m localkube.chart undeploy --release=$(DEPLOY_RELEASE) \
		--namespace=$(DEPLOY_NAMESPACE)

manifests: venv  ## regenerate deploy/*.yml and the chart's CRD copy from the chart and crds/
	$(PY) -m localkube.chart manifests
