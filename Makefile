# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SAMPLES := src/brushwork/data/samples

.PHONY: setup demo test test-fast lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	mkdir -p out
	$(VENV)/bin/brushwork stylize $(SAMPLES)/canyon.jpg $(SAMPLES)/starry_night.jpg \
		--size 384 --iterations 150 --save-every 50 -o out/demo.png
	@echo "result: $(CURDIR)/out/demo.png"

test: setup
	# The web app's browser test drives Debian's Chromium; installed here when missing and root.
	@[ "$$(id -u)" != 0 ] || command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || true
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks

bench: setup
	$(PY) benchmarks/bench_stylize.py

clean:
	rm -rf $(VENV) out .pytest_cache
