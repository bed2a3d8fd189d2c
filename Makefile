# Every target bootstraps what it needs (virtualenv, Docker engine) itself.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.requirements-installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export NO_MKDOCS_2_WARNING := 1
export PGHA_SECRETS_DIR ?= $(CURDIR)/inventory/lab/.secrets

.PHONY: help venv docker lab lab-consul lab-info lab-destroy switchover lint unit docs docs-serve molecule molecule-consul test bench bench-front-door bench-monitoring bench-memory bench-scale bench-keys bench-durability bench-latency drill drills-day2 drill-matrix drill-major-upgrade test-long

help:
	@echo "make lab          build and start the container lab and run site.yml"
	@echo "make test         lint, unit tests and both molecule scenarios (what CI runs)"
	@echo "make lab-consul   the same lab with Patroni on Consul"
	@echo "make lab-destroy  remove the lab containers, network and volumes"
	@echo "make docs         build the documentation site (strict), after its checks; make docs-serve to read it"
	@echo "make switchover   planned switchover through Patroni"
	@echo "make bench        ingest benchmark against its direct-write ceiling"
	@echo "make bench-front-door   throughput through the lab's VIP, two aggregators against one"
	@echo "make bench-monitoring   memory and CPU of the monitoring stack on the lab, against the database tier's"
	@echo "make bench-memory       one aggregator worker's memory under maximum-size bodies, budgets on and off"
	@echo "make bench-scale        50 million events in 60 partitions: reads, ingest and bytes per event at that size"
	@echo "make bench-latency      single-event latency along the HA path, hop by hop, on the lab"
	@echo "make bench-durability   the commit latency of each durability mode on the lab, seconds apart"
	@echo "make bench-keys         the dedup key table's inserts at 10 million keys, digest against text keys"
	@echo "make drill DRILL=crash-primary [RUNS=3] [SYNC_OFF=1] [PRESET=fast]   failover drill (DRILL=all for every one)"
	@echo "make drill-matrix [MATRIX_RUNS=3]   the failover drills under each failover preset, one table (long)"
	@echo "make test-long    on a running lab: the infra tests too long for CI (secret output, disk-full and PITR drills)"
	@echo "make drills-day2 [RUNS=3]   grow, shrink, replace, upgrade, rotate under load (the lab's spare node pg4)"
	@echo "make drill-major-upgrade [RUNS=3]   PostgreSQL 15 to 17 and back under load (inventory/lab-next, long)"

venv: $(STAMP)

$(STAMP): requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

docker:
	scripts/ensure-docker.sh

lab: venv docker
	ansible-playbook site.yml
	$(MAKE) --no-print-directory lab-info

# The same lab with Patroni on Consul (inventory/lab-consul).
lab-consul: venv docker
	PGHA_SECRETS_DIR=$(CURDIR)/inventory/lab-consul/.secrets ansible-playbook -i inventory/lab-consul site.yml
	PGHA_SECRETS_DIR=$(CURDIR)/inventory/lab-consul/.secrets ansible-playbook -i inventory/lab-consul playbooks/info.yml

lab-info: venv
	ansible-playbook playbooks/info.yml

lab-destroy: venv docker
	ansible-playbook playbooks/destroy.yml

switchover: venv
	ansible-playbook playbooks/switchover.yml

lint: venv
	yamllint --strict .
	ansible-lint --profile production
	ruff check .
	ruff format --check .
	ansible-playbook --syntax-check site.yml
	ansible-playbook -i inventory/production.example --syntax-check site.yml
	ansible-inventory -i inventory/production.example --graph >/dev/null

# Two workers, each with its own PostgreSQL on a free port; worksteal evens out the slow tests.
unit: venv
	scripts/ensure-promtool.sh $(VENV)/bin
	pytest -q -rs -n 2 --dist worksteal --durations=15 tests/unit tests/app tests/drills

# The documentation: the variables page matches the roles, every command it shows
# exists, and MkDocs builds it with --strict (a broken link or an unlisted page fails).
docs: venv
	python scripts/variables_reference.py --check
	python scripts/check_docs_commands.py
	mkdocs build --strict --quiet

docs-serve: venv
	mkdocs serve --dev-addr 127.0.0.1:8000

# The status page test drives Debian's Chromium (headless) through Playwright.
molecule: venv docker
	command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }
	molecule test -s default

molecule-consul: venv docker
	molecule test -s consul

# Each stage in turn, with its time (CI prints them).
test:
	@for stage in lint unit docs molecule molecule-consul; do \
	  started=$$(date +%s); \
	  $(MAKE) --no-print-directory $$stage || exit 1; \
	  echo "=== stage $$stage took $$(( $$(date +%s) - started )) s"; \
	done

bench: venv
	command -v wrk >/dev/null || apt-get install -y -q wrk
	python bench/ingest.py

# Through the VIP of a running `make lab`: every aggregator against one, same run.
bench-front-door: venv
	command -v wrk >/dev/null || apt-get install -y -q wrk
	python bench/front_door.py

# 50 million events over 60 daily partitions: /events and /stats latency, ingest at that
# size against the empty table, bytes per event (about 20 GB of disk, 30 minutes).
bench-scale: venv
	python bench/scale.py

# The dedup key table alone: new-key inserts empty and at 10 million keys, the app's
# digest key against (topic, event_id) as text (about 5 minutes).
bench-keys: venv
	python bench/keys.py

# On a running `make lab`: single-event latency through the VIP, direct to one
# aggregator and without the synchronous standby's wait, at 500, 1,000 and 2,000 events/s.
bench-latency: venv
	command -v py-spy >/dev/null || .venv/bin/pip install -q py-spy
	python bench/latency.py --flame docs/images/flame

# On a running `make lab`: the commit latency of each durability mode, seconds apart.
bench-durability: venv
	python bench/durability.py

# One worker's memory under concurrent maximum-size bodies, with its byte budgets and without.
bench-memory: venv
	python bench/memory.py

# On a running `make lab`: what Prometheus, Alertmanager and the exporters cost.
bench-monitoring: venv
	python bench/monitoring_footprint.py

DRILL ?= all
RUNS ?= 1
INVENTORY ?= inventory/lab
drill: venv
	python -m drills $(DRILL) --runs $(RUNS) --inventory $(INVENTORY) $(if $(SYNC_OFF),--sync-off,) $(if $(PRESET),--preset $(PRESET),) $(if $(DURABILITY),--durability $(DURABILITY),)

# On a running `make lab`: switchover, kill-postgres, crash-primary and isolate-primary
# under each failover preset (fast, balanced, safe), standby-loss under each durability
# mode, then the inventory's own settings again.
MATRIX_RUNS ?= 3
drill-matrix: venv
	python -m drills matrix --runs $(MATRIX_RUNS) --inventory $(INVENTORY)

# On a running `make lab`: the infra tests too long for CI's hour (a --diff converge
# that must print no secret, the disk-full drill, the point-in-time restore drill).
test-long: venv
	cd tests/infra && PGHA_LONG_TESTS=1 pytest -q -p no:cacheprovider -m long .

# On a running `make lab`: the major upgrade to inventory/lab-next's PostgreSQL 17 nodes
# under load, then its rollback (which retires those nodes again), RUNS times.
drill-major-upgrade: venv
	for run in $$(seq $(RUNS)); do python -m drills major-upgrade --inventory $(INVENTORY) && python -m drills major-upgrade-rollback --inventory $(INVENTORY) || exit 1; done

# Day-2 operations under load on a running `make lab`: pg4 joins, then leaves.
drills-day2: venv
	for run in $$(seq $(RUNS)); do python -m drills day2 --inventory $(INVENTORY) || exit 1; done
