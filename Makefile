# Two commands do everything on a fresh machine with Python 3.11:
#   make report   set up .venv, run every notebook on SynthAV (papermill), write reports/<run>/
#   make test     set up .venv and run the whole test suite (browser test included)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup report report-full figures notebooks test test-fast browser-deps clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

setup: $(STAMP)

report: $(STAMP)
	$(BIN)/tacfn-lite report --quick

report-full: $(STAMP)
	$(BIN)/tacfn-lite report

# The README's figures/ change only on purpose: a quick report that copies its figures there.
figures: $(STAMP)
	$(BIN)/tacfn-lite report --quick --update-figures

# Copy notebooks/parameters.py into every notebook, rewrite each .ipynb from its paired .py.
notebooks: $(STAMP)
	$(BIN)/python notebooks/sync.py

# Chromium for the browser test comes from Debian (never `playwright install`). Without root or
# apt-get, the browser tests skip (they fail under CI=true); TACFN_CHROMIUM names another browser.
browser-deps:
	@command -v chromium >/dev/null || [ -x "$${TACFN_CHROMIUM:-/usr/bin/chromium}" ] || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	    apt-get install -y -qq chromium >/dev/null; } || \
	  echo "browser-deps: no Chromium and no root apt-get; the browser tests will skip" \
	    "(install Chromium, or set TACFN_CHROMIUM=/path/to/chrome)"

test: $(STAMP) browser-deps
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not browser"

clean:
	rm -rf $(VENV) reports .cache .pytest_cache
