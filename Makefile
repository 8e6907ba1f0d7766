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
		--size 384 --save-every 25 -o out/demo.png
	@echo "result: $(CURDIR)/out/demo.png"

test: setup
	# The web app's browser test drives Debian's Chromium; installed here when missing and root.
	@[ "$$(id -u)" != 0 ] || command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || true
	@$(PY) -c "import torch; print('torch', torch.__version__, '- cpu capability:', torch.backends.cpu.get_cpu_capability())"
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks

bench: setup
	$(PY) benchmarks/bench_stylize.py --sizes 512
	$(PY) benchmarks/bench_stylize.py --time-to-quality --sizes 512

# Malformed files through every CLI entry point (1,000 each), training SIGKILLed at 20 points and
# resumed, the decoder under atheris (`make test` runs a fixed-seed share of the first two):
# figures in benchmarks/results/fuzz.json. `make fuzz` = this and the web API's fuzz.
.PHONY: fuzz fuzz-cli
fuzz-cli: setup
	$(PY) tests/fuzz/run_fuzz.py --cases 1000 --kills 20 \
		--entries stylize_photo stylize_painting apply_file apply_folder train_data
	$(PY) tests/fuzz/atheris_decode.py -atheris_runs=20000

fuzz: fuzz-cli fuzz-web

# The web API fuzzed from its own OpenAPI (schemathesis on a real server, all phases; `make test`
# runs a short version): figures in benchmarks/results/schemathesis.json. Then the web upload as an
# entry point of the file fuzz: 1,000 malformed files POSTed to a real server as photo or painting
# (`make test` runs 36): figures in benchmarks/results/fuzz.json, key `web`.
.PHONY: fuzz-web
fuzz-web: setup
	$(PY) benchmarks/fuzz_web_api.py --examples 200 --max-time 600
	$(PY) tests/fuzz/run_fuzz.py --entries web_upload --cases 1000 --kills 0

clean:
	rm -rf $(VENV) out .pytest_cache
