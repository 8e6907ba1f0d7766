"""What a training run shows of itself: the loss plot and the sample grids."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from brushwork.config import TrainConfig
from brushwork.fileio import atomic_path
from brushwork.images import tensor_to_image
from brushwork.networks.transformer import TransformerSpec

#: Narrowest wrap tried for a long plot title (characters per line).
_MIN_TITLE_CHARS = 24


def plot_title(style_name: str, config: TrainConfig) -> str:
    """``painting.jpg: vgg19, channels 32-64-128-64-32, 5 res blocks, style weight 0.05``."""
    if config.init == "arbitrary":
        return (f"{style_name}: Magenta's network with the painting folded in, {config.loss_network}, "
                f"{config.loss_scaling} losses, style weight {config.style_weight:g}, lr {config.lr:g}")
    spec = TransformerSpec(config.width, config.res_blocks, config.channels, config.edge_kernel)
    return (f"{style_name}: {config.loss_network}, channels {'-'.join(map(str, spec.plan))}, "
            f"{spec.res_blocks} res blocks, style weight {config.style_weight:g}")


def _fit_title(fig: Figure, ax, title: str) -> None:
    """Set ``title`` over ``ax``, wrapped onto more lines until it lies inside the figure.

    The title is centred on the axes, not on the figure, so it must fit twice the distance from
    the axes' centre to the nearer edge of the figure (a centred title that is merely narrower
    than the figure can still be clipped at one end).
    """
    renderer = fig.canvas.get_renderer()
    text = ax.set_title(title, fontsize="medium")
    box = ax.get_window_extent(renderer)
    centre = (box.x0 + box.x1) / 2
    room = 2 * min(centre, fig.bbox.width - centre) - 8  # a few pixels of margin
    chars = len(title)
    while text.get_window_extent(renderer).width > room and chars > _MIN_TITLE_CHARS:
        chars = max(_MIN_TITLE_CHARS, int(chars * 0.9))
        text.set_text(textwrap.fill(title, chars))


def _validation_panel(ax, rows: list[dict], baseline: dict | None) -> None:
    """Held-out figures against the step: style ratio (lower = more of the painting) and SSIM, as solid
    lines, with the arbitrary-style network's on the same photos dashed."""
    val = [r for r in rows if r.get("val_style")]
    steps = [int(r["step"]) for r in val]
    for key, base_key, color, label in (("val_style", "style", "C2", "style ratio"),
                                        ("val_ssim", "ssim", "C0", "SSIM")):
        ax.plot(steps, [float(r[key]) for r in val], "o-", color=color, markersize=3, label=label)
        if baseline:
            ax.axhline(baseline[base_key], color=color, linestyle="--", linewidth=1,
                       label=f"{label}, arbitrary network")
    last = val[-1]
    ax.set_title(f"held-out photos: style {float(last['val_style_x']):.2f}x, SSIM "
                 f"{float(last['val_ssim_x']):.2f}x the arbitrary network's", fontsize="small")
    ax.set_xlabel("step")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")


def loss_figure(rows: list[dict], title: str, baseline: dict | None = None) -> Figure:
    """Weighted loss terms against the step, log scale; validation loss as dots; and, when the run
    measured them, the validation figures against the arbitrary-style network's (a second panel)."""
    validated = any(r.get("val_style") for r in rows)
    fig = Figure(figsize=(12 if validated else 7, 4), dpi=100)
    FigureCanvasAgg(fig)
    if validated:
        ax, val_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [7, 5]})
        _validation_panel(val_ax, rows, baseline)
    else:
        ax = fig.subplots()
    steps = [int(r["step"]) for r in rows]
    window = max(1, len(rows) // 50)  # per-step losses are noisy: draw a running mean over them
    for key, color in (("total", "C0"), ("content", "C1"), ("style", "C2"), ("tv", "C3"), ("temporal", "C4")):
        values = [float(r.get(key) or 0) for r in rows]  # "temporal": only runs with --temporal-weight
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
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _fit_title(fig, ax, title)
    fig.tight_layout()  # room above the axes for a title wrapped onto several lines
    return fig


def plot_losses(path: Path, rows: list[dict], title: str, baseline: dict | None = None) -> None:
    """The loss figure as a PNG, written atomically."""
    fig = loss_figure(rows, title, baseline)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def sample_grid(photos: torch.Tensor, outputs: torch.Tensor) -> Image.Image:
    """Photos on the top row, their stylisations below."""
    top = torch.cat(list(photos), dim=2)
    bottom = torch.cat(list(outputs.clamp(0, 1)), dim=2)
    return tensor_to_image(torch.cat([top, bottom], dim=1))
