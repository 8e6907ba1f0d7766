# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv first.
# `make demo` installs only what painting needs (torch + brushwork: a 1.7 GB venv); `make test` adds the
# [dev] extra (pytest, Ray, Playwright, fuzzers: 2.6 GB in all). Each has its own stamp, so
# `make test` after `make demo` installs the rest, and `make demo` after `make test` installs nothing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
SAMPLES := src/brushwork/data/samples
# Extra pip arguments for torch, e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
# (PyPI's Linux torch is the CUDA build, several GB).
TORCH_PIP_ARGS ?=

.PHONY: setup setup-dev demo test test-fast lint bench clean

setup: $(STAMP)
setup-dev: $(DEV_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0 $(TORCH_PIP_ARGS)
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(DEV_STAMP)

# --overwrite: out/demo*.png are the demo's own, so a second `make demo` replaces them (without it,
# an existing output is refused).
demo: setup
	$(VENV)/bin/brushwork stylize $(SAMPLES)/canyon.jpg $(SAMPLES)/starry_night.jpg \
		--size 384 --save-every 25 --overwrite -o out/demo.png
	@echo "result: $(CURDIR)/out/demo.png"

test: setup-dev
	# The web app's browser test drives Debian's Chromium: when run as root and no `chromium` is on
	# PATH, this installs Debian's chromium package with apt-get (README, Install).
	@[ "$$(id -u)" != 0 ] || command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || true
	@$(PY) -c "import torch; print('torch', torch.__version__, '- cpu capability:', torch.backends.cpu.get_cpu_capability())"
	$(PY) -m pytest -q

test-fast: setup-dev
	$(PY) -m pytest -q -m "not slow"

lint: setup-dev
	$(VENV)/bin/ruff check src tests benchmarks

bench: setup-dev
	$(PY) benchmarks/bench_stylize.py --sizes 512
	$(PY) benchmarks/bench_stylize.py --time-to-quality --sizes 512

# Malformed files through every CLI entry point (1,000 each), training SIGKILLed at 20 points and
# resumed, the decoder under atheris (`make test` runs a fixed-seed share of the first two):
# figures in benchmarks/results/fuzz.json. `make fuzz` = this and the web API's fuzz.
.PHONY: fuzz fuzz-cli
fuzz-cli: setup-dev
	$(PY) tests/fuzz/run_fuzz.py --cases 1000 --kills 20 \
		--entries stylize_photo stylize_painting apply_file apply_folder train_data
	$(PY) tests/fuzz/atheris_decode.py -atheris_runs=20000

fuzz: fuzz-cli fuzz-web fuzz-faults

# The disk filled at 50 random points of stylize, apply, train and export (a real tmpfs: needs root,
# skipped with the reason otherwise): exit 0 or 5, one line, nothing partial; `make test` runs 2 each.
# Figures in benchmarks/results/fuzz.json, key `faults`.
.PHONY: fuzz-faults
fuzz-faults: setup-dev
	$(PY) tests/fuzz/run_fuzz.py --entries faults --fault-points 50 --kills 0

# The web API fuzzed from its own OpenAPI (schemathesis on a real server, all phases; `make test`
# runs a short version): figures in benchmarks/results/schemathesis.json. Then the web upload as an
# entry point of the file fuzz: 1,000 malformed files POSTed to a real server as photo or painting
# (`make test` runs 36): figures in benchmarks/results/fuzz.json, key `web`.
.PHONY: fuzz-web
fuzz-web: setup-dev
	$(PY) benchmarks/fuzz_web_api.py --examples 200 --max-time 600
	$(PY) tests/fuzz/run_fuzz.py --entries web_upload --cases 1000 --kills 0

clean:
	rm -rf $(VENV) out .pytest_cache
