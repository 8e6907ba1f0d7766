"""Live's networks: a shipped model (or the arbitrary network) copied into the faster Live shape.

Live paints the camera in the browser with onnxruntime-web's WebAssembly, 2.3x slower than native. The
Live shape (``networks.arbitrary.LIVE_SHAPE``) is about 1.4x faster there: 5x5 convolutions at full size
instead of 9x9, the convolutions' own zero padding instead of a mirror Pad before each, and 4 residual
blocks instead of 5. A copy in that shape is taught to paint what the full network paints:

* the student starts as the teacher (its first 4 residual blocks and the norms after them, each 5x5
  kernel the centre of the 9x9 one);
* the loss is the teacher's picture: L1 on the pixels plus relative feature errors on VGG19's
  relu1_1..relu4_1 (the perceptual objective's content term with the teacher's picture as the content),
  so strokes are copied as well as colours;
* ``--temporal-weight W`` adds the stability term of ``brushwork train --temporal-weight``
  (``brushwork.fast.motion``): each crop also moved by a small random shift, rotation and zoom, and
  the copy's picture of the moved crop held to its picture of the crop, moved. A copy whose strokes
  move with the camera boils less, and Live's stabiliser then blends strokes that agree instead of
  averaging two different sets into a blur;
* training photos of ``heldout.json`` only (256 px crops); the held-out photos measure the copy: mean
  difference to the teacher in 1/255, grey SSIM to the teacher, at 384 px, and ``moved``, the
  stability term on the same fixed moves of those photos (lower = steadier), in ``eval.csv``.

    python benchmarks/distil_live.py --model starry-night --out runs/live/starry_night --steps 300
    python benchmarks/distil_live.py --model starry-night --out runs/live/starry_night --export \\
        src/brushwork/models/live/starry_night.safetensors
    python benchmarks/distil_live.py --network brushwork --out runs/live/arbitrary --steps 600
    python benchmarks/distil_live.py --network brushwork --out runs/live/arbitrary --export \\
        src/brushwork/models/live/arbitrary.safetensors

The arbitrary network is taught over the style vectors of crops of every training painting (plus
``--extra-styles``), a few per step. Checkpoints every 5 minutes and on SIGTERM; ``--resume`` goes on.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import signal
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from heldout import HELDOUT_PHOTOS, files  # noqa: E402
from train_arbitrary import (  # noqa: E402
    CHECKPOINT,
    append_csv,
    load,
    painting_crop,
    resume_run,
    save,
    training_paintings,
)

from brushwork.fast.data import PhotoSource, random_crop, seeded_generator  # noqa: E402
from brushwork.fast.inference import resolve_model  # noqa: E402
from brushwork.fast.motion import draw_motion, moved_photos, temporal_loss  # noqa: E402
from brushwork.fast.validation import grey_ssim  # noqa: E402
from brushwork.images import image_to_tensor, open_image, resize_longest, tensor_to_image  # noqa: E402
from brushwork.losses import PerceptualObjective  # noqa: E402
from brushwork.models import ARBITRARY_NETWORK_FORMAT  # noqa: E402
from brushwork.networks.arbitrary import LIVE_SHAPE, ArbitraryTransfer, FoldedSpec, FoldedTransfer  # noqa: E402
from brushwork.networks.arbitrary_weights import load_transfer_weights, predict_style  # noqa: E402
from brushwork.networks.model_files import load_transformer, save_transformer  # noqa: E402
from brushwork.networks.weights import load_vgg  # noqa: E402
from brushwork.precision import arithmetic  # noqa: E402

FEATURE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
FIXED = ("model", "network", "seed", "batch", "image_size", "lr", "pixel_weight", "bf16", "extra_styles",
         "vectors_per_step", "temporal_weight")
#: The seeded stream of the synthetic moves (apart from the crops' and the vectors').
MOTION_STREAM = 9
EVAL_PHOTOS = 6


def _teacher_key(key: str, teacher_blocks: int, student_blocks: int) -> str:
    """The teacher's name of a student weight: the first ``student_blocks`` residual blocks are the
    teacher's first; a norm (``norms.i`` / ``styles.i``) after them is the teacher's matching one."""
    parts = key.split(".")
    if parts[0] in ("norms", "styles") and int(parts[1]) >= 2 * student_blocks:
        parts[1] = str(int(parts[1]) + 2 * (teacher_blocks - student_blocks))
    return ".".join(parts)


def start_from_teacher(teacher: torch.nn.Module, student: torch.nn.Module) -> None:
    """Copy ``teacher``'s weights into the smaller ``student``: its first residual blocks and every
    norm that follows them, a smaller kernel the centre of the larger one."""
    blocks = (teacher.trunk.shape.residual_blocks, student.trunk.shape.residual_blocks)
    source = teacher.state_dict()
    state = {}
    for name, target in student.state_dict().items():
        value = source[_teacher_key(name, *blocks)]
        if value.shape != target.shape:
            start = (value.shape[-1] - target.shape[-1]) // 2
            value = value[..., start:start + target.shape[-1], start:start + target.shape[-1]]
        state[name] = value.clone()
    student.load_state_dict(state)


def networks(args: argparse.Namespace) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(teacher, student): frozen teacher in eval mode, student trainable."""
    if args.model:
        teacher, _ = load_transformer(resolve_model(args.model))
        student: torch.nn.Module = FoldedTransfer(FoldedSpec(shape=LIVE_SHAPE))
    else:
        teacher = copy.deepcopy(load_transfer_weights(args.network)).eval()
        student = ArbitraryTransfer(LIVE_SHAPE)
    teacher.requires_grad_(False)
    start_from_teacher(teacher, student)
    return teacher, student.train().requires_grad_(True)


class Vectors:
    """Style vectors of ``crops`` crops of every training painting (the arbitrary network's styles)."""

    def __init__(self, extra: str | None, crops: int, seed: int):
        self.vectors = []
        for i, path in enumerate(training_paintings(extra)):
            image = open_image(path)
            for j in range(crops):
                crop = painting_crop(image, (352, 512), 0.6, seeded_generator(seed, 20_000 + i, j))
                self.vectors.append(predict_style(crop))

    def draw(self, gen: torch.Generator, n: int) -> torch.Tensor:
        picks = torch.randint(0, len(self.vectors), (n,), generator=gen)
        return torch.cat([self.vectors[int(i)] for i in picks])


def paint(net: torch.nn.Module, x: torch.Tensor, vectors: torch.Tensor | None) -> torch.Tensor:
    return net(x) if vectors is None else net(x, vectors)


class Evaluator:
    """The held-out photos at 384 px: the student's picture against the teacher's."""

    def __init__(self, teacher: torch.nn.Module, vectors: Vectors | None):
        by_stem = {p.stem: p for p in files("photos", held_out=True)}
        photos = [image_to_tensor(resize_longest(open_image(by_stem[s]), 384)) for s in HELDOUT_PHOTOS]
        self.photos = photos[:EVAL_PHOTOS]
        self.vectors = None if vectors is None else vectors.vectors[::max(1, len(vectors.vectors) // 6)][:6]
        self.targets = [self._paint(teacher, i) for i in range(len(self.photos))]
        self.motions = [draw_motion(1, tuple(p.shape[-2:]), seeded_generator(0, i, MOTION_STREAM))
                        for i, p in enumerate(self.photos)]

    @torch.no_grad()
    def _paint(self, net: torch.nn.Module, i: int, photo: torch.Tensor | None = None) -> torch.Tensor:
        vector = None if self.vectors is None else self.vectors[i % len(self.vectors)]
        return paint(net, self.photos[i] if photo is None else photo, vector).clamp(0, 1)

    def measure(self, student: torch.nn.Module) -> dict:
        was = student.training
        student.eval()
        diffs, ssims, moved = [], [], []
        for i, target in enumerate(self.targets):
            out = self._paint(student, i)
            diffs.append(float((out - target).abs().mean()) * 255)
            ssims.append(grey_ssim(tensor_to_image(out), tensor_to_image(target)))
            motion = self.motions[i]
            again = self._paint(student, i, moved_photos(self.photos[i], motion))
            moved.append(float(temporal_loss(out, again, motion.theta)))
        student.train(was)
        return {"diff255": sum(diffs) / len(diffs), "ssim": sum(ssims) / len(ssims),
                "moved": sum(moved) / len(moved)}


def export(args: argparse.Namespace) -> int:
    teacher, student = networks(args)
    optimizer = torch.optim.Adam(student.parameters(), lr=args.lr)
    step, settings, extra = load(Path(args.out) / CHECKPOINT, student, optimizer)
    about = {"live_of": args.model or args.network, "distilled_steps": str(step),
             "distil_recipe": json.dumps(settings), "distil_figures": json.dumps(extra.get("figures", {})),
             "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if args.model:
        meta = {k: v for k, v in load_transformer(resolve_model(args.model))[1].items()
                if k not in ("format", "architecture", "dtype", "date")}
        save_transformer(args.export, student, {**meta, **about}, half=True)
    else:
        tensors = {k: v.half().contiguous() for k, v in student.state_dict().items()}
        save_file(tensors, args.export, metadata={"format": ARBITRARY_NETWORK_FORMAT, "kind": "arbitrary",
                                                  "dtype": "float16",
                                                  "shape": json.dumps(LIVE_SHAPE.changes()),
                                                  **about})
    print(f"wrote {args.export}: step {step}, {Path(args.export).stat().st_size / 1e6:.2f} MB")
    return 0


def train(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {k: getattr(args, k) for k in FIXED}
    teacher, student = networks(args)
    optimizer = torch.optim.Adam(student.parameters(), lr=args.lr)
    start, extra = resume_run(out, student, optimizer, settings, args.resume)
    seconds, figures = float(extra.get("seconds", 0)), extra.get("figures", {})
    vectors = None if args.model else Vectors(args.extra_styles, 4, args.seed)
    photos = PhotoSource(files("photos", held_out=False))
    loss = PerceptualObjective(load_vgg("vgg19", "default"), FEATURE_LAYERS, (), content_weight=1.0,
                               style_weight=0.0, scaling="relative")
    evaluator = Evaluator(teacher, vectors)
    if start == 0:
        figures = evaluator.measure(student)
        append_csv(out / "eval.csv", {"step": 0, **figures, "seconds": 0})
        print(f"start (teacher's weights, edges cropped): {figures['diff255']:.2f}/255 from the teacher, "
              f"SSIM {figures['ssim']:.3f}, moved {figures['moved']:.5f}", flush=True)
    stopping = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stopping.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stopping.update(now=True))
    began, last_save, step = time.perf_counter(), time.perf_counter(), start
    while step < args.steps and not stopping["now"]:
        t0 = time.perf_counter()
        gen = seeded_generator(args.seed, step, 7)
        batch = []
        for k in range(args.batch):
            _, image = photos.load(int(torch.randint(0, len(photos), (), generator=gen)))
            batch.append(random_crop(image, args.image_size, seeded_generator(args.seed, step, 8, k)))
        x = torch.stack(batch)
        v = None if vectors is None else vectors.draw(gen, args.vectors_per_step).repeat_interleave(
            args.batch // args.vectors_per_step, dim=0)
        with torch.no_grad():
            target = paint(teacher, x, v).clamp(0, 1)
        optimizer.zero_grad(set_to_none=True)
        with arithmetic(args.bf16):
            if args.temporal_weight > 0:  # the crops and their moved copies in one pass
                motion = draw_motion(x.shape[0], tuple(x.shape[-2:]), seeded_generator(args.seed, step,
                                                                                       MOTION_STREAM))
                both = paint(student, torch.cat([x, moved_photos(x, motion)]),
                             None if v is None else torch.cat([v, v]))
                result, moved = both.chunk(2)
                temporal = temporal_loss(result.float(), moved.float(), motion.theta)
            else:
                result, temporal = paint(student, x, v), torch.zeros(())
            pixels = F.l1_loss(result.float(), target)
            features = loss(result, content=target)["content"]
            total = args.pixel_weight * pixels + features + args.temporal_weight * temporal
        total.backward()
        optimizer.step()
        step += 1
        now = time.perf_counter()
        append_csv(out / "log.csv", {"step": step, "pixels": f"{float(pixels.detach()):.5g}",
                                     "features": f"{float(features.detach()):.5g}",
                                     "temporal": f"{float(temporal.detach()):.5g}",
                                     "step_s": f"{now - t0:.2f}", "seconds": f"{seconds + now - began:.0f}"})
        if step % args.eval_every == 0 or step == args.steps:
            figures = evaluator.measure(student)
            append_csv(out / "eval.csv", {"step": step, **figures, "seconds": round(seconds + now - began)})
            print(f"step {step}: {figures['diff255']:.2f}/255 from the teacher, SSIM {figures['ssim']:.3f}, "
                  f"moved {figures['moved']:.5f} ({now - t0:.1f} s a step)", flush=True)
        if now - last_save > args.checkpoint_minutes * 60:
            save(out / CHECKPOINT, student, optimizer, step, settings,
                 {"seconds": seconds + now - began, "figures": figures})
            last_save = now
    save(out / CHECKPOINT, student, optimizer, step, settings,
         {"seconds": seconds + time.perf_counter() - began, "figures": figures})
    print(f"saved step {step} in {out / CHECKPOINT}", flush=True)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="a shipped model name or a model file (the teacher)")
    which.add_argument("--network", help="an arbitrary network (brushwork, magenta): the teacher")
    p.add_argument("--out", required=True, help="checkpoint and logs (keep it out of git)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export", help="write the student as fp16 safetensors with its provenance, and stop")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--pixel-weight", type=float, default=10.0, help="weight of the L1 pixel term")
    p.add_argument("--vectors-per-step", type=int, default=2, help="styles per step (arbitrary network)")
    p.add_argument("--temporal-weight", type=float, default=0.0,
                   help="weight of the stability term on synthetically moved crops (0: off)")
    p.add_argument("--extra-styles", metavar="DIR", help="more paintings for the arbitrary network's styles")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (where the CPU has bf16 units)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--eval-every", type=int, default=50)
    args = p.parse_args()
    if args.batch % args.vectors_per_step:
        p.error("--batch must be a multiple of --vectors-per-step")
    return export(args) if args.export else train(args)


if __name__ == "__main__":
    sys.exit(main())
