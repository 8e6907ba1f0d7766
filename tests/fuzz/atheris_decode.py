"""atheris (coverage-guided, libFuzzer) over brushwork's decode path: ``images.decode_image``, which
every command and the web app's uploads go through. Any exception but ``ImageError`` is a crash
(atheris prints it and exits non-zero); ``-timeout`` catches hangs. Seeded with one small picture per
writable Pillow format; the counts go to benchmarks/results/fuzz.json (``atheris`` key) as it runs.

    .venv/bin/python tests/fuzz/atheris_decode.py -atheris_runs=20000 [-timeout=10]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["brushwork", "PIL"]):
    from PIL import Image

    from brushwork.errors import ImageError
    from brushwork.images import decode_image

    Image.init()  # the format plugins load lazily: import them here, instrumented

from fuzz.generators import FORMATS, encode  # noqa: E402

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "fuzz.json"
#: A small pixel limit: the decoder's checks are fuzzed, not the machine's memory.
MAX_PIXELS = 4_000_000
COUNTS = {"runs": 0, "decoded": 0, "refused": 0}
STARTED = time.perf_counter()


def test_one_input(data: bytes) -> None:
    COUNTS["runs"] += 1
    try:
        decode_image(data, name="fuzz", max_pixels=MAX_PIXELS)
        COUNTS["decoded"] += 1
    except ImageError:
        COUNTS["refused"] += 1
    if COUNTS["runs"] % 500 == 0:
        _write()


def _write() -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    data["atheris"] = {**COUNTS, "crashes": 0, "seconds": round(time.perf_counter() - STARTED),
                       "date": time.strftime("%Y-%m-%d %H:%M"),
                       "note": "decode_image under atheris; a crash would end the run non-zero"}
    tmp = RESULTS.with_name(".fuzz.json.atheris.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(RESULTS)


def main() -> None:
    corpus = Path(tempfile.mkdtemp(prefix="brushwork-atheris-"))
    for i, fmt in enumerate(sorted(FORMATS)):
        (corpus / f"seed{i}{FORMATS[fmt]}").write_bytes(encode(12, 9, "RGB", fmt, i))
    argv = [sys.argv[0], *sys.argv[1:], "-rss_limit_mb=4096", str(corpus)]
    if not any(a.startswith("-timeout") for a in argv):
        argv.insert(1, "-timeout=10")
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
