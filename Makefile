# NebulaVoIP — one entry point for the toolchain, the tests and the lab.
#
#   make test    everything CI runs: deps, venv, images, lint, sanity, units, tool tests,
#                integration tests and Molecule scenarios
#   make help    every target
#
# Nothing here edits the machine's /etc: podman is configured through CONTAINERS_CONF,
# test runs keep HOME and ANSIBLE_HOME under .cache/.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath .)
VENV ?= $(ROOT)/.venv
BIN := $(VENV)/bin
PYTHON ?= python3
CACHE := $(ROOT)/.cache
BUILD := $(ROOT)/.build
# the collection as Ansible looks for it: .build/collections/ansible_collections/nebulavoip/cloud -> repo
COLLECTIONS := $(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/nebulavoip/cloud
# ansible-test needs a tree whose path ends in ansible_collections/nebulavoip/cloud
TEST_TREE ?= $(BUILD)/test/ansible_collections/nebulavoip/cloud
# the kamailio scenario runs once on each of these images (tools/images/recipes)
KAMAILIO_IMAGES ?= debian12 debian13
MOLECULE_SCENARIOS ?= smoke kamailio opennebula voip_qos voip_loadtest

export HOME := $(CACHE)/home
export ANSIBLE_HOME := $(CACHE)/ansible
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export CONTAINERS_CONF := $(ROOT)/tools/podman/containers.conf
export ANSIBLE_FORCE_COLOR := false
export PY_COLORS := 0
export PATH := $(BIN):$(PATH)

REQS := requirements/runtime.txt requirements/dev.txt requirements/constraints.txt
VENV_STAMP := $(VENV)/.nebulavoip-$(shell cat $(REQS) 2>/dev/null | sha256sum | cut -c1-12)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z][a-z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

# ---------------------------------------------------------------- toolchain

.PHONY: deps
deps: ## install the Debian packages of bindep.txt that are missing (needs root)
	@missing="$$(for p in $$(awk '/platform:dpkg/ {print $$1}' bindep.txt); do \
	    dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed' || echo "$$p"; done)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or: sudo apt-get install $$missing)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

.PHONY: venv
venv: $(VENV_STAMP) $(COLLECTION_LINK) ## the pinned Python toolchain in .venv

$(VENV_STAMP): $(REQS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements/dev.txt -c requirements/constraints.txt
	@rm -f $(VENV)/.nebulavoip-* && touch $@

$(COLLECTION_LINK):
	@mkdir -p $(dir $@) && ln -sfn ../../../.. $@

.PHONY: images
images: ## build the local container images (cached by recipe hash)
	@tools/images/build

# ---------------------------------------------------------------- checks

.PHONY: lint
lint: venv ## ruff and ansible-lint (production profile)
	ruff check .
	ansible-lint

.PHONY: test-tree
test-tree:
	@mkdir -p $(TEST_TREE)
	@rsync -a --delete --filter=':- .gitignore' --exclude=/.git --exclude=/tests/output ./ $(TEST_TREE)/
	@cd $(TEST_TREE) && { test -d .git || git init -q; }
	@# the OpenNebula reference data beside the tree, where the unit tests look for it (../shared)
	@if [ -d ../shared ]; then ln -sfn "$(abspath ../shared)" $(TEST_TREE)/../shared; fi
	@v="$$($(BIN)/python -c 'import re, ansible_test, pathlib; \
	    p = pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py"; \
	    print(re.search(r"pip=.([0-9.]+).", p.read_text()).group(1))')"; \
	  mkdir -p $(HOME)/.ansible/test/cache; \
	  cp tools/dev/get_pip_standin.py "$(HOME)/.ansible/test/cache/get_pip_$${v//./_}.py"

.PHONY: sanity
sanity: venv test-tree ## ansible-test sanity (no Docker, no ignore files)
	cd $(TEST_TREE) && ansible-test sanity --venv --python 3.11 --color no $(SANITY_ARGS)

.PHONY: units
units: venv test-tree ## ansible-test units
	cd $(TEST_TREE) && ansible-test units --venv --python 3.11 --color no $(UNITS_ARGS)

.PHONY: tools-test
tools-test: venv ## tests of tools/ (the OpenNebula emulator)
	@if [ -d tests/tools ]; then pytest -q tests/tools; else echo "no tool tests"; fi

.PHONY: integration
integration: venv ## module integration targets against the emulator
	@if [ -x tests/integration/run.sh ]; then tests/integration/run.sh; else echo "no integration runner"; fi

.PHONY: molecule
molecule: venv images ## Molecule scenarios ($(MOLECULE_SCENARIOS))
	@for s in $(MOLECULE_SCENARIOS); do \
	  if [ "$$s" = kamailio ]; then \
	    for i in $(KAMAILIO_IMAGES); do echo "== molecule kamailio on $$i"; \
	      KAMAILIO_TEST_IMAGE=localhost/nebulavoip/$$i:latest molecule test -s kamailio; done; \
	  else echo "== molecule $$s"; molecule test -s $$s; fi; \
	done

.PHONY: collection-check
collection-check: venv ## the collection builds and every plugin has its documentation
	ansible-galaxy collection build --force --output-path $(BUILD)/dist >/dev/null
	@ls $(BUILD)/dist/nebulavoip-cloud-*.tar.gz
	@ansible-doc -l nebulavoip.cloud | tee $(BUILD)/plugins.txt
	@ansible-doc -t inventory -l nebulavoip.cloud
	@test "$$(awk '{print $$1}' $(BUILD)/plugins.txt | sort)" = \
	  "$$(ls plugins/modules/*.py | xargs -n1 basename | sed 's/\.py$$//; s/^/nebulavoip.cloud./' | sort)"

.PHONY: test
test: deps venv images lint sanity units collection-check tools-test integration molecule lab-test ## everything CI runs
	@echo "make test: all checks passed"

# ---------------------------------------------------------------- the lab

LAB_INVENTORY ?= inventories/lab
LAB_ARGS ?=

.PHONY: lab
lab: deps venv images ## the whole experiment on this machine: emulated cloud, VMs, Kamailio, calls, QoS, load, report
	python3 tools/lab/lab_emulator.py start
	ansible-playbook -i $(LAB_INVENTORY) playbooks/site.yml $(LAB_ARGS)
	@echo "the lab keeps running (VMs: podman ps --filter label=nebulavoip.one-backend=lab-); remove it with: make lab-down"

.PHONY: experiment
experiment: ## the paper's experiment on the lab (after make lab): 3 VM sizes x 7 distances x voice/video + load
	python3 tools/lab/lab_emulator.py start
	ansible-playbook -i $(LAB_INVENTORY) playbooks/experiment.yml $(LAB_ARGS)

.PHONY: lab-test
lab-test: venv images ## site.yml end to end on a second, temporary lab, asserted from outside
	pytest -v -p no:cacheprovider tests/lab

.PHONY: lab-status
lab-status: ## the lab's emulator and VMs
	-@python3 tools/lab/lab_emulator.py status
	@podman ps -a --filter label=nebulavoip.one-backend=lab- --format '{{.Names}}\t{{.Status}}\t{{.Labels}}' \
	  | sed -E 's/\tmap\[.*one.vm.name:([^ ]+).*/\t\1/'

.PHONY: lab-down
lab-down: ## stop the lab's emulator and remove its VMs (containers), networks and state
	python3 tools/lab/lab_emulator.py down

# ---------------------------------------------------------------- packaging

.PHONY: build
build: venv ## the collection tarball
	ansible-galaxy collection build --force --output-path $(BUILD)

.PHONY: clean
clean: ## remove build trees and test output (keeps the venv and image cache)
	rm -rf $(BUILD) tests/output
