# The two commands: `make demo` and `make test` each set up the virtual environment .venv/ and
# install the project into it first, so `.venv/bin/towns` is the command after either.

PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: demo test unit cluster-test bench clean

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
