"""Training SIGKILLed at random moments and resumed must end bit-identical to an uninterrupted run.

A child process trains a tiny network (``python kills.py OUT DATA STYLE CONFIG_JSON``, resuming when
OUT holds a checkpoint); the parent kills it with SIGKILL a random time after it reports that the
loop started (so kills land in steps, checkpoint writes, sample grids and plots alike), checks that
every file left in OUT is whole (temporary files aside), resumes it to the end, and compares the
final weights and the loss log with those of an uninterrupted run of the same seed.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

#: Small enough for seconds, long enough (checkpoints every 2 steps, samples and plots every 4) that a
#: random kill can land anywhere, including inside an atomic write.
CONFIG = {"recipe": "johnson", "val_photos": 0,
          "steps": 10, "image_size": 32, "batch_size": 2, "width": 4, "res_blocks": 0,
          "loss_weights": "random", "style_layers": ["relu1_2", "relu2_1"], "checkpoint_every": 2,
          "sample_every": 4, "num_samples": 1, "seed": 3}
LOSS_COLUMNS = ("step", "epoch", "content", "style", "tv", "total", "val_total")


def make_data(root: Path) -> tuple[Path, Path]:
    """Eight small photos (the fewest a run accepts) and a painting, seeded."""
    rng = np.random.default_rng(0)
    data = root / "photos"
    data.mkdir(parents=True, exist_ok=True)
    for i in range(8):
        Image.fromarray((rng.random((40 + i, 48, 3)) * 255).astype(np.uint8)).save(data / f"p{i}.png")
    style = root / "painting.png"
    Image.fromarray((rng.random((40, 40, 3)) * 255).astype(np.uint8)).save(style)
    return data, style


def _child(out: Path, data: Path, style: Path, config: dict) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[1]),
                                                                    os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, __file__, str(out), str(data), str(style), json.dumps(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def train_to_end(out: Path, data: Path, style: Path, config: dict) -> float:
    """Run (or resume) training to the last step; returns the loop's seconds."""
    proc = _child(out, data, style, config)
    stdout, stderr = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"training failed ({proc.returncode}): {stderr[-2000:]}")
    return float(stdout.split("loop_seconds=")[1].split()[0])


def kill_once(out: Path, data: Path, style: Path, config: dict, delay: float) -> bool:
    """Start (or resume) training, SIGKILL it ``delay`` s after its loop began; False if it finished first."""
    proc = _child(out, data, style, config)
    line = proc.stdout.readline()  # "ready": set up, the loop starts now
    if not line.startswith("ready"):
        proc.wait(timeout=60)
        raise AssertionError(f"child did not start: {line} {proc.stderr.read()[-2000:]}")
    time.sleep(delay)
    finished = proc.poll() is not None
    if not finished:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()
    return not finished


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp")]


def broken_files(folder: Path) -> list[str]:
    """Files (temporary ones aside) that are not whole: a checkpoint or model that does not load, a
    CSV that does not parse, a PNG that does not decode."""
    from safetensors import safe_open

    bad = []
    for path in folder.rglob("*"):
        if not path.is_file() or path in temp_files(folder):
            continue
        try:
            if path.suffix == ".safetensors":
                with safe_open(str(path), framework="pt") as f:
                    for key in f.keys():  # noqa: SIM118 - safe_open is not iterable
                        f.get_tensor(key)
            elif path.suffix == ".csv":
                rows = list(csv.DictReader(path.open(newline="")))
                assert all(r["total"] for r in rows)
            elif path.suffix == ".png":
                with Image.open(path) as image:
                    image.load()
        except Exception as exc:  # noqa: BLE001
            bad.append(f"{path.name}: {exc}")
    return bad


def weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def losses(path: Path) -> list[tuple]:
    with path.open(newline="") as f:
        return [tuple(row[c] for c in LOSS_COLUMNS) for row in csv.DictReader(f)]


@dataclass
class KillReport:
    points: int
    killed: int
    identical: int
    broken: list[str]
    leftover_temp: list[str]
    seconds: float


def kill_and_resume(root: Path, points: int, seed: int = 0) -> KillReport:
    """The reference run, then ``points`` runs each killed once at a random moment and resumed."""
    started = time.perf_counter()
    data, style = make_data(root)
    reference = root / "reference"
    loop = train_to_end(reference, data, style, CONFIG)
    ref_weights, ref_losses = weights(reference / "model.safetensors"), losses(reference / "losses.csv")
    rng = random.Random(seed)
    killed = identical = 0
    broken: list[str] = []
    leftover: list[str] = []
    for point in range(points):
        out = root / f"killed_{point}"
        # Kill once or twice at random moments of the loop (the second time inside the resumed run).
        for attempt in range(1 + (point % 2)):
            delay = rng.uniform(0.0, loop * (0.9 if attempt == 0 else 0.5))
            killed += kill_once(out, data, style, CONFIG, delay)
            broken += [f"point {point}: {b}" for b in broken_files(out)] if out.exists() else []
        train_to_end(out, data, style, CONFIG)
        leftover += [f"point {point}: {p.name}" for p in temp_files(out)]
        got = weights(out / "model.safetensors")
        same = got.keys() == ref_weights.keys() and all((got[k] == ref_weights[k]).all() for k in got)
        identical += bool(same and losses(out / "losses.csv") == ref_losses)
    return KillReport(points, killed, identical, broken, leftover, time.perf_counter() - started)


def _main(out: str, data: str, style: str, config_json: str) -> None:
    import torch

    from brushwork.config import TrainConfig
    from brushwork.fast.train import Training

    torch.set_num_threads(1)  # one thread: the same sums in the same order in every process
    config = dict(json.loads(config_json))
    config["style_layers"] = tuple(config["style_layers"])
    # As a user would: --resume once the run has begun (a run killed before its first checkpoint starts
    # again in its folder; see Training).
    resume = Path(out).is_dir() and any(Path(out).iterdir())
    training = Training(style, data, out, TrainConfig(**config), resume=resume)
    print("ready", training.start, flush=True)
    began = time.perf_counter()
    training.fit()
    print(f"loop_seconds={time.perf_counter() - began:.3f}", flush=True)


if __name__ == "__main__":
    _main(*sys.argv[1:5])
