"""What can be checked in the driver before Ray starts: that every painting of a plan loads, that the
output folder takes files, and which outputs are already there (``check_outputs``): a batch with
nothing left to do, or an unwritable output, ends in a second or two and starts no Ray.

A model name with a typo, a painting that is missing or corrupt, a model file that is not one: each
would otherwise surface inside a Ray actor (its constructor loads the run's painting), as pages of
Ray tracebacks after seconds of start-up. Here they are found in the driver, as one line: the
painting of the whole run (``--model``/``--style``/``--gatys``) raises; a manifest row's own painting
that does not load makes that row a failed one, as a row with a bad option is.
"""

from __future__ import annotations

from pathlib import Path

from brushwork.batch.plan import Item, Painting
from brushwork.batch.worker import valid_output
from brushwork.config import NETWORKS
from brushwork.errors import BrushworkError, ConfigError, ImageError
from brushwork.fast.inference import MIN_PAINTING_SIDE, OnnxStylizer, resolve_model
from brushwork.fileio import check_output_dir
from brushwork.images import open_image
from brushwork.networks.arbitrary_weights import load_transfer_weights
from brushwork.networks.model_files import load_transformer


def check_painting(painting: Painting) -> None:
    """Raise the one-line ``BrushworkError`` a worker would meet loading ``painting``, as cheaply as
    that can be known: a model is resolved (a shipped name, else a file) and its network built from
    the file (no runtime is chosen, nothing is exported); a painting is decoded as ``open_image``
    does, with the arbitrary network's size check for ``--style``."""
    if painting.kind == "model":
        path = resolve_model(painting.ref)
        try:
            if path.suffix.lower() == ".onnx":
                OnnxStylizer(path)
            else:
                load_transformer(path)
        except BrushworkError:
            raise
        except Exception as exc:  # noqa: BLE001 - a file that is no model: whatever its loader raises
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"{painting.ref}: not a model file brushwork can load ({text})") from None
        return
    image = open_image(painting.ref)
    if painting.kind == "arbitrary" and min(image.size) < MIN_PAINTING_SIDE:
        raise ImageError(f"{painting.ref}: a painting of {image.width}x{image.height} pixels is too "
                         f"small to show a style; give one at least {MIN_PAINTING_SIDE} px on each side")


def check_plan(items: list[Item], default: Painting | None) -> None:
    """``check_painting`` once per painting of the plan: ``default`` (the run's) raises, a row's own
    painting that fails gives that row its ``error``."""
    if default is not None:
        check_painting(default)
    problems: dict[Painting, str] = {}
    for item in items:
        if item.error or item.painting == default:
            continue
        if item.painting not in problems:
            try:
                check_painting(item.painting)
                problems[item.painting] = ""
            except BrushworkError as exc:
                problems[item.painting] = str(exc)
        item.error = problems[item.painting]


def check_networks(items: list[Item], network: str) -> None:
    """Load every arbitrary-style network the plan's ``style`` rows paint with (``network``, the run's
    ``--network``, or a row's own ``network`` column), so a missing or damaged weights file is the one
    line of its WeightsError here, before Ray starts, not the reason of every row. A row's unknown
    network name is left to that row (its option error)."""
    wanted = {item.options.get("network", network) for item in items
              if item.painting.kind == "arbitrary" and not item.error}
    if wanted & set(NETWORKS):
        for name in sorted(wanted & set(NETWORKS)):
            load_transfer_weights(name)


def check_outputs(items: list[Item], output_dir: str | Path, overwrite: bool = False) -> set[int]:
    """Before Ray: the output folder (made later, ``fileio.check_output_dir``) takes a file (a real
    probe: root passes ``os.access`` on a read-only mount), and the free space is known. Returns the
    indices of the items whose output already exists as a complete image (the workers would skip them:
    ``worker.valid_output``); with ``overwrite`` none is."""
    check_output_dir(output_dir)
    if overwrite:
        return set()
    return {i.index for i in items if not i.error and i.target and valid_output(Path(i.target))}


#: Bytes per pixel of a painted picture on disk, by the output's format (photos: PNG ~1.5 of the
#: raw 3, JPEG quality 95 ~0.3); an estimate for a free-space warning, not a limit.
_BYTES_PER_PIXEL = {".png": 1.5, ".bmp": 3.0, ".tif": 3.0, ".tiff": 3.0}
_COMPRESSED_BYTES_PER_PIXEL = 0.3


def output_bytes(items: list[Item], size: int | None = None) -> int:
    """About what the plan's missing outputs will take: each input's pixels at the output size (its
    own, or ``size`` on the long side) times its format's bytes per pixel. Unreadable inputs count 0
    (they fail as rows of their own)."""
    from PIL import Image

    total = 0.0
    for item in items:
        if item.error or not item.target or Path(item.target).exists():
            continue
        try:
            with Image.open(item.source) as image:
                width, height = image.size
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
        if size:
            scale = size / max(width, height)
            width, height = width * scale, height * scale
        per_pixel = _BYTES_PER_PIXEL.get(Path(item.target).suffix.lower(), _COMPRESSED_BYTES_PER_PIXEL)
        total += width * height * per_pixel
    return int(total)
