# berth: the two commands a newcomer needs are `make demo` and `make test`.
# Everything they need is installed here on a fresh Debian 12 machine (root).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(subst $(BIN):,,$(PATH))
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0

SANDBOX := inventories/sandbox
# The sandbox vault password is a documented dummy (README): never do this for a real environment.
SANDBOX_VAULT := --vault-password-file $(SANDBOX)/vault-password.txt
# Scenarios run by `make molecule`; default: every scenario under molecule/.
SCENARIOS ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))

# `make test` makes the images and the browser once, then starts its jobs with BERTH_READY=1: a
# job does not make them again. (With them as its prerequisites, a scenario waits on them while
# make gives its slot to the next ready job: lint and unit tests started before four-apps.)
READY := $(if $(BERTH_READY),,image browser)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.stamp: requirements.txt requirements-dev.txt constraints.txt requirements.yml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip -c constraints.txt
	@# No byte-compiling by pip: it would compile the ~90 collections of the `ansible` package,
	@# two thirds of the install's time. Everything else, and the collections berth uses
	@# (requirements.yml), is compiled here, on both cores.
	$(BIN)/pip install -q --no-compile -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -c 'import compileall, glob, re, yaml; \
	  site = glob.glob("$(VENV)/lib/python3*/site-packages")[0]; \
	  compileall.compile_dir(site, quiet=2, workers=0, rx=re.compile("/ansible_collections/")); \
	  [compileall.compile_dir(site + "/ansible_collections/" + c["name"].replace(".", "/"), quiet=2, workers=0) \
	   for c in yaml.safe_load(open("requirements.yml"))["collections"]]'
	$(BIN)/ansible-galaxy collection install -r requirements.yml >/dev/null
	@touch $@

.PHONY: venv
venv: $(VENV)/.stamp ## Install the pinned toolchain into .venv

.PHONY: constraints
constraints: venv ## Re-pin constraints.txt from .venv (after changing requirements*.txt)
	@{ echo "# Every Python package of the tested toolchain, exact versions (make constraints)."; \
	   $(BIN)/pip freeze --all --exclude-editable | grep -v '^setuptools=='; } > constraints.txt

.PHONY: docker
docker: ## Start (installing if needed) the local Docker engine
	@tools/docker-up.sh

.PHONY: image
image: docker ## Build the systemd test-host images, Debian 12 and 13 (cached by recipe)
	@# The two suites build side by side: each build is mostly one core of debootstrap and dpkg
	@# (71 s each, one after the other, on a machine without them). debootstrap is installed
	@# first when it is missing, as tools/build-image.sh would, so that two builds never run apt
	@# at once.
	@command -v debootstrap >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
	@tools/build-image.sh trixie & trixie=$$!; tools/build-image.sh bookworm; rc=$$?; wait $$trixie || rc=1; exit $$rc

# Headless Chromium for tools/browser_check.py (a real-browser check of a deployed page).
.PHONY: browser
browser: ## Install headless Chromium (Debian's chromium) for tools/browser_check.py
	@tools/install-browser.sh

.PHONY: lint
lint: venv ## yamllint (strict) and ansible-lint (profile production)
	yamllint --strict .
	ansible-lint

.PHONY: unit
unit: venv ## pytest unit tests (no hosts needed), on every core
	pytest -q -n auto tests

.PHONY: molecule
molecule: venv image browser ## Every Molecule scenario (SCENARIOS="a b" for some)
	@# The design's own command: `molecule <cmd>` with no -s finds the main scenario (default).
	@out=$$(molecule syntax 2>&1) || { echo "$$out"; exit 1; }; \
	  if echo "$$out" | grep -q CRITICAL; then echo "$$out"; echo "molecule without -s printed CRITICAL"; exit 1; fi
	@n=0; for s in $(SCENARIOS); do \
	  echo "=== molecule test -s $$s"; start=$$(date +%s); \
	  molecule test -s $$s || { echo "=== scenario $$s FAILED"; echo "molecule: $$n passed, 1 failed"; exit 1; }; \
	  n=$$((n + 1)); echo "=== scenario $$s passed in $$(( $$(date +%s) - start )) s"; \
	done; echo "molecule: $$n passed, 0 failed"

.PHONY: consumer
consumer: venv $(filter image,$(READY)) ## The built collection from a playbook outside this repository (no berth ansible.cfg)
	tests/consumer/run.sh

# Scenarios that hold under a second job: `make test` runs them two at a time beside the other
# checks, the longest first; any other scenario runs alone afterwards. The rollouts under load
# (default, four-apps-one-host) hold zero failed requests beside a second job: the host being
# changed is drained, so no request waits on it; four-apps' database bounds (connect + read
# timeout + 1.5 s) are seconds wide; release-switch-and-rollback's SIGKILL recovery (<= 5 s:
# RestartSec 1 s and a gunicorn boot) and the drain's in-flight requests (Nginx waits 30 s for
# them) hold too. agent-watches-every-port judges "within one interval" on the agent's own clock
# (the start of the first check run after the change), not on how soon its polling sees it.
PARALLEL_SCENARIOS ?= four-apps-one-host default bad-input-refused-and-hardening https-from-a-real-acme-server release-switch-and-rollback agent-watches-every-port drain-with-requests-in-flight nginx-tested-before-live foreign-listener-refused
SERIAL_SCENARIOS := $(filter-out $(PARALLEL_SCENARIOS),$(SCENARIOS))

.PHONY: scenario-%
scenario-%: venv $(READY)
	@start=$$(date +%s); molecule test -s $* || { echo "=== scenario $* FAILED"; exit 1; }; \
	  echo "=== scenario $* passed in $$(( $$(date +%s) - start )) s"

TEST_CACHE := $(CURDIR)/.cache/test-cache

.PHONY: test
test: venv image browser ## Lint, unit tests, the consumer and EE tests, every Molecule scenario
	@# Phase 1, two jobs at a time, the longest first (as measured with the images cached: scenarios
	@# 700-30 s, unit tests 60-75 s on both cores, the EE test 40 s, lint 40 s, the consumer 14 s),
	@# so that the two lanes end close together. The EE image is built first (seconds when cached):
	@# built as the EE test's prerequisite in the middle of the list, make started the test itself
	@# only after every other job, alone at the end. The unit tests (CPU only) come third: they run
	@# while four-apps-one-host waits on its database outages and reboot, where both cores sat 30 %
	@# idle.
	@# Phase 2: the other scenarios, one at a time.
	@# Every job's Ansible runs share the module payloads they pack and the templates they compile
	@# (tools/testsite/sitecustomize.py; a cache this run starts empty).
	@rm -rf $(TEST_CACHE)
	@start=$$(date +%s); \
	  PYTHONPATH=$(CURDIR)/tools/testsite BERTH_TEST_CACHE=$(TEST_CACHE) \
	  $(MAKE) --no-print-directory -j2 --output-sync=target BERTH_READY=1 ee-image \
	    $(addprefix scenario-,$(wordlist 1,3,$(PARALLEL_SCENARIOS))) unit $(addprefix scenario-,$(wordlist 4,7,$(PARALLEL_SCENARIOS))) \
	    ee-test $(addprefix scenario-,$(wordlist 8,99,$(PARALLEL_SCENARIOS))) lint consumer; \
	  echo "=== phase 1 (lint, unit, consumer, EE, $(PARALLEL_SCENARIOS)) passed in $$(( $$(date +%s) - start )) s"
	@PYTHONPATH=$(CURDIR)/tools/testsite BERTH_TEST_CACHE=$(TEST_CACHE) \
	  $(MAKE) --no-print-directory molecule SCENARIOS="$(SERIAL_SCENARIOS)"
	@echo "test: $(words lint unit consumer ee-test $(SCENARIOS)) passed, 0 failed"

# Execution environment (execution-environment.yml, docs/awx.md); tools/ee-run.sh runs navigator.
EE_IMAGE ?= berth-ee:latest
export BERTH_EE_IMAGE := $(EE_IMAGE)
# Inside the EE the sandbox hosts are reached through the docker socket (no docker CLI there).
EE_SANDBOX := -i $(SANDBOX) -i ee/sandbox-connection.yml $(SANDBOX_VAULT)

.PHONY: ee-image
ee-image: venv $(filter image,$(READY)) ## Build the execution environment image (cached; EE_IMAGE=berth-ee:latest)
	python3 tools/ee_context.py
	ansible-builder build -f execution-environment.yml -c .cache/ee/context -t $(EE_IMAGE) --container-runtime docker -v 1

.PHONY: ee
ee: ee-image ## make demo with ansible-navigator in the EE: sandbox up, validate, site.yml, port map
	ansible-playbook -i $(SANDBOX) $(SANDBOX_VAULT) playbooks/sandbox.yml
	tools/ee-run.sh playbooks/validate.yml $(EE_SANDBOX)
	tools/ee-run.sh site.yml $(EE_SANDBOX)
	tools/ee-run.sh playbooks/ports.yml $(EE_SANDBOX)

.PHONY: ee-test
ee-test: ee-image ## site.yml from inside the EE on a Debian 12 and a Debian 13 host, verified, port map in set_stats
	tools/ee-test.sh

.PHONY: demo
demo: venv image browser ## Bring up the sandbox, deploy site.yml, print ports and routes, screenshot the front end
	ansible-playbook -i $(SANDBOX) $(SANDBOX_VAULT) playbooks/sandbox.yml
	ansible-playbook -i $(SANDBOX) $(SANDBOX_VAULT) site.yml
	ansible-playbook -i $(SANDBOX) $(SANDBOX_VAULT) playbooks/ports.yml
	ansible-playbook -i $(SANDBOX) $(SANDBOX_VAULT) playbooks/routes.yml
	@# The front end through the load balancer in headless Chromium, over HTTPS by the www site's own
	@# name (its certificate from the sandbox's ACME test server, whose root the browser trusts): its
	@# JavaScript must reach the API.
	@mkdir -p .cache; docker exec berth-sandbox-lb cat /usr/local/share/berth-test/pebble-root.pem > .cache/sandbox-acme-root.pem
	name=$$(ansible-inventory -i $(SANDBOX) $(SANDBOX_VAULT) --host berth-sandbox-lb \
	  | python3 -c 'import json, sys; print(json.load(sys.stdin)["nginx_sites"][0]["server_names"][0])'); \
	tools/browser_check.py "https://$$name/" --ca-cert .cache/sandbox-acme-root.pem \
	  --resolve "$$name=$$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' berth-sandbox-lb)" \
	  --expect-class api_status:available --expect-attr api_status:data-status=OK \
	  --screenshot reports/hbnb-front.png --timeout 60

.PHONY: validate
validate: venv ## Offline registry validation of INVENTORY (default: every inventory; VAULT="--vault-password-file F")
	@for inv in $(or $(INVENTORY),$(wildcard inventories/*)); do \
	  echo "=== $$inv"; vault=; [ -f $$inv/vault-password.txt ] && vault="--vault-password-file $$inv/vault-password.txt"; \
	  [ -z "$$vault" ] && [ -f $$inv/group_vars/all/vault.yml ] && vault="$(or $(VAULT),--ask-vault-pass)"; \
	  ansible-playbook -i $$inv $$vault playbooks/validate.yml; done

.PHONY: diff-envs
diff-envs: venv ## Where environments differ (ENVS="staging production")
	@python3 tools/diff_envs.py $(or $(ENVS),staging production) || [ $$? -eq 1 ]

.PHONY: bench
bench: venv image ## Benchmarks (prints numbers, writes bench/RESULTS.md)
	bench/run.sh

.PHONY: clean
clean: ## Remove the sandbox and Molecule containers this project started
	-@[ -x $(BIN)/ansible-playbook ] && docker info >/dev/null 2>&1 && \
	  ansible-playbook -i $(SANDBOX) $(SANDBOX_VAULT) playbooks/sandbox.yml -e sandbox_state=absent || true
	-@docker info >/dev/null 2>&1 && docker ps -aq --filter label=berth.owner | xargs -r docker rm -f >/dev/null || true
	-@[ -x $(BIN)/molecule ] && docker info >/dev/null 2>&1 && molecule destroy --all >/dev/null 2>&1 || true
	rm -rf .cache reports

.PHONY: distclean
distclean: clean ## Also remove .venv, the test-host images and the EE image
	-@docker info >/dev/null 2>&1 && docker rmi -f berth-debian12-systemd:latest berth-debian13-systemd:latest $(EE_IMAGE) >/dev/null 2>&1 || true
	rm -rf $(VENV)
