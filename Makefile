# Two commands set everything up on a fresh machine with only python3:
#   make demo   create .venv, install the pinned dependencies, run the main job on synthetic data
#   make test   create .venv if needed, install, run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install system demo test lock clean benchmarks

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# A CJK font (Chinese in plots and reports) and Debian's chromium (the browser test); as root it
# installs them with apt-get, otherwise it prints the command. Skips what is present.
system:
	sh scripts/setup_system.sh

demo: install system
	$(BIN)/riskmodel demo

test: install system
	$(BIN)/python -m pytest -n 2 -q

benchmarks: install
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

lock:
	$(PYTHON) -m pip install --quiet uv && $(PYTHON) scripts/lock.py

clean:
	rm -rf $(VENV) .pytest_cache
