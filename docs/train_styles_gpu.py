"""Train the shipped per-style models on a GPU: many ``brushwork train`` runs side by side.

How the shipped models were made (see docs/fast.md), in two steps:

1. ``python docs/train_styles_gpu.py run --data PHOTOS --styles-dir PAINTINGS --out RUNS --minutes 6``
   fine-tunes Magenta's arbitrary-style network (``--init arbitrary``) for every painting in
   ``STYLES`` and every recipe in ``VARIANTS``, one process each on the same GPU, until the deadline
   (``Training.fit(stop=...)``: a stopped run writes its checkpoint and model file). Then it packs
   every run's final weights (fp16) and losses into ONE file, ``RUNS/bundle.safetensors`` (a few MB),
   which is what comes back from a borrowed GPU machine.
2. ``python docs/train_styles_gpu.py unpack RUNS/bundle.safetensors --out models/`` writes one
   ordinary model file per run (``brushwork apply models/NAME.safetensors ...`` works on each) and its
   losses CSV; the runs are then measured against the peer (benchmarks/bench_fast_quality.py) and
   looked at before one recipe per painting is shipped.

The training itself is brushwork's own (``brushwork.fast.train.Training``); this script only runs
many of them at once and moves their results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

#: Paintings (file stems in the styles folder) -> shipped model names.
STYLES = {
    "van_gogh_starry_night": "starry-night",
    "hokusai_great_wave": "great-wave",
    "kandinsky_composition_viii": "composition-viii",
    "klimt_the_kiss": "the-kiss",
    "van_gogh_cafe_terrace_at_night": "cafe-terrace",
    "renoir_bal_du_moulin_de_la_galette": "moulin-de-la-galette",
    "bruegel_the_harvesters": "the-harvesters",
    "arcimboldo_spring": "spring",
    "hiroshige_horse_mackerel_and_prawn": "mackerel-and-prawn",
    "van_gogh_village_street_auvers": "village-street",
}
#: Shared settings: relative losses on Gatys's layers (the reference metric's layers), the painting at
#: 512 px, 256 px crops; the run length is set by the deadline, not by ``steps``.
RECIPE = dict(init="arbitrary", loss_scaling="relative", content_layer="relu4_2",
              style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), content_weight=1.0,
              image_size=256, style_size=512, batch_size=8, steps=100_000, sample_every=500,
              checkpoint_every=500, num_samples=4)
#: Recipes tried side by side; one per painting is shipped after measuring.
VARIANTS = {
    "a": dict(style_weight=5.0, lr=1e-4),
    "b": dict(style_weight=5.0, lr=3e-4, style_layer_weights=(4.0, 1.0, 1.0, 1.0, 1.0)),
}


def run_one(style: Path, data: Path, out: Path, variant: str, deadline: float, device: str) -> None:
    """One training run in this process, stopped (checkpoint saved) at ``deadline`` (time.time())."""
    from brushwork.config import TrainConfig
    from brushwork.fast.train import Training

    config = TrainConfig(**RECIPE, **VARIANTS[variant], device=device)
    # The public stop hook: the run ends at the deadline as a finished one (checkpoint, logs, model file).
    Training(style, data, out, config).fit(stop=lambda info: time.time() > deadline)


def run(args: argparse.Namespace) -> int:
    from brushwork.networks.weights import default_weights_file

    default_weights_file()  # dequantise the VGG once, before the runs race to do it
    deadline = time.time() + args.minutes * 60
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for stem in args.only or STYLES:
        for variant in args.variants or VARIANTS:
            run_dir = out / f"{STYLES[stem]}_{variant}"
            cmd = [sys.executable, __file__, "one", str(Path(args.styles_dir) / f"{stem}.jpg"), args.data,
                   str(run_dir), variant, str(deadline), args.device]
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            with open(out / f"{STYLES[stem]}_{variant}.log", "w") as log:
                procs.append((run_dir, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)))
    for _, proc in procs:
        proc.wait()
    failed = [str(d) for d, p in procs if p.returncode != 0]
    print(f"{len(procs) - len(failed)} runs finished, {len(failed)} failed: {failed}", flush=True)
    bundle(out, out / "bundle.safetensors")
    return 0 if not failed else 1


def bundle(runs: Path, target: Path) -> None:
    """Every run's final weights (fp16) and losses in one safetensors file."""
    import torch
    from safetensors.torch import load_file, save_file

    from brushwork.networks.model_files import read_metadata

    tensors, meta = {}, {}
    for model in sorted(runs.glob("*/model.safetensors")):
        name = model.parent.name
        tensors.update({f"{name}/{k}": v.half() for k, v in load_file(str(model)).items()})
        info = read_metadata(model)
        losses = model.parent / "losses.csv"
        info["losses_csv"] = losses.read_text() if losses.exists() else ""
        meta[name] = json.dumps(info)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(target), metadata=meta)
    print(f"bundled {len(meta)} runs into {target} ({target.stat().st_size / 1e6:.1f} MB); "
          f"torch {torch.__version__}", flush=True)


def unpack(args: argparse.Namespace) -> int:
    """One fp16 model file and one losses CSV per bundled run."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tensors = load_file(args.bundle)
    with safe_open(args.bundle, framework="pt") as f:
        meta = dict(f.metadata())
    for name, text in meta.items():
        info = json.loads(text)
        (out / f"{name}_losses.csv").write_text(info.pop("losses_csv"))
        info["dtype"] = "float16"
        own = {k.split("/", 1)[1]: v.contiguous() for k, v in tensors.items() if k.startswith(name + "/")}
        save_file(own, str(out / f"{name}.safetensors"), metadata=info)
        print(f"{name}: step {info.get('steps')}")
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "one":
        style, data, out, variant, deadline, device = sys.argv[2:8]
        run_one(Path(style), Path(data), Path(out), variant, float(deadline), device)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--data", required=True)
    r.add_argument("--styles-dir", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--minutes", type=float, default=6.0)
    r.add_argument("--device", default="cuda")
    r.add_argument("--only", nargs="*", help="painting stems (default: all of STYLES)")
    r.add_argument("--variants", nargs="*", help="recipes (default: all of VARIANTS)")
    r.set_defaults(func=run)
    u = sub.add_parser("unpack")
    u.add_argument("bundle")
    u.add_argument("--out", required=True)
    u.set_defaults(func=unpack)
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
