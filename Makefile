# Two entry points for a fresh machine with Python 3.11 and make (see README):
#   make demo   set up .venv, train Tic-Tac-Toe to provably optimal play, evaluate it, write a PDF report
#   make test   set up .venv with the test extra, lint with ruff, run the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(shell date +%Y%m%d-%H%M%S)
DEMO_OUT ?= runs/demo-$(STAMP)

.PHONY: demo test venv venv-test lint c-reference clean clean-cache test-bounds

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test

demo: venv
	$(BIN)/numbaplay train tictactoe --until-optimal --out $(DEMO_OUT)
	$(BIN)/numbaplay eval $(DEMO_OUT)/checkpoints/final.npz
	@echo "report: $(DEMO_OUT)/report.pdf"

lint: venv-test
	$(BIN)/ruff check numbaplay tests benchmarks scripts

test: venv-test lint
	$(BIN)/python -m pytest -q

# The suite with every Numba kernel's array indexing checked (NUMBA_BOUNDSCHECK=1: an out-of-range index
# raises IndexError instead of reading or writing past the array), compiled into a cache of its own so
# that the checked kernels never mix with the fast ones (2 min 48 s on 2 cores, compile included).
test-bounds: venv-test
	NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR=$(abspath build/numba-boundscheck) $(BIN)/python -m pytest -q

c-reference: venv
	$(MAKE) -C c_reference PYTHON=$(abspath $(BIN)/python)

clean:
	rm -rf $(VENV) c_reference/build c_reference/build-sanitize build/numba-boundscheck

clean-cache:
	find numbaplay -name '*.nbi' -delete -o -name '*.nbc' -delete
