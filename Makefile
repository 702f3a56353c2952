# Every target sets itself up: a fresh clone needs nothing but python3 (>= 3.11).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.eqvl-installed
TORCH   = torch==2.14.1 torchvision==0.29.1

.PHONY: venv test demo demo-quick bench clean chromium

# Browser tests need Debian's headless Chromium; installed here when missing (root, or passwordless sudo).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else sudo -n apt-get update -q && sudo -n apt-get install -y -q chromium; fi; } || echo "warning: chromium not installed; browser tests will be skipped" >&2

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev,hf,faiss,augment,serve,build,diffusers]'
	touch $(STAMP)

venv: $(STAMP)

# the type check first ([tool.mypy] in pyproject.toml: src/eqvl), so a type error fails `make test` and .ci/run
test: $(STAMP) chromium
	$(PY) -m mypy
	$(PY) -m pytest

# The demo's report is rebuilt from its step cache, so re-running `make demo` reproduces the same
# numbers; the target therefore replaces its own demo_out/ report (eqvl demo alone refuses to).
demo: $(STAMP)
	$(VENV)/bin/eqvl demo --output demo_out --overwrite

demo-quick: $(STAMP)
	$(VENV)/bin/eqvl demo --quick --output demo_out_quick --overwrite

bench: $(STAMP)
	for f in bench/bench_*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache
