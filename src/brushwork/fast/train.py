"""Fit a TransformerNet to one painting (Johnson et al. 2016): the training loop.

The net sees random crops of photos; a frozen VGG (the loss network) compares its output with
the photo (content loss at one layer) and with the painting (Gram matrices at several layers).
The loss is ``losses.PerceptualObjective``. ``TrainConfig.recipe`` picks the defaults: ``magenta`` (the
default; how the shipped models were made) fine-tunes the arbitrary network (``TrainConfig.network``:
brushwork's own or Magenta's) with the painting's style folded
in, with relative losses averaged over relu1_1..relu5_1; ``johnson`` trains a TransformerNet from random
weights with ``scaling="raw"`` and every style layer weighted 1 (a sum over layers), the old formula.
Every ``sample_every`` steps held-out photos are measured against the arbitrary-style network
(``brushwork.fast.validation``: style ratio and SSIM), into the losses CSV and the plot.

Reproducibility by construction: every random choice (the net's initial weights, the order of
photos in each epoch, each crop and flip) is derived from ``seed`` and the step number, never
from a running generator. A checkpoint therefore only needs the weights, the optimiser state and
the step, and ``--resume`` continues exactly where an uninterrupted run would be (on CPU the
result is bit-identical). The same scheme shards data across ``torchrun`` processes.

Loss scale of the johnson recipe (why its weights look odd): our VGG takes [0, 1] RGB and feeds the caffe
weights 0-255 BGR, so its activations are far larger than those of torchvision-normalised
VGGs. Measured on the shipped photos with VGG19 (caffe weights), 256 px, Grams normalised by
C·H·W: content MSE at relu2_2 between a photo and a painting ~1.3e5; summed style MSE between a
photo and Starry Night ~4e6 (relu3_4 contributes ~90 %, relu4_4 < 0.01 %). So the published
1e5 / 1e10 would be pure texture here. A Gatys optimisation with these exact losses is lightly
painted at style/content ratio 0.3 and strongly at 3. Training (GPU, batch 8, 256 px crops, style
image at 512 px, ~2,700 steps) at style weight 0.4 and 0.15 left only the silhouettes of the
photos; a fine-tune of those nets at 0.04 (plus a small TV loss) brought outlines and detail
back, which is what the shipped models are. Hence the default 0.05. See docs/fast.md.

Nothing here prints or draws: each step is reported to ``callback`` as a ``brushwork.progress.Progress``; an
interrupted run raises ``TrainingInterrupted`` (a ``KeyboardInterrupt``) saying whether a
checkpoint was saved; ``Training.skipped`` names the photos that could not be read. A run ends early,
as a finished one (checkpoint, logs and model file written at that step), when ``fit(stop=...)`` says so
or ``TrainConfig.minutes`` have passed; ``--resume`` continues it bit-identically.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.distributed as torch_dist
from PIL import Image
from safetensors import safe_open
from torch.nn.parallel import DistributedDataParallel

from brushwork.config import TrainConfig
from brushwork.errors import BrushworkError, ConfigError, ImageError
from brushwork.fast.checkpoint import (
    CHECKPOINT,
    CPU_FIELD,
    ELAPSED_FIELD,
    FINAL_MODEL,
    LOSS_PLOT,
    LOSSES_CSV,
    SAMPLES,
    SKIPPED,
    check_resume,
    config_json,
    load_checkpoint,
    read_losses,
    save_checkpoint,
    write_losses,
)
from brushwork.fast.data import (
    MIN_PHOTOS,
    PhotoSource,
    check_enough_photos,
    list_photos,
    seeded_generator,
    split_photos,
    steps_per_epoch,
    training_batch,
    validation_photos,
    validation_pictures,
)
from brushwork.fast.inference import MIN_PAINTING_SIDE
from brushwork.fast.motion import draw_motion, moved_photos, temporal_loss
from brushwork.fast.report import plot_losses, plot_title, sample_grid
from brushwork.fast.validation import FIELDS, Validation
from brushwork.fileio import atomic_write_text, check_output_dir, remove_stale_temps, sha256_file
from brushwork.images import MIN_SIDE, check_side, image_to_tensor, open_image, resize_longest, save_image
from brushwork.losses import PerceptualObjective
from brushwork.networks.arbitrary import FoldedSpec, FoldedTransfer, fold_style
from brushwork.networks.arbitrary_weights import load_transfer_weights, predict_style
from brushwork.networks.model_files import load_transformer, read_metadata, save_transformer
from brushwork.networks.transformer import TransformerNet, TransformerSpec
from brushwork.networks.vgg import VGGFeatures
from brushwork.networks.weights import load_vgg
from brushwork.progress import Progress, ProgressCallback

#: ``--init`` value that starts from the arbitrary-style network ``TrainConfig.network`` (brushwork's own
#: or Magenta's; see ``_build_net``), recorded as ``network`` in the model's metadata.
ARBITRARY = "arbitrary"
#: ``--init`` value of a TransformerNet from random weights (the johnson recipe's None).
RANDOM = "random"
#: Files a run writes in its output folder: one holding any of them belongs to another run (or to this
#: one: --resume), and a new run there is refused rather than overwrite them.
RUN_FILES = (CHECKPOINT, FINAL_MODEL, LOSSES_CSV, LOSS_PLOT, SKIPPED)
#: Last key of ``seeded_generator(seed, step, rank, MOTION_STREAM)``: the synthetic motion of a step's
#: batch (``--temporal-weight``), a stream apart from the crops' ``(seed, step, rank, k)``.
MOTION_STREAM = -1


def _version() -> str:
    # Read from the installed metadata: importing the ``brushwork`` package here would make an
    # import cycle (it exports ``train`` from this module).
    try:
        return importlib.metadata.version("brushwork")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --- what the callback sees ------------------------------------------------------------------------
def step_progress(step: int, total: int, epoch: int, losses: dict[str, float], images_per_s: float,
                  seconds: float, elapsed_s: float) -> Progress:
    """What ``fit``'s callback sees after every step (on every process): ``done`` steps of ``total``,
    the weighted ``losses`` (content, style, tv, total) and, in ``info``, the ``epoch``, ``img_s`` and
    ``elapsed_s`` (seconds of training so far, over every invocation of the run: ``--resume`` adds to
    it). The callback's record adds ``eta`` (the remaining steps at this invocation's pace, validation
    and checkpoints included, or the ``minutes`` budget if that comes first) and, on a validated step,
    the figures of ``fast.validation.FIELDS`` in ``info`` (read them with ``validation_figures``)."""
    return Progress(step, total, "step", info={"epoch": epoch, "img_s": images_per_s, "elapsed_s": elapsed_s},
                    losses=losses, seconds=seconds)


def validation_figures(progress: Progress) -> dict[str, float]:
    """The validation figures of a step's record (``fast.validation.FIELDS``); empty when not validated."""
    return {k: float(progress.info[k]) for k in FIELDS if k in progress.info}


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; ``saved_step`` is the step of the checkpoint just saved, or None
    when none was (nothing new since the last one, or the weights were half updated)."""

    def __init__(self, step: int, saved_step: int | None):
        super().__init__(step)
        self.step = step
        self.saved_step = saved_step


# --- pieces ----------------------------------------------------------------------------------------
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
    if not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(torch_dist.get_rank(), torch_dist.get_world_size())


def _device(config: TrainConfig) -> torch.device:
    device = torch.device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick the fastest kernels
    return device


def _spec(config: TrainConfig) -> TransformerSpec:
    return TransformerSpec(config.width, config.res_blocks, config.channels, config.edge_kernel)


def is_folded_model(init: str | None) -> bool:
    """``--init`` names a model file of Magenta's network with a style folded in (a shipped
    per-style model): the net to fine-tune is then a ``FoldedTransfer``."""
    if not init or init in (ARBITRARY, RANDOM) or not Path(init).is_file():
        return False
    return json.loads(read_metadata(init).get("architecture", "{}")).get("kind") == FoldedSpec.kind


def holds_folded(checkpoint: Path) -> bool:
    """The checkpoint's weights are a ``FoldedTransfer``'s (a resume does not need the --init file)."""
    try:
        with safe_open(str(checkpoint), framework="pt") as f:
            return any(key.startswith("model.trunk.") for key in f.keys())  # noqa: SIM118 (not a dict)
    except Exception:  # unreadable: load_checkpoint says so in one line
        return False


def init_from(net: TransformerNet | FoldedTransfer, path: Path) -> None:
    """Warm start: copy a trained model's weights (same architecture) into ``net``."""
    trained, _ = load_transformer(path)

    def shape(spec):
        if isinstance(spec, FoldedSpec):
            return spec.to_dict()
        return spec.plan, spec.res_blocks, spec.edge_kernel

    if shape(trained.spec) != shape(net.spec):
        raise ConfigError(f"--init {path}: its architecture {trained.spec.to_dict()} differs from "
                          f"this run's {net.spec.to_dict()}; pass the same --width/--res-blocks/"
                          "--channels/--edge-kernel")
    net.load_state_dict(trained.state_dict())


def training_objective(vgg: VGGFeatures, style: torch.Tensor, config: TrainConfig) -> PerceptualObjective:
    """Johnson et al.'s loss against one painting [1,3,H,W]: content MSE at one layer, Gram MSEs
    over the style layers, TV. ``raw``: unscaled magnitudes and the *sum* over style layers (what
    the old defaults assume); ``relative``: per-layer relative errors, *averaged* over layers."""
    layers = config.resolved_style_layers
    relative = config.loss_scaling == "relative"
    given = config.style_layer_weights or (1.0,) * len(layers)
    layer_weights = tuple(w / sum(given) for w in given) if relative else given
    objective = PerceptualObjective(vgg, [config.resolved_content_layer], layers, layer_weights,
                                    config.content_weight, config.style_weight, config.tv_weight,
                                    scaling=config.loss_scaling)
    objective.set_style([style])
    return objective


def check_run_folder(out: Path, data: str | os.PathLike, resume: bool) -> None:
    """Refuse an output folder that would lose files: one holding another run's files (unless this is
    its --resume), or one inside the photo folder (its samples would become training photos)."""
    try:
        inside = out.resolve().is_relative_to(Path(data).resolve())
    except OSError:
        inside = False
    if inside:
        raise ConfigError(f"{out}: the output folder is inside the photo folder {data}; its samples would "
                          "be read as training photos: choose a folder outside it")
    if resume or not out.is_dir():
        return
    found = [name for name in RUN_FILES if (out / name).exists()]
    if (out / SAMPLES).is_dir() and any((out / SAMPLES).iterdir()):
        found.append(SAMPLES + "/")
    if found:
        has_checkpoint = CHECKPOINT in found
        raise ConfigError(f"{out} already holds a {'checkpoint' if has_checkpoint else 'training run'} "
                          f"({', '.join(found)}); "
                          + ("pass --resume to continue it or " if has_checkpoint else "")
                          + "choose another output folder (nothing there was changed)")


def _started_here(out: Path) -> bool:
    """Whether ``out`` holds the files a run writes before its first checkpoint (logs, sample grids)."""
    return any((out / name).exists() for name in RUN_FILES) or (out / SAMPLES).is_dir()


def _finite_or_raise(total: torch.Tensor, step: int) -> None:
    if not torch.isfinite(total):
        raise BrushworkError(f"loss became {total.item()} at step {step}; "
                             "lower --lr or the loss weights (the last checkpoint is kept)")


def _open_painting(path: Path, config: TrainConfig) -> Image.Image:
    """The painting to train on, refused when too small to show a style at the training sizes."""
    style = open_image(path)
    if min(style.size) < MIN_PAINTING_SIDE:
        raise ImageError(f"{path}: {style.width}x{style.height} pixels is too small to show a "
                         f"style; give a painting at least {MIN_PAINTING_SIDE} px on each side")
    check_side(style, str(path), config.style_size or config.image_size, MIN_SIDE, "--style-size")
    return style


# --- the run ---------------------------------------------------------------------------------------
class Training:
    """One training run, set up and ready to go: ``fit()`` trains and returns the model file.

    Setting up checks everything a user can get wrong (folders, resume settings, weights) before
    the first step; ``train()`` is the one-call form.
    """

    def __init__(self, style_image: str | os.PathLike, data: str | os.PathLike,
                 output_dir: str | os.PathLike, config: TrainConfig | None = None, *,
                 resume: bool = False, vgg: VGGFeatures | None = None,
                 download: ProgressCallback | None = None):
        self.config = config = config or TrainConfig()
        self._clock = time.perf_counter()  # this invocation's start: elapsed_s counts from here
        self._cpu_clock = time.process_time()
        self._updating = False  # inside optimizer.step(): a checkpoint now would hold half-updated weights
        self.device = _device(config)
        self.out = check_output_dir(output_dir)  # a file there, or no way to write: fail before any work
        check_run_folder(self.out, data, resume)
        if resume and not (self.out / CHECKPOINT).is_file() and _started_here(self.out):
            resume = False  # killed before its first checkpoint: nothing to continue; it starts again here
        self.style_path = Path(style_image)
        style = _open_painting(self.style_path, config)
        self.style_hash = sha256_file(self.style_path)
        self.rejected: dict[Path, str] = {}  # pipes, devices... in the photo folder: never opened
        self.files = list_photos(data, self.rejected)
        train_files, val_files = self._split(config)
        self.source, self.val_source = PhotoSource(train_files), PhotoSource(val_files)
        every = PhotoSource(self.files)
        # a few reads: stops at the MIN_PHOTOS-th good one
        check_enough_photos(every, data, MIN_PHOTOS, self.rejected)
        self.rejected.update(every.bad)
        self.dist = init_distributed(self.device)
        if self.dist.world > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", self.dist.rank)))
        self.per_epoch = steps_per_epoch(len(train_files), config.batch_size, self.dist.world)
        epochs_steps = config.epochs * self.per_epoch if config.epochs else config.default_steps
        self.total_steps = config.steps or epochs_steps
        self._build_net(resume, image_to_tensor(style))
        #: --resume of a run that has already reached its last step: fit() changes no file and says so
        self.finished = resume and self.start >= self.total_steps and (self.out / FINAL_MODEL).is_file()
        #: things the front end should say (engines never print): a fallback taken, ...
        self.notes: list[str] = []
        self.val_photos = self.validation = None
        if self.finished:
            return  # nothing to train, sample or write: the loss network is not even loaded
        if vgg is None:
            vgg = load_vgg(config.loss_network, config.loss_weights, device=self.device,
                           progress=download if self.dist.main else None)
        style_t = image_to_tensor(resize_longest(style, config.style_size or config.image_size), self.device)
        self.objective = training_objective(vgg, style_t, config)
        if self.dist.main:  # made only once everything checked out: a refused run leaves no folder
            (self.out / SAMPLES).mkdir(parents=True, exist_ok=True)
            for folder in (self.out, self.out / SAMPLES):  # what a killed run was writing
                remove_stale_temps(folder)
        self._prepare_validation(style, vgg, train_files, val_files)

    def _split(self, config: TrainConfig) -> tuple[list[Path], list[Path]]:
        """(training photos, held-out photos): ``--val-data``'s, else a seeded share of the folder's."""
        if config.val_data:
            val_files = list_photos(config.val_data, self.rejected)
            return [f for f in self.files if f.resolve() not in {v.resolve() for v in val_files}], val_files
        return split_photos(self.files, config.val_fraction, config.seed)

    def _prepare_validation(self, style: Image.Image, vgg: VGGFeatures, train_files: list[Path],
                            val_files: list[Path]) -> None:
        """The sample grid's photos (saved once) and the validation pictures, on the main process;
        if no held-out photo can be read, training photos stand in (and a note says so)."""
        config = self.config
        if self.dist.main and val_files:
            self.val_photos = validation_photos(self.val_source, config.num_samples, config.image_size)
            if self.val_photos is None and train_files:  # every held-out photo unreadable: say so, use others
                bad = sorted(str(p) for p in self.val_source.bad)[:3]
                self.rejected.update(self.val_source.bad)
                self.val_source = PhotoSource(train_files)
                val_files = train_files
                self.val_photos = validation_photos(self.val_source, config.num_samples, config.image_size)
                self.notes.append("none of the validation photos could be read (" + ", ".join(bad)
                                  + "); the sample grids and validation figures use training photos instead")
        if self.val_photos is not None and self.start == 0:
            save_image(torch.cat(list(self.val_photos), dim=2), self.out / SAMPLES / "photos.png")
        self.validation = None
        if self.dist.main and val_files and config.val_photos and config.sample_every:
            pictures = validation_pictures(self.val_source, config.val_photos)
            if pictures:
                self.validation = Validation(pictures, style, config.val_size, vgg, self.device)
                self.validation.set_baseline(self._arbitrary_network(image_to_tensor(style)))

    def _arbitrary_network(self, style: torch.Tensor) -> FoldedTransfer:
        """What the run is measured against: the arbitrary network ``config.network`` (the one a user
        would otherwise paint this painting with) with this painting's style vector."""
        return fold_style(load_transfer_weights(self.config.network), predict_style(style)).to(
            self.device).eval()

    def _build_net(self, resume: bool, style: torch.Tensor) -> None:
        """The net (seeded, warm-started or restored), its optimiser, and the step to start from."""
        config, checkpoint = self.config, self.out / CHECKPOINT
        torch.manual_seed(config.seed)
        if config.init == ARBITRARY:
            # Resuming only needs the shape; a new run starts from the painting's folded style.
            net = FoldedTransfer() if resume else fold_style(load_transfer_weights(config.network),
                                                             predict_style(style))
            self.net = net.to(self.device)
        elif holds_folded(checkpoint) if resume else is_folded_model(config.init):  # a shipped model's net
            self.net = FoldedTransfer().to(self.device)
        else:
            self.net = TransformerNet(_spec(config)).to(self.device)
        if config.init and config.init not in (ARBITRARY, RANDOM) and not resume:
            init_from(self.net, Path(config.init))
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.start, self.rows = 0, []
        if resume:
            if not checkpoint.is_file():
                raise ConfigError(f"--resume: no {CHECKPOINT} in {self.out}")
            self.start, _ = load_checkpoint(checkpoint, self.net, self.optimizer, self.device,
                                            check=lambda meta: check_resume(meta, config, self.style_hash))
            self.rows = read_losses(self.out / LOSSES_CSV, self.start)
        elif checkpoint.is_file() and self.dist.main:
            raise ConfigError(f"{self.out} already holds a checkpoint; pass --resume to continue it "
                              "or choose another output folder")
        self._elapsed_before = float(self.rows[-1].get(ELAPSED_FIELD) or 0) if self.rows else 0.0
        self._cpu_before = float(self.rows[-1].get(CPU_FIELD) or 0) if self.rows else 0.0
        self.model = self.net
        if self.dist.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.net, device_ids=ids)

    def skipped_lines(self) -> list[str]:
        """``skipped.txt``'s lines: a resumed run keeps those of the runs before it (it reads only
        the photos of its own steps), then adds its own."""
        lines: list[str] = []
        with contextlib.suppress(OSError, UnicodeDecodeError):
            lines = [line for line in (self.out / SKIPPED).read_text(encoding="utf-8").splitlines() if line]
        return lines + [r for r in self.skipped.values() if r not in lines]

    @property
    def skipped(self) -> dict[Path, str]:
        """Photos that could not be read so far, with the reason."""
        return {**self.rejected, **self.source.bad, **self.val_source.bad}

    # --- one step ---
    def _step(self, step: int) -> dict[str, float]:
        """Train on the batch of ``step`` (0-based); returns the weighted loss terms."""
        config = self.config
        photos = training_batch(self.source, step, config.image_size, config.batch_size, self.dist.rank,
                                self.dist.world, config.seed).to(self.device)
        if config.temporal_weight > 0:
            losses = self._with_temporal(photos, step)
        else:
            losses = self.objective(self.model(photos), content=photos)
        _finite_or_raise(losses["total"], step + 1)
        self.optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        self._updating = True  # a Ctrl-C inside optimizer.step() leaves half-updated weights
        self.optimizer.step()
        self._updating = False
        return {k: float(v.detach()) for k, v in losses.items()}

    def _with_temporal(self, photos: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """The perceptual terms plus ``temporal``: the batch and its synthetically moved copy go
        through the net in one pass (instance norm: each image on its own); the VGG terms see only
        the photos. The move is drawn from (seed, step, rank), so a resumed run repeats it."""
        gen = seeded_generator(self.config.seed, step, self.dist.rank, MOTION_STREAM)
        motion = draw_motion(photos.shape[0], tuple(photos.shape[-2:]), gen).to(self.device)
        output, moved = self.model(torch.cat([photos, moved_photos(photos, motion)])).chunk(2)
        losses = self.objective(output, content=photos)
        losses["temporal"] = self.config.temporal_weight * temporal_loss(output, moved, motion.theta)
        losses["total"] = losses["total"] + losses["temporal"]
        return losses

    @property
    def elapsed_s(self) -> float:
        """Seconds of training over every invocation of this run (setting up included)."""
        return self._elapsed_before + time.perf_counter() - self._clock

    def _log(self, step: int, epoch: int, values: dict[str, float], ips: float, last: bool = False
             ) -> dict[str, float] | None:
        """Main process: the CSV row, samples, validation, checkpoint and loss plot due after ``step``
        (``last``: the run ends here); returns the validation figures when they were measured."""
        config, last = self.config, last or step == self.total_steps
        self.rows.append({"step": step, "epoch": epoch, **{k: f"{v:.6g}" for k, v in values.items()},
                          "images_per_s": f"{ips:.3f}", "val_total": ""})
        due = bool(config.sample_every) and (step % config.sample_every == 0 or last)
        figures = None
        if due and self.val_photos is not None:
            self.rows[-1]["val_total"] = f"{self._sample(step):.6g}"
            self.net.train()
        if due and self.validation is not None:
            figures = self.validation.figures(self.net)
            self.rows[-1].update({k: f"{v:.6g}" for k, v in figures.items()})
        self.rows[-1][ELAPSED_FIELD] = f"{self.elapsed_s:.1f}"
        self.rows[-1][CPU_FIELD] = f"{self._cpu_before + time.process_time() - self._cpu_clock:.1f}"
        if config.checkpoint_every and step % config.checkpoint_every == 0 or last:
            self._save_checkpoint(step)
        if due:
            self._write_logs()
        return figures

    @torch.no_grad()
    def _sample(self, step: int) -> float:
        """Stylise the validation photos into a sample grid; returns their loss."""
        self.net.eval()
        photos = self.val_photos.to(self.device)
        outputs = self.net(photos)
        save_image(sample_grid(photos.cpu(), outputs.cpu()), self.out / SAMPLES / f"step_{step:06d}.png")
        return float(self.objective(outputs, content=photos)["total"])

    def _save_checkpoint(self, step: int) -> None:
        save_checkpoint(self.out / CHECKPOINT, self.net, self.optimizer, step, self.config, self.style_hash)
        write_losses(self.out / LOSSES_CSV, self.rows)

    def _write_logs(self) -> None:
        write_losses(self.out / LOSSES_CSV, self.rows)
        baseline = self.validation.baseline if self.validation is not None else None
        plot_losses(self.out / LOSS_PLOT, self.rows, plot_title(self.style_path.name, self.config), baseline)

    def _stop_now(self, wanted: bool) -> bool:
        """Whether every process stops after this step (under torchrun: if any of them wants to)."""
        if self.dist.world == 1:
            return wanted
        flag = torch.tensor([1.0 if wanted else 0.0], device=self.device)
        torch_dist.all_reduce(flag, op=torch_dist.ReduceOp.MAX)
        return bool(flag.item() > 0)

    # --- the loop ---
    def fit(self, callback: ProgressCallback | None = None,
            stop: Callable[[Progress], bool] | None = None) -> Path:
        """Train from the start step to the last; returns the path of the final model file.

        ``callback`` hears a ``Progress`` after every step (see ``step_progress``). ``stop(progress)`` is
        asked after every step, before validation (its record has no ``eta``; ``TrainConfig.minutes``
        adds a deadline): when it says True, the run ends there as a finished one would (checkpoint,
        logs, validation and the model file written at that step), and ``--resume`` with the same
        settings continues it bit-identically.
        """
        if self.finished:
            return self.out / FINAL_MODEL
        step = self.start
        began_fit = time.perf_counter()
        deadline = began_fit + self.config.minutes * 60 if self.config.minutes else None
        self.net.train()
        try:
            while step < self.total_steps:
                began = time.perf_counter()
                values = self._step(step)
                step += 1
                seconds = time.perf_counter() - began
                epoch = (step - 1) // self.per_epoch + 1
                ips = self.config.batch_size * self.dist.world / max(seconds, 1e-9)
                record = step_progress(step, self.total_steps, epoch, values, ips, seconds, self.elapsed_s)
                wanted = (deadline is not None and time.perf_counter() >= deadline) or \
                    (stop is not None and bool(stop(record)))
                ending = self._stop_now(wanted) if step < self.total_steps else False
                figures = self._log(step, epoch, values, ips, last=ending) if self.dist.main else None
                now = time.perf_counter()
                pace = (now - began_fit) / (step - self.start)  # validation and checkpoints included
                eta = 0.0 if ending else pace * (self.total_steps - step)
                if deadline is not None:
                    eta = min(eta, max(0.0, deadline - now))
                if callback is not None:
                    callback(replace(record, eta=eta, info={**record.info, "elapsed_s": self.elapsed_s,
                                                            **(figures or {})}))
                if ending:
                    break
        except KeyboardInterrupt:
            saved = self.dist.main and step > self.start and not self._updating
            if saved:
                self._save_checkpoint(step)
            raise TrainingInterrupted(step, step if saved else None) from None
        finally:
            if self.dist.world > 1:
                with contextlib.suppress(Exception):
                    torch_dist.destroy_process_group()
        return self._finish(step)

    def _finish(self, step: int) -> Path:
        """Main process: the final model file (with its training record) and the list of skipped photos."""
        final = self.out / FINAL_MODEL
        if not self.dist.main:
            return final
        if self.rows and self.start >= self.total_steps:  # --resume of a finished run: refresh the logs only
            self._write_logs()
        save_transformer(final, self.net, self._metadata(step))
        atomic_write_text(self.out / SKIPPED, "".join(f"{r}\n" for r in self.skipped_lines()))
        return final

    def _metadata(self, step: int) -> dict:
        config = self.config
        return {
            "style_image": self.style_path.name, "style_sha256": self.style_hash,
            "loss_network": config.loss_network, "loss_weights": config.loss_weights,
            "content_layer": config.resolved_content_layer,
            "style_layers": list(config.resolved_style_layers),
            "style_layer_weights": list(config.style_layer_weights or ()),
            "content_weight": config.content_weight, "style_weight": config.style_weight,
            "tv_weight": config.tv_weight, "temporal_weight": config.temporal_weight,
            "image_size": config.image_size, "batch_size": config.batch_size,
            "world_size": self.dist.world, "steps": step, "lr": config.lr, "seed": config.seed,
            "init": Path(config.init).name if config.init else "", "loss_scaling": config.loss_scaling,
            # The arbitrary network it started from (--init arbitrary) and was validated against.
            "network": config.network,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "brushwork_version": _version(), "config": config_json(config),
        }


def train(style_image: str | os.PathLike, data: str | os.PathLike, output_dir: str | os.PathLike,
          config: TrainConfig | None = None, *, resume: bool = False,
          callback: ProgressCallback | None = None, vgg: VGGFeatures | None = None,
          download: ProgressCallback | None = None,
          stop: Callable[[Progress], bool] | None = None) -> Path:
    """Train a fast style network for one painting; returns the path of the final model file.

    Args:
        style_image: the painting.
        data: a folder of photos (searched recursively; unreadable files are skipped and listed
            in ``OUTPUT/skipped.txt``).
        output_dir: receives ``model.safetensors``, ``checkpoint.safetensors``, ``losses.csv``,
            ``loss_plot.png`` and ``samples/``.
        config: the settings (``TrainConfig``; defaults when None).
        resume: continue from ``output_dir``'s checkpoint (the settings must match).
        callback: called with a ``Progress`` after every step (``step_progress``).
        vgg: a loss network to reuse (default: loaded from ``config.loss_weights``).
        download: hears the loss network's weight download, if one is needed.
        stop: asked after every step; True ends the run there as a finished one (``Training.fit``).

    >>> import brushwork
    >>> config = brushwork.TrainConfig(steps=500)
    >>> brushwork.train("painting.jpg", "photos/", "runs/mine", config)  # doctest: +SKIP
    """
    run = Training(style_image, data, output_dir, config, resume=resume, vgg=vgg, download=download)
    return run.fit(callback, stop)
