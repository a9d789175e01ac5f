# The two commands: `make demo` and `make test` each set up the virtual environment .venv/ and
# install the project into it first, so `.venv/bin/towns` is the command after either.

PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: demo test unit bench clean

$(INSTALLED): setup.py pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(VENV)/bin/towns demo --fresh

test: $(INSTALLED)
	$(VENV)/bin/python -m pytest -q

unit: $(INSTALLED)
	$(VENV)/bin/python -m pytest -q tests/unit

bench: $(INSTALLED)
	$(VENV)/bin/python bench/ingest_direct.py

clean:
	rm -rf $(VENV) *.egg-info towns.db
