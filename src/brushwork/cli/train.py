"""``brushwork train``: fit a fast style network to one painting (``brushwork.fast.train``). By default
(``--recipe magenta``) the arbitrary-style network (``--network``) with the painting's style folded in,
fine-tuned with relative VGG losses: how the shipped models were made. ``--recipe johnson`` trains a
TransformerNet (Johnson et al. 2016) from random weights, the old default; ``--init FILE`` fine-tunes a
model file."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

from brushwork.cli.flags import add_config_arguments, config_from_args
from brushwork.config import TrainConfig
from brushwork.errors import EXIT_PARTIAL, DiskFullError
from brushwork.progress import Progress

#: Unreadable photos named on stderr at the end of a run (all of them are in OUTPUT/skipped.txt).
SHOWN_SKIPPED = 10


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a fast style network for one painting on a folder of photos (by default the "
        "arbitrary-style network with the painting folded in, fine-tuned: the shipped models' recipe)",
        description="Train a fast style network to paint photos in the style of STYLE_IMAGE. Recipes "
        "(--recipe; a flag you give overrides its value): magenta, the default, is how the shipped models "
        "were made: an arbitrary-style network (--network: the one `brushwork apply --style` runs, "
        "brushwork's own or Magenta's; recorded in the model's metadata) with the painting's style "
        "folded in, fine-tuned with relative VGG losses on relu1_1..relu5_1 (relu1_1 x4), "
        "content at relu4_2; its 50 steps beat the arbitrary network on held-out photos of its painting "
        "(style ratio ~0.7x, SSIM ~1x) in about 5 CPU-minutes on a 2-core CPU (docs/fast.md). "
        "johnson is the old default: a TransformerNet (Johnson et al. 2016) from "
        "random weights with raw Gram losses; use it to --resume a run made before --recipe existed, or "
        "to train a network of your own shape (--width, --channels, --res-blocks). While it trains, "
        "held-out photos are measured every --sample-every steps (style ratio and SSIM, against the "
        "arbitrary network's on the same photos) into OUTPUT/losses.csv and the plot. --minutes stops "
        "it on time (model saved; --resume continues). --init FILE fine-tunes a model file. Several "
        "processes: torchrun --standalone --nproc_per_node=2 -m brushwork train ...",
    )
    p.add_argument("style_image", help="the painting")
    p.add_argument("--data", required=True, help="folder (searched recursively) of training photos")
    p.add_argument("-o", "--output", required=True, help="output folder (model, checkpoint, samples, logs)")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint.safetensors")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_config_arguments(p, TrainConfig)
    p.set_defaults(run=run)


def _clock(seconds: float) -> str:
    """``1:05:09`` / ``5:09``."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _shown(step: Progress, kept: dict[str, str]) -> Progress:
    """The bar's record of a training step: epoch, loss, pace, ETA and the latest validation's figures
    against the arbitrary network (``kept``: they stay on the bar until the next validation)."""
    from brushwork.fast.train import validation_figures

    figures = validation_figures(step)
    if figures:
        kept["vs_arbitrary"] = f"style {figures['val_style_x']:.2f}x ssim {figures['val_ssim_x']:.2f}x"
    return Progress(step.done, step.total, "step", info={
        "epoch": step.info["epoch"], "loss": f"{step.losses['total']:.4g}",
        "img_s": f"{float(step.info['img_s']):.2f}", **kept,
        "eta": _clock(step.eta) if step.eta is not None else "?"})


def _remove_run(training) -> None:
    """A new run that the disk stopped before its first checkpoint: its files are partial (nothing can
    resume them), so they go: the sample grids, the logs, the folders if empty."""
    import shutil

    from brushwork.fast.checkpoint import CHECKPOINT, FINAL_MODEL, LOSS_PLOT, LOSSES_CSV, SAMPLES, SKIPPED

    shutil.rmtree(training.out / SAMPLES, ignore_errors=True)
    for name in (CHECKPOINT, FINAL_MODEL, LOSSES_CSV, LOSS_PLOT, SKIPPED):
        with contextlib.suppress(OSError):
            (training.out / name).unlink()
    with contextlib.suppress(OSError):
        training.out.rmdir()


def _warn_space(training) -> None:
    """Warn before the loop when the disk looks too small: the checkpoint (weights and Adam's two
    moments, and its temporary copy), the model file and the sample grids still to come."""
    from brushwork.cli.disk import warn_space

    weights = sum(p.numel() * p.element_size() for p in training.net.parameters())
    config = training.config
    grids = 0
    if training.val_photos is not None and config.sample_every:
        grid = training.val_photos.numel() * 2  # the photos and their results, a byte a channel
        grids = grid * (max(0, training.total_steps - training.start) // config.sample_every + 1)
    warn_space(training.out, weights * 7 + grids + 2**20)


def run(args: argparse.Namespace) -> int:
    from brushwork.cli.progress import ProgressBar
    from brushwork.fast.train import Training, TrainingInterrupted

    config = config_from_args(TrainConfig, args)
    started = time.perf_counter()
    with ProgressBar(unit="B") as download:
        training = Training(args.style_image, args.data, args.output, config, resume=args.resume,
                            download=download)
    main = training.dist.main  # under torchrun only the first process draws and prints
    if training.finished:  # --resume of a finished run: nothing to do, no file touched
        if main:
            print(f"{training.out} is already finished ({training.start} of {training.total_steps} steps; "
                  f"model in {training.out / 'model.safetensors'}); nothing to do, no file changed")
        return 0
    for note in training.notes if main else ():
        print(f"brushwork: warning: {note}", file=sys.stderr)
    if main:
        _warn_space(training)
    with ProgressBar(quiet=args.quiet or not main, unit="step") as bar:
        kept: dict[str, str] = {}
        if training.start:
            bar(Progress(training.start, training.total_steps, "step"))
        try:
            final = training.fit(lambda step: bar(_shown(step, kept)))
        except DiskFullError as exc:  # checkpoints so far are whole: free space, then --resume
            bar.close()
            if main and (training.out / "checkpoint.safetensors").is_file():
                exc.args = (f"{exc.args[0]}; the last checkpoint is whole: continue with --resume",)
            elif main:  # nothing to resume from: take back what this run wrote (samples, logs, folder)
                _remove_run(training)
            raise
        except TrainingInterrupted as exc:
            bar.close()
            if main and exc.saved_step is not None:
                print(f"interrupted at step {exc.saved_step}; checkpoint saved, continue with --resume",
                      file=sys.stderr)
            elif main:
                print("interrupted; continue from the last checkpoint with --resume", file=sys.stderr)
            raise
    skipped = list(training.skipped.values())
    if main and skipped:  # listed even with --quiet: the exit code says some photos were not used
        print(f"skipped {len(skipped)} unreadable file(s) of {len(training.files) + len(training.rejected)} "
              f"(all in {training.out / 'skipped.txt'}):", file=sys.stderr)
        for reason in skipped[:SHOWN_SKIPPED]:
            print(f"  {reason}", file=sys.stderr)
    if main:
        figures = next((r for r in reversed(training.rows) if r.get("val_style_x")), None)
        against = (f"; held-out photos: style ratio {float(figures['val_style_x']):.2f}x and SSIM "
                   f"{float(figures['val_ssim_x']):.2f}x the arbitrary network's" if figures else "")
        print(f"wrote {final} in {(time.perf_counter() - started) / 60:.1f} min" + against
              + (f"; {len(skipped)} photo(s) skipped" if skipped else ""))
    # Under torchrun a non-zero code reads as a crashed worker: there the list above must do.
    return EXIT_PARTIAL if skipped and training.dist.world == 1 else 0
