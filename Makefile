# The README's two commands: `make demo` (main job on the embedded default) and `make test`.
# Each creates .venv if missing, installs torch==2.13.0 first (the CPU wheel), then the package.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test test-fast test-slow install browser

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/mentalglm pipeline configs/pipeline/local.yaml

# Debian's Chromium, its driver and a CJK font, for the analyst-page test (as root, from Debian's packages);
# without them that test is skipped.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list 2>/dev/null | grep -qi wqy; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
	    fonts-wqy-zenhei >/dev/null) || echo "could not install chromium: the analyst-page test will be skipped"; \
	else echo "chromium not installed (needs root + apt-get): the analyst-page test will be skipped"; fi

# Every test: the fault-tolerance ones (stop/resume, a killed worker, an interrupted sweep) and ZeRO-3 included.
test: install browser
	$(PY) -m pytest -q --durations=25

# The quick loop for development: everything but the tests marked slow.
test-fast: install
	$(PY) -m pytest -q -m "not slow"

test-slow: install
	$(PY) -m pytest -q -m slow
