"""Drive every file-reading entry point with one fuzz case, in-process, and classify what happened.

Entry points: ``stylize`` with the case as the photo and as the painting, ``apply`` on the case as one
file (``-o result.png``) and inside a folder beside a good photo, and ``train`` with the case as its
only training photo. Each run has an existing file at its output path. Outcomes:

* ``ok``: exit 0 and a decodable result;
* ``clean_error``: exit 2 (or 4 for a folder, with the good photo done) and one ``brushwork: error:``
  line naming the file;
* failures: ``traceback`` (an exception escaped ``main``, or exit 1, an internal error: the runs set
  BRUSHWORK_DEBUG=1 so none is hidden), ``hang`` (over the time limit), ``partial_output`` (a
  temporary file left behind, an undecodable result, a good photo of a folder run not written),
  ``changed_existing`` (an existing file changed by a refused run), ``unclear_error`` (a refusal that
  is not one line naming the file, or another exit code), ``folder_stopped`` (one file ended a
  folder run).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fuzz.generators import Case, materialise

ENTRY_POINTS = ("stylize_photo", "stylize_painting", "apply_file", "apply_folder", "train_data")
FAILURES = ("traceback", "hang", "partial_output", "changed_existing", "unclear_error", "folder_stopped")
OUTCOMES = ("ok", "clean_error", *FAILURES)
#: Seconds a case may take before it counts as a hang. Most take well under a second; the slowest
#: legitimate one, a 300-byte GIF whose canvas is 9000x9000 (81 MP, under the pixel limits), needs
#: decoding and converting 81 MP: ~6 s alone, 25-35 s on a 2-core machine loaded 7x over.
TIMEOUT = 60.0


class Hang(BaseException):
    """Raised by the alarm; a BaseException so no ``except Exception`` in the code under test eats it."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def on_alarm(signum, frame):
        raise Hang()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Assets:
    """What every case shares: a good photo and painting, a tiny model, an existing result's bytes."""

    root: Path
    good: Path = field(init=False)
    painting: Path = field(init=False)
    model: Path = field(init=False)
    sentinel: bytes = field(init=False)

    def __post_init__(self) -> None:
        from brushwork.networks.model_files import save_transformer
        from brushwork.networks.transformer import TransformerNet, TransformerSpec

        rng = np.random.default_rng(0)
        self.root.mkdir(parents=True, exist_ok=True)
        self.good = self.root / "good.png"
        Image.fromarray((rng.random((32, 48, 3)) * 255).astype(np.uint8)).save(self.good)
        self.painting = self.root / "painting.png"
        Image.fromarray((rng.random((40, 40, 3)) * 255).astype(np.uint8)).save(self.painting)
        torch.manual_seed(0)
        self.model = self.root / "tiny.safetensors"
        save_transformer(self.model, TransformerNet(TransformerSpec(width=4, res_blocks=0)), {"steps": 0})
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="PNG")
        self.sentinel = buffer.getvalue()


@contextlib.contextmanager
def shared_loss_network() -> Iterator[None]:
    """Build the (random-weight) VGG once instead of once per case; restored afterwards. The inputs'
    checks all run before it is asked for, so this changes the time of a case, not its outcome."""
    from brushwork.fast import train
    from brushwork.gatys import optimize

    real, cache = optimize.load_vgg, {}

    def cached(*args, **kwargs):
        kwargs.pop("progress", None)
        key = (args, tuple(sorted((k, str(v)) for k, v in kwargs.items())))
        if key not in cache:
            cache[key] = real(*args, **kwargs)
        return cache[key]

    saved = optimize.load_vgg, train.load_vgg
    optimize.load_vgg = train.load_vgg = cached
    old_debug = os.environ.get("BRUSHWORK_DEBUG")
    os.environ["BRUSHWORK_DEBUG"] = "1"  # an internal error raises: counted as a traceback, never hidden
    try:
        yield
    finally:
        optimize.load_vgg, train.load_vgg = saved
        if old_debug is None:
            os.environ.pop("BRUSHWORK_DEBUG", None)
        else:
            os.environ["BRUSHWORK_DEBUG"] = old_debug


@dataclass
class Result:
    entry: str
    case: str
    outcome: str
    rc: int | None
    message: str
    seconds: float


def _call(argv: list[str], timeout: float) -> tuple[int | None, str, BaseException | None]:
    from brushwork.cli.main import main

    err, out = io.StringIO(), io.StringIO()
    rc, exc = None, None
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            with time_limit(timeout):
                rc = main(argv)
        except Hang as e:
            exc = e
        except SystemExit as e:  # argparse
            rc = e.code if isinstance(e.code, int) else 2
        except BaseException as e:  # noqa: BLE001 - exactly what we are looking for
            exc = e
            traceback.print_exc(file=err)
    return rc, err.getvalue(), exc


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".brushwork-probe")]


def _decodes(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except Exception:  # noqa: BLE001
        return False


def _names(err: str, case_path: Path) -> bool:
    return case_path.name in err or str(case_path) in err


def _error_lines(err: str) -> list[str]:
    """The lines a user reads as the error (Python warnings a decoder printed are not errors)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return [ln for ln in lines if not ("Warning:" in ln or ln.startswith("  warnings.warn"))]


def _crashed(exc, err: str, out: Path) -> tuple[str, str] | None:
    """The outcomes every entry point shares: no answer, a traceback, temporary files left behind."""
    if isinstance(exc, Hang):
        return "hang", "no answer within the time limit"
    if exc is not None or "Traceback (most recent call last)" in err:
        return "traceback", err.strip().splitlines()[-1] if err.strip() else repr(exc)
    if temp := _temp_files(out):
        return "partial_output", f"temporary files left: {temp}"
    return None


def _single(rc, err, exc, case_path: Path, result: Path, sentinel: bytes, out: Path) -> tuple[str, str]:
    """Outcome of a run with one input and one result file that existed before."""
    lines = _error_lines(err)
    message = lines[-1] if lines else ""
    if (crash := _crashed(exc, err, out)) is not None:
        return crash
    if rc == 0:
        return ("ok", message) if result.is_file() and _decodes(result) else ("partial_output", "no result")
    if not result.is_file() or result.read_bytes() != sentinel:
        return "changed_existing", f"exit {rc} but {result.name} changed"
    if rc == 1:
        return "traceback", f"internal error: {message}"
    if rc == 2 and len(lines) == 1 and lines[0].startswith("brushwork: error:") and _names(err, case_path):
        return "clean_error", message
    return "unclear_error", f"exit {rc}: {' | '.join(lines)[:300]}"


def run_case(entry: str, case: Case, root: Path, assets: Assets, timeout: float = TIMEOUT) -> Result:
    """Materialise ``case`` in a fresh folder under ``root``, run ``entry`` on it, classify, clean up."""
    work = Path(tempfile.mkdtemp(dir=root))
    inputs, out = work / "in", work / "out"
    inputs.mkdir()
    out.mkdir()
    started = time.perf_counter()
    try:
        case_path = materialise(case, inputs, assets.good)
        outcome, message, rc = _run(entry, case_path, inputs, out, assets, timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Result(entry, case.describe(), outcome, rc, message, time.perf_counter() - started)


#: Gatys at its cheapest: the inputs' checks are what is fuzzed, so the loss network stops at relu2_1
#: (its need, 2 px a side, is checked as the 16 px of the default layers would be; tests/fuzz/
#: test_reliability.py checks the default layers' 16 px).
_STYLIZE = ["--size", "32", "--iterations", "1", "--weights", "random", "--no-multiscale", "-q",
            "--content-layers", "relu2_1", "--style-layers", "relu1_1", "relu2_1"]
#: apply at a small --size: a 9000x9000 canvas is decoded and checked in full, then painted small.
_APPLY = ["--size", "64"]
_TRAIN = ["--recipe", "johnson", "--val-photos", "0",
          "--steps", "1", "--image-size", "32", "--batch-size", "1", "--width", "4", "--res-blocks", "0",
          "--loss-weights", "random", "--style-layers", "relu1_2", "relu2_1", "-q"]


def _run(entry: str, case_path: Path, inputs: Path, out: Path, assets: Assets,
         timeout: float) -> tuple[str, str, int | None]:
    result = out / "result.png"
    # --overwrite: the sentinel result may be replaced by a good run, so what is fuzzed is the input's
    # checks (without it the existing file is refused first); a bad input must still leave it as it was.
    if entry in ("stylize_photo", "stylize_painting", "apply_file"):
        result.write_bytes(assets.sentinel)
        if entry == "stylize_photo":
            argv = ["stylize", str(case_path), str(assets.painting), "-o", str(result), "--overwrite",
                    *_STYLIZE]
        elif entry == "stylize_painting":
            argv = ["stylize", str(assets.good), str(case_path), "-o", str(result), "--overwrite",
                    *_STYLIZE]
        else:
            argv = ["apply", str(assets.model), str(case_path), "-o", str(result), "-q", "--overwrite",
                    *_APPLY]
        rc, err, exc = _call(argv, timeout)
        outcome, message = _single(rc, err, exc, case_path, result, assets.sentinel, out)
        return outcome, message, rc
    if entry == "apply_folder":
        return _folder(case_path, inputs, out, assets, timeout)
    if entry == "train_data":
        return _train(case_path, inputs, out, assets, timeout)
    raise ValueError(entry)


def _folder(case_path: Path, inputs: Path, out: Path, assets: Assets, timeout: float):
    """A folder with a good photo and the case; the case's would-be result exists already."""
    from brushwork.media import style_label, target_name

    shutil.copy(assets.good, inputs / "good.png")
    style = style_label(str(assets.model))
    good = out / target_name(Path("good.png"), style)
    target = out / target_name(Path(case_path.name), style)
    existing = target if target != good and len(os.fsencode(target.name)) <= 255 else None
    if existing is not None:
        existing.write_bytes(assets.sentinel)
    keep = out / "keep.txt"
    keep.write_text("keep")
    argv = ["apply", str(assets.model), str(inputs), "-o", str(out), "-q", "--overwrite", *_APPLY]
    rc, err, exc = _call(argv, timeout)
    if (crash := _crashed(exc, err, out)) is not None:
        return (*crash, rc)
    if rc == 1:
        return "traceback", f"internal error: {err.strip()[-300:]}", rc
    if rc not in (0, 4):
        return "folder_stopped", f"exit {rc}: {err.strip()[-300:]}", rc
    if not good.is_file() or not _decodes(good):
        return "partial_output", "the good photo was not written", rc
    if keep.read_text() != "keep":
        return "changed_existing", "keep.txt changed", rc
    if rc == 4:
        if existing is not None and existing.read_bytes() != assets.sentinel:
            return "changed_existing", f"{existing.name} changed though its input was skipped", rc
        if not _names(err, case_path):
            return "unclear_error", f"skipped without naming the file: {err.strip()[-300:]}", rc
        return "clean_error", _error_lines(err)[-1] if _error_lines(err) else "", rc
    if existing is not None and existing.suffix.lower() in (".png", ".jpg", ".bmp", ".tif", ".webp") \
            and not _decodes(existing):
        return "partial_output", f"{existing.name} is not a readable image", rc
    return "ok", "", rc


def _train(case_path: Path, inputs: Path, out: Path, assets: Assets, timeout: float):
    """``train`` with the case beside 7 good photos (a run needs at least 8 readable ones): refused
    photo -> exit 2 naming it, and no model."""
    keep = out / "keep.txt"
    keep.write_text("keep")
    for i in range(7):
        shutil.copy(assets.good, inputs / f"good{i}.png")
    rc, err, exc = _call(["train", str(assets.painting), "--data", str(inputs), "-o", str(out), *_TRAIN],
                         timeout)
    lines = _error_lines(err)
    if (crash := _crashed(exc, err, out)) is not None:
        return (*crash, rc)
    if keep.read_text() != "keep":
        return "changed_existing", "keep.txt changed", rc
    model = out / "model.safetensors"
    if rc == 0:
        return ("ok", "", rc) if model.is_file() else ("partial_output", "exit 0 without a model", rc)
    if model.exists():
        return "partial_output", f"exit {rc} but a model was written", rc
    if rc == 1:
        return "traceback", f"internal error: {' | '.join(lines)[:300]}", rc
    if rc == 2 and len(lines) == 1 and lines[0].startswith("brushwork: error:") and _names(err, case_path):
        return "clean_error", lines[0], rc
    return "unclear_error", f"exit {rc}: {' | '.join(lines)[:300]}", rc


def each_case(count: int, seed: int, visit) -> list[Result]:
    """``visit(case, index)`` for ``count`` cases drawn by hypothesis (fixed ``seed``, no shrinking);
    the results it returns, in order. Every entry point, the web app's too, draws its cases here."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed

    from fuzz.generators import cases

    results: list[Result] = []

    @fixed_seed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(cases)
    def one(case: Case) -> None:
        results.append(visit(case, len(results)))

    one()
    return results


def fuzz_entry(entry: str, count: int, root: Path, assets: Assets, seed: int = 0,
               timeout: float = TIMEOUT) -> list[Result]:
    """``count`` cases drawn by hypothesis (fixed ``seed``, no shrinking) through ``entry``."""
    return each_case(count, seed, lambda case, _: run_case(entry, case, root, assets, timeout))


def tally(results: list[Result]) -> dict[str, int]:
    counts = {name: 0 for name in OUTCOMES}
    for r in results:
        counts[r.outcome] += 1
    return {"tried": len(results), **counts}
