"""Training state on disk: checkpoints (weights, Adam state, step), resume checks, the losses CSV.

A checkpoint is safetensors (no pickle): ``model.*`` and ``optim.<index>.<name>`` tensors plus
string metadata (step, the run's config as JSON, the style image's SHA-256, Adam's param groups).
The seeded data pipeline (``brushwork.fast.data``) makes this all a resume needs.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from brushwork.config import RESUMABLE_CHANGES, TrainConfig
from brushwork.errors import ConfigError
from brushwork.fileio import atomic_path, write_csv

CHECKPOINT = "checkpoint.safetensors"
FINAL_MODEL = "model.safetensors"
LOSSES_CSV = "losses.csv"
LOSS_PLOT = "loss_plot.png"
SAMPLES = "samples"
SKIPPED = "skipped.txt"
#: Seconds of training so far (every invocation of the run, setting up included): the curve's minutes.
ELAPSED_FIELD = "elapsed_s"
#: CPU seconds of the training process so far (every invocation): on a shared machine, CPU seconds / cores
#: is what the wall time would have been with the cores to itself.
CPU_FIELD = "cpu_s"
#: Validation figures (``brushwork.fast.validation``), on the rows of the steps that were validated.
VALIDATION_FIELDS = ("val_style", "val_deep", "val_ssim", "val_style_x", "val_ssim_x")
CSV_FIELDS = ("step", "epoch", "content", "style", "tv", "total", "images_per_s", "val_total",
              *VALIDATION_FIELDS, ELAPSED_FIELD, CPU_FIELD)
#: Column of the ``--temporal-weight`` term, written (after ``tv``) only by runs that have it.
TEMPORAL_FIELD = "temporal"


def config_json(config: TrainConfig) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def save_checkpoint(path: Path, net, optimizer, step: int, config: TrainConfig, style_hash: str) -> None:
    """Weights + Adam state + step, as safetensors (no pickle), atomically."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    state = optimizer.state_dict()
    for index, values in state["state"].items():
        for key, value in values.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"optim.{index}.{key}"] = tensor.detach().cpu().contiguous()
    meta = {"step": str(step), "config": config_json(config), "style_sha256": style_hash,
            "param_groups": json.dumps(state["param_groups"])}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint(path: Path, net, optimizer, device, check: Callable[[dict], None] | None = None
                    ) -> tuple[int, dict]:
    """Restore weights and optimiser state; ``check(meta)`` vets the stored settings first."""
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


def check_resume(meta: dict, config: TrainConfig, style_hash: str) -> None:
    """Refuse to resume with settings that would change the result, or with another painting."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    # Options added since keep their default, except the network: runs made before --network existed
    # started from (and were measured against) Magenta's.
    old = {**defaults, "network": "magenta", **json.loads(meta["config"])}
    new = dataclasses.asdict(config)
    changed = [k for k in new if k not in RESUMABLE_CHANGES and json.dumps(old.get(k)) != json.dumps(new[k])]
    if changed:
        k = changed[0]
        # Runs made before --recipe existed used what is now --recipe johnson.
        hint = " (it was made before --recipe existed: add --recipe johnson)" \
            if "recipe" not in json.loads(meta["config"]) and config.recipe != "johnson" else ""
        raise ConfigError(f"cannot resume: the checkpoint was trained with {k}={old.get(k)!r}, "
                          f"now {new[k]!r}; pass the same options (or start a new output folder){hint}")
    if meta.get("style_sha256") != style_hash:
        raise ConfigError("cannot resume: the checkpoint was trained on a different style image")


def write_losses(path: Path, rows: list[dict]) -> None:
    fields = list(CSV_FIELDS)
    if any(row.get(TEMPORAL_FIELD) not in (None, "") for row in rows):
        fields.insert(fields.index("tv") + 1, TEMPORAL_FIELD)
    write_csv(path, rows, fields)


def read_losses(path: Path, up_to_step: int) -> list[dict]:
    """The rows of a losses CSV up to ``up_to_step`` (a resumed run drops what followed its checkpoint)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if int(row["step"]) <= up_to_step]
