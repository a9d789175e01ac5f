# The two commands: `make demo` and `make test` each set up the virtual environment .venv/ and
# install the project into it first, so `.venv/bin/towns` is the command after either.

PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: demo test unit cluster-test bench clean soak

$(INSTALLED): setup.py pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(VENV)/bin/towns demo --fresh

test: $(INSTALLED)
	$(VENV)/bin/python -m pytest -q

# Engines of its own, broken on purpose: a three-node RabbitMQ cluster, a PostgreSQL primary and
# standby (tests/cluster; minutes, not in `make test`).
cluster-test: $(INSTALLED)
	TOWNS_CLUSTER_TESTS=1 $(VENV)/bin/python -m pytest -q -s tests/cluster

unit: $(INSTALLED)
	$(VENV)/bin/python -m pytest -q tests/unit

bench: $(INSTALLED)
	$(VENV)/bin/python bench/ingest_direct.py

clean:
	rm -rf $(VENV) *.egg-info towns.db

# A long steady stream through consume, worker and serve as deployed (bench/soak.py; not part
# of `make test`): SOAK_COUNT messages at SOAK_RATE per second, memory, latency and counts checked.
SOAK_COUNT ?= 1000000
SOAK_RATE ?= 1000
soak: $(INSTALLED)
	SOAK_COUNT=$(SOAK_COUNT) SOAK_RATE=$(SOAK_RATE) $(VENV)/bin/python bench/soak.py
