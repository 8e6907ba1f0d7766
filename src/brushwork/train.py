"""``brushwork train``: fit a TransformerNet to one painting (Johnson et al. 2016).

The net sees random crops of photos; a frozen VGG (the loss network) compares its output with
the photo (content loss at one layer) and with the painting (Gram matrices at several layers).

Reproducibility by construction: every random choice (the net's initial weights, the order of
photos in each epoch, each crop and flip) is derived from ``seed`` and the step number, never
from a running generator. A checkpoint therefore only needs the weights, the optimiser state and
the step, and ``--resume`` continues exactly where an uninterrupted run would be (on CPU the
result is bit-identical). The same scheme shards data across ``torchrun`` processes.

Loss scale (why the default weights look odd): our VGG takes [0, 1] RGB and feeds the caffe
weights 0-255 BGR, so its activations are far larger than those of torchvision-normalised
VGGs. Measured on the shipped photos with VGG19 (caffe weights), 256 px, Grams normalised by
C·H·W: content MSE at relu2_2 between a photo and a painting ~1.3e5; summed style MSE between a
photo and Starry Night ~4e6 (relu3_4 contributes ~90 %, relu4_4 < 0.01 %). So the published
1e5 / 1e10 would be pure texture here. A Gatys optimisation with these exact losses is lightly
painted at style/content ratio 0.3 and strongly at 3. Training (GPU, batch 8, 256 px crops, style
image at 512 px, ~2,700 steps) at style weight 0.4 and 0.15 left only the silhouettes of the
photos; a fine-tune of those nets at 0.04 (plus a small TV loss) brought outlines and detail
back, which is what the shipped models are. Hence the default 0.05. See docs/fast.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime
import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from brushwork.config import DEFAULT_STEPS, RESUMABLE_CHANGES, TrainConfig
from brushwork.errors import BrushworkError, ConfigError, ImageError

CHECKPOINT = "checkpoint.safetensors"
FINAL_MODEL = "model.safetensors"
LOSSES_CSV = "losses.csv"
LOSS_PLOT = "loss_plot.png"
SAMPLES = "samples"
# --- data ------------------------------------------------------------------------------------------
def list_photos(folder: str | os.PathLike) -> list[Path]:
    """Every non-hidden file under ``folder``, sorted; what is not a readable image is skipped later."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder of photos")
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise ConfigError(f"{root}: no files found")
    return files


def split_photos(files: list[Path], val_fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """A fixed, seeded train/validation split (at least one photo each side when possible)."""
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = min(max(1, round(len(files) * val_fraction)), len(files) - 1) if len(files) > 1 else 0
    val = sorted(files[i] for i in order[:n_val])
    train = [files[i] for i in sorted(order[n_val:])]
    return train, val


def _generator(*keys: int) -> torch.Generator:
    """A generator whose seed is a fixed function of the keys (seed, step, ...)."""
    digest = hashlib.sha256(json.dumps(keys).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


def random_crop(image: Image.Image, size: int, gen: torch.Generator) -> torch.Tensor:
    """Resize the short side to size·U(1, 1.25), take a random size×size crop, flip half the time."""
    from brushwork.images import image_to_tensor

    scale = 1.0 + 0.25 * float(torch.rand((), generator=gen))
    short = max(size, round(size * scale))
    w, h = image.size
    factor = short / min(w, h)
    new = (max(size, round(w * factor)), max(size, round(h * factor)))
    image = image.resize(new, Image.Resampling.BILINEAR, reducing_gap=2.0)
    left = int(torch.randint(0, new[0] - size + 1, (), generator=gen))
    top = int(torch.randint(0, new[1] - size + 1, (), generator=gen))
    image = image.crop((left, top, left + size, top + size))
    if float(torch.rand((), generator=gen)) < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image_to_tensor(image)[0]


def center_crop(image: Image.Image, size: int) -> torch.Tensor:
    from brushwork.images import image_to_tensor

    w, h = image.size
    factor = size / min(w, h)
    image = image.resize((max(size, round(w * factor)), max(size, round(h * factor))),
                         Image.Resampling.LANCZOS)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    return image_to_tensor(image.crop((left, top, left + size, top + size)))[0]


class PhotoSource:
    """Photos by index; unreadable files are remembered, counted and replaced by the next good one."""

    def __init__(self, files: list[Path]):
        self.files = files
        self.bad: dict[Path, str] = {}

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> tuple[int, Image.Image]:
        from brushwork.images import open_image

        for offset in range(len(self.files)):
            i = (index + offset) % len(self.files)
            path = self.files[i]
            if path in self.bad:
                continue
            try:
                return i, open_image(path)
            except ImageError as exc:
                self.bad[path] = str(exc)
        raise ConfigError("none of the photos could be read as an image")


def batch_indices(step: int, n: int, batch: int, rank: int, world: int, seed: int) -> list[int]:
    """Photo indices of one process's batch at ``step``: a fresh seeded permutation every epoch."""
    per_step = batch * world
    per_epoch = max(1, n // per_step)  # incomplete tail batches are dropped
    epoch, position = divmod(step, per_epoch)
    order = torch.randperm(n, generator=_generator(seed, epoch, 1)).tolist()
    start = position * per_step + rank * batch
    return [order[(start + k) % n] for k in range(batch)]


def steps_per_epoch(n: int, batch: int, world: int) -> int:
    return max(1, n // (batch * world))


# --- losses ----------------------------------------------------------------------------------------
class PerceptualLoss(torch.nn.Module):
    """Content + style (+ TV) loss of Johnson et al. against one style image."""

    def __init__(self, vgg, style: torch.Tensor, content_layer: str, style_layers: tuple[str, ...],
                 weights: tuple[float, float, float]):
        super().__init__()
        from brushwork.losses import gram_matrix

        vgg.check_layers([content_layer, *style_layers])
        self.vgg = vgg
        self.content_layer = content_layer
        self.style_layers = tuple(style_layers)
        self.weights = weights
        with torch.no_grad():
            feats = vgg(style, self.style_layers)
            for i, name in enumerate(self.style_layers):
                self.register_buffer(f"gram{i}", gram_matrix(feats[name]))

    def forward(self, output: torch.Tensor, photo: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted loss terms; ``total`` is their sum."""
        from brushwork.losses import content_loss, gram_matrix, tv_loss

        with torch.no_grad():
            target = self.vgg(photo, [self.content_layer])[self.content_layer]
        feats = self.vgg(output, {self.content_layer, *self.style_layers})
        cw, sw, tw = self.weights
        content = cw * content_loss(feats[self.content_layer], target)
        style = output.new_zeros(())
        for i, name in enumerate(self.style_layers):
            gram = gram_matrix(feats[name])
            style = style + torch.mean((gram - getattr(self, f"gram{i}")) ** 2)
        style = sw * style
        tv = tw * tv_loss(output) if tw else output.new_zeros(())
        return {"content": content, "style": style, "tv": tv, "total": content + style + tv}


# --- checkpoints -----------------------------------------------------------------------------------
def _config_json(config: TrainConfig) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def save_checkpoint(path: Path, net, optimizer, step: int, config: TrainConfig, style_hash: str) -> None:
    """Weights + Adam state + step, as safetensors (no pickle), atomically."""
    from safetensors.torch import save_file

    from brushwork.fileio import atomic_path

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    state = optimizer.state_dict()
    for index, values in state["state"].items():
        for key, value in values.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"optim.{index}.{key}"] = tensor.detach().cpu().contiguous()
    meta = {"step": str(step), "config": _config_json(config), "style_sha256": style_hash,
            "param_groups": json.dumps(state["param_groups"])}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint(path: Path, net, optimizer, device, check=None) -> tuple[int, dict]:
    """Restore weights and optimiser state; ``check(meta)`` vets the stored settings first."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
        tensors = load_file(str(path), device=str(device))
    except Exception as exc:
        raise ConfigError(f"{path}: unreadable checkpoint ({exc}); delete it to start afresh") from None
    if check is not None:
        check(meta)
    net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    opt_state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            # Adam keeps its step counter on the CPU.
            opt_state.setdefault(int(index), {})[name] = value.cpu() if name == "step" else value
    optimizer.load_state_dict({"state": opt_state, "param_groups": json.loads(meta["param_groups"])})
    return int(meta["step"]), meta


def _check_resume(meta: dict, config: TrainConfig, style_hash: str) -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    old = {**defaults, **json.loads(meta["config"])}  # options added since keep their default
    new = dataclasses.asdict(config)
    changed = [k for k in new if k not in RESUMABLE_CHANGES and json.dumps(old.get(k)) != json.dumps(new[k])]
    if changed:
        k = changed[0]
        raise ConfigError(f"cannot resume: the checkpoint was trained with {k}={old.get(k)!r}, "
                          f"now {new[k]!r}; pass the same options (or start a new output folder)")
    if meta.get("style_sha256") != style_hash:
        raise ConfigError("cannot resume: the checkpoint was trained on a different style image")


# --- logs ------------------------------------------------------------------------------------------
CSV_FIELDS = ["step", "epoch", "content", "style", "tv", "total", "images_per_s", "val_total"]


def write_losses(path: Path, rows: list[dict]) -> None:
    from brushwork.fileio import atomic_write_text

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def read_losses(path: Path, up_to_step: int) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if int(row["step"]) <= up_to_step]


def plot_losses(path: Path, rows: list[dict], title: str) -> None:
    """Weighted loss terms against the step, log scale; validation loss as dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from brushwork.fileio import atomic_path

    steps = [int(r["step"]) for r in rows]
    window = max(1, len(rows) // 50)  # per-step losses are noisy: draw a running mean over them
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for key, color in (("total", "C0"), ("content", "C1"), ("style", "C2"), ("tv", "C3")):
        values = [float(r[key]) for r in rows]
        if any(v > 0 for v in values):
            ax.plot(steps, values, color=color, linewidth=0.6, alpha=0.3 if window > 1 else 1)
            if window > 1:
                kernel = np.ones(window) / window
                smooth = np.convolve(values, kernel, mode="valid")
                ax.plot(steps[window - 1:], smooth, color=color, linewidth=1.2, label=key)
            else:
                ax.lines[-1].set_label(key)
    val = [(int(r["step"]), float(r["val_total"])) for r in rows if r.get("val_total")]
    if val:
        ax.plot(*zip(*val), "o", color="black", markersize=3, label="validation total")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("weighted loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def sample_grid(photos: torch.Tensor, outputs: torch.Tensor) -> Image.Image:
    """Photos on the top row, their stylisations below."""
    from brushwork.images import tensor_to_image

    top = torch.cat(list(photos), dim=2)
    bottom = torch.cat(list(outputs.clamp(0, 1)), dim=2)
    return tensor_to_image(torch.cat([top, bottom], dim=1))


# --- distributed -----------------------------------------------------------------------------------
@dataclass
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Dist:
    """Join the torchrun process group when launched by torchrun (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- training --------------------------------------------------------------------------------------
@dataclass
class StepInfo:
    """What the callback sees after every step."""

    step: int
    total_steps: int
    epoch: int
    losses: dict[str, float]
    images_per_s: float


def train(style_image: str | os.PathLike, data: str | os.PathLike, output_dir: str | os.PathLike,
          config: TrainConfig | None = None, *, resume: bool = False, quiet: bool = False,
          callback: Callable[[StepInfo], None] | None = None, vgg=None) -> Path:
    """Train a TransformerNet; returns the path of the final model file."""
    from tqdm import tqdm

    from brushwork import __version__
    from brushwork.images import image_to_tensor, open_image, resize_longest, save_image
    from brushwork.networks.transformer import TransformerNet, TransformerSpec, save_transformer
    from brushwork.networks.weights import load_vgg

    config = config or TrainConfig()
    device = torch.device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick the fastest kernels
    out = Path(output_dir)
    style_path = Path(style_image)
    style = open_image(style_path)
    style_hash = _sha256(style_path)
    files = list_photos(data)
    train_files, val_files = split_photos(files, config.val_fraction, config.seed)
    source = PhotoSource(train_files)
    dist = init_distributed(device)
    if dist.world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", dist.rank)))
    per_epoch = steps_per_epoch(len(train_files), config.batch_size, dist.world)
    total_steps = config.steps or (config.epochs * per_epoch if config.epochs else DEFAULT_STEPS)

    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / SAMPLES).mkdir(exist_ok=True)
    torch.manual_seed(config.seed)
    spec = TransformerSpec(config.width, config.res_blocks, config.channels, config.edge_kernel)
    net = TransformerNet(spec).to(device)
    if config.init and not resume:
        _init_from(net, Path(config.init))
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    start = 0
    rows: list[dict] = []
    checkpoint = out / CHECKPOINT
    if resume:
        if not checkpoint.is_file():
            raise ConfigError(f"--resume: no {CHECKPOINT} in {out}")
        start, _ = load_checkpoint(checkpoint, net, optimizer, device,
                                   check=lambda meta: _check_resume(meta, config, style_hash))
        rows = read_losses(out / LOSSES_CSV, start)
    elif checkpoint.is_file() and dist.main:
        raise ConfigError(f"{out} already holds a checkpoint; pass --resume to continue it "
                          "or choose another output folder")
    model = net
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    if vgg is None:
        vgg = load_vgg(config.loss_network, config.loss_weights, device=device, progress=dist.main)
    style_t = image_to_tensor(resize_longest(style, config.style_size or config.image_size), device)
    loss_fn = PerceptualLoss(vgg, style_t, config.resolved_content_layer, config.resolved_style_layers,
                             (config.content_weight, config.style_weight, config.tv_weight)).to(device)
    val_source = PhotoSource(val_files)
    val_photos = _load_val(val_source, config) if dist.main and val_files else None
    if val_photos is not None and start == 0:
        save_image(torch.cat(list(val_photos), dim=2), out / SAMPLES / "photos.png")

    bar = tqdm(total=total_steps, initial=start, unit="step", disable=quiet or not dist.main,
               dynamic_ncols=True, file=sys.stderr)
    step = start
    updating = False
    net.train()
    try:
        while step < total_steps:
            began = time.perf_counter()
            indices = batch_indices(step, len(source), config.batch_size, dist.rank, dist.world, config.seed)
            crops = []
            for k, index in enumerate(indices):
                _, image = source.load(index)
                gen = _generator(config.seed, step, dist.rank, k)
                crops.append(random_crop(image, config.image_size, gen))
            photos = torch.stack(crops).to(device)
            losses = loss_fn(model(photos), photos)
            if not torch.isfinite(losses["total"]):
                raise BrushworkError(f"loss became {losses['total'].item()} at step {step + 1}; "
                                     "lower --lr or the loss weights (the last checkpoint is kept)")
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            updating = True  # a Ctrl-C inside optimizer.step() leaves half-updated weights
            optimizer.step()
            step += 1
            updating = False
            seconds = time.perf_counter() - began
            values = {k: float(v.detach()) for k, v in losses.items()}
            epoch = (step - 1) // per_epoch + 1
            ips = config.batch_size * dist.world / max(seconds, 1e-9)
            if dist.main:
                rows.append({"step": step, "epoch": epoch, **{k: f"{v:.6g}" for k, v in values.items()},
                             "images_per_s": f"{ips:.3f}", "val_total": ""})
                bar.set_postfix(epoch=epoch, loss=f"{values['total']:.4g}",
                                content=f"{values['content']:.3g}", style=f"{values['style']:.3g}",
                                img_s=f"{ips:.2f}", refresh=False)
                bar.update(1)
                last = step == total_steps
                sample_now = config.sample_every and (step % config.sample_every == 0 or last)
                if sample_now and val_photos is not None:
                    rows[-1]["val_total"] = f"{_sample(net, loss_fn, val_photos, out, step):.6g}"
                    net.train()
                if config.checkpoint_every and step % config.checkpoint_every == 0 or last:
                    save_checkpoint(checkpoint, net, optimizer, step, config, style_hash)
                    write_losses(out / LOSSES_CSV, rows)
                if config.sample_every and step % config.sample_every == 0 or last:
                    write_losses(out / LOSSES_CSV, rows)
                    plot_losses(out / LOSS_PLOT, rows, _plot_title(style_path, config))
            if callback is not None:
                callback(StepInfo(step, total_steps, epoch, values, ips))
    except KeyboardInterrupt:
        bar.close()
        if dist.main and step > start and not updating:
            save_checkpoint(checkpoint, net, optimizer, step, config, style_hash)
            write_losses(out / LOSSES_CSV, rows)
            print(f"interrupted at step {step}; checkpoint saved, continue with --resume", file=sys.stderr)
        elif dist.main:
            print("interrupted; continue from the last checkpoint with --resume", file=sys.stderr)
        raise
    finally:
        bar.close()
        if dist.world > 1:
            import torch.distributed as tdist

            with contextlib.suppress(Exception):
                tdist.destroy_process_group()
    final = out / FINAL_MODEL
    if dist.main:
        if rows and start >= total_steps:  # --resume of a finished run: refresh the logs only
            write_losses(out / LOSSES_CSV, rows)
            plot_losses(out / LOSS_PLOT, rows, _plot_title(style_path, config))
        meta = {
            "style_image": style_path.name, "style_sha256": style_hash,
            "loss_network": config.loss_network, "loss_weights": config.loss_weights,
            "content_layer": config.resolved_content_layer,
            "style_layers": list(config.resolved_style_layers),
            "content_weight": config.content_weight, "style_weight": config.style_weight,
            "tv_weight": config.tv_weight, "image_size": config.image_size, "batch_size": config.batch_size,
            "world_size": dist.world, "steps": step, "lr": config.lr, "seed": config.seed,
            "init": Path(config.init).name if config.init else "",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "brushwork_version": __version__, "config": _config_json(config),
        }
        save_transformer(final, net, meta)
        skipped = {**source.bad, **val_source.bad}
        if skipped and not quiet:
            print(f"skipped {len(skipped)} unreadable file(s) of {len(files)}:", file=sys.stderr)
            for reason in list(skipped.values())[:10]:
                print(f"  {reason}", file=sys.stderr)
        (out / "skipped.txt").write_text("".join(f"{r}\n" for r in skipped.values()), encoding="utf-8")
    return final


def _plot_title(style_path: Path, config: TrainConfig) -> str:
    from brushwork.networks.transformer import TransformerSpec

    spec = TransformerSpec(config.width, config.res_blocks, config.channels, config.edge_kernel)
    return (f"{style_path.name}: {config.loss_network}, channels {'-'.join(map(str, spec.plan))}, "
            f"{spec.res_blocks} res blocks, style weight {config.style_weight:g}")


def _init_from(net, path: Path) -> None:
    """Warm start: copy a trained model's weights (same architecture) into ``net``."""
    from brushwork.networks.transformer import load_transformer

    trained, _ = load_transformer(path)

    def shape(spec):
        return spec.plan, spec.res_blocks, spec.edge_kernel

    if shape(trained.spec) != shape(net.spec):
        raise ConfigError(f"--init {path}: its architecture {trained.spec.to_dict()} differs from "
                          f"this run's {net.spec.to_dict()}; pass the same --width/--res-blocks/"
                          "--channels/--edge-kernel")
    net.load_state_dict(trained.state_dict())


def _load_val(source: PhotoSource, config: TrainConfig) -> torch.Tensor | None:
    photos, seen = [], set()
    for index in range(len(source)):
        if len(photos) == config.num_samples:
            break
        i, image = _try_load(source, index)
        if image is None or i in seen:
            continue
        seen.add(i)
        photos.append(center_crop(image, config.image_size))
    return torch.stack(photos) if photos else None


def _try_load(source: PhotoSource, index: int):
    try:
        return source.load(index)
    except ConfigError:
        return index, None


@torch.no_grad()
def _sample(net, loss_fn, photos: torch.Tensor, out: Path, step: int) -> float:
    from brushwork.images import save_image

    net.eval()
    device = next(net.parameters()).device
    photos = photos.to(device)
    outputs = net(photos)
    save_image(sample_grid(photos.cpu(), outputs.cpu()), out / SAMPLES / f"step_{step:06d}.png")
    return float(loss_fn(outputs, photos)["total"])


# --- CLI -------------------------------------------------------------------------------------------
def add_parser(sub) -> None:
    from brushwork.cli import add_config_arguments

    p = sub.add_parser(
        "train",
        help="train a fast style network (TransformerNet) on a folder of photos",
        description="Train a TransformerNet (Johnson et al. 2016) to paint photos in the style of "
        "STYLE_IMAGE. Several processes: torchrun --standalone --nproc_per_node=2 -m brushwork train ...",
    )
    p.add_argument("style_image", help="the painting")
    p.add_argument("--data", required=True, help="folder (searched recursively) of training photos")
    p.add_argument("-o", "--output", required=True, help="output folder (model, checkpoint, samples, logs)")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint.safetensors")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_config_arguments(p, TrainConfig)
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from brushwork.cli import config_from_args

    config = config_from_args(TrainConfig, args)
    started = time.perf_counter()
    final = train(args.style_image, args.data, args.output, config, resume=args.resume, quiet=args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"wrote {final} in {(time.perf_counter() - started) / 60:.1f} min")
    return 0
