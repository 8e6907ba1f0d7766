"""Training photos: listing, a seeded train/validation split, seeded crops, per-step batches.

Every random choice is derived from ``seed`` and the step number (``seeded_generator``), never
from a running generator, so a resumed or sharded run sees exactly the crops an uninterrupted
single-process run would have seen.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from PIL import Image

from brushwork.errors import ConfigError, ImageError
from brushwork.images import MIN_SIDE, check_side, image_to_tensor, open_image, walk_files

#: Fewest readable photos a run trains on: fewer would be learnt by heart, not generalised from.
MIN_PHOTOS = 8
#: Most elongated photo a square crop is taken from: the crop first scales the short side up to the
#: crop size, so a 16x100000 strip would become gigapixels; such a photo is skipped and named.
MAX_ASPECT = 32


def list_photos(folder: str | os.PathLike, rejected: dict[Path, str] | None = None) -> list[Path]:
    """Every non-hidden file under ``folder``, sorted; what is not a readable image is skipped later.
    Pipes, devices and broken links are never opened: ``rejected`` hears them, with the reason."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder of photos")
    odd: list[tuple[Path, str]] = []
    files = walk_files(root, rejected=odd)
    if rejected is not None:
        rejected.update(odd)
    if not files:
        raise ConfigError(f"{root}: no files found" + (f" (only {odd[0][1]})" if odd else ""))
    return files


def check_photo(image: Image.Image, path: Path) -> None:
    """A training photo must give a square crop: at least MIN_SIDE px a side, not a thin strip."""
    check_side(image, str(path), None, MIN_SIDE)
    if max(image.size) > MAX_ASPECT * min(image.size):
        raise ImageError(f"{path}: {image.width}x{image.height} pixels is too elongated to crop squares "
                         f"from (over 1:{MAX_ASPECT})")


def split_photos(files: list[Path], val_fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """A fixed, seeded train/validation split (at least one photo each side when possible)."""
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = min(max(1, round(len(files) * val_fraction)), len(files) - 1) if len(files) > 1 else 0
    val = sorted(files[i] for i in order[:n_val])
    train = [files[i] for i in sorted(order[n_val:])]
    return train, val


def seeded_generator(*keys: int) -> torch.Generator:
    """A generator whose seed is a fixed function of the keys (seed, step, ...)."""
    digest = hashlib.sha256(json.dumps(keys).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


def random_crop(image: Image.Image, size: int, gen: torch.Generator) -> torch.Tensor:
    """Resize the short side to size·U(1, 1.25), take a random size×size crop, flip half the time."""
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
    """The central size×size square after resizing the short side to ``size``."""
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
        for offset in range(len(self.files)):
            i = (index + offset) % len(self.files)
            path = self.files[i]
            if path in self.bad:
                continue
            try:
                image = open_image(path)
                check_photo(image, path)
                return i, image
            except ImageError as exc:
                self.bad[path] = str(exc)
        first = next(iter(self.bad.values()), "")
        raise ConfigError(f"none of the {len(self.files)} photo(s) could be used (first: {first})")


def check_enough_photos(source: PhotoSource, folder: str | os.PathLike, minimum: int = MIN_PHOTOS,
                        rejected: dict[Path, str] | None = None) -> None:
    """Refuse, before any work, a training set with fewer than ``minimum`` readable photos (opens them
    until that many are found, so a large folder costs only ``minimum`` reads). ``rejected``: the
    folder's entries never opened (pipes, sockets, broken links: ``list_photos``), counted and named
    in the message too, so a refusal says which file was not a photo."""
    readable = 0
    for path in source.files:
        if readable >= minimum:
            return
        try:
            check_photo(open_image(path), path)
            readable += 1
        except ImageError as exc:
            source.bad[path] = str(exc)
    if readable < minimum:
        unusable = {**(rejected or {}), **source.bad}
        first = next(iter(unusable.values()), "")
        total = len(source.files) + len(rejected or {})
        raise ConfigError(f"{folder}: {readable} readable photo(s) of {total}; "
                          f"training needs at least {minimum}"
                          + (f" (first unreadable: {first})" if first else ""))


def validation_pictures(source: PhotoSource, count: int) -> list[Image.Image]:
    """Up to ``count`` distinct readable photos, whole (the validation figures' photos)."""
    pictures, seen = [], set()
    for index in range(len(source)):
        if len(pictures) == count:
            break
        try:
            i, image = source.load(index)
        except ConfigError:  # none readable
            break
        if i not in seen:
            seen.add(i)
            pictures.append(image)
    return pictures


def validation_photos(source: PhotoSource, count: int, size: int) -> torch.Tensor | None:
    """Up to ``count`` distinct readable photos, centre-cropped to ``size`` [N, 3, size, size]."""
    photos, seen = [], set()
    for index in range(len(source)):
        if len(photos) == count:
            break
        try:
            i, image = source.load(index)
        except ConfigError:  # none readable
            continue
        if i in seen:
            continue
        seen.add(i)
        photos.append(center_crop(image, size))
    return torch.stack(photos) if photos else None


def batch_indices(step: int, n: int, batch: int, rank: int, world: int, seed: int) -> list[int]:
    """Photo indices of one process's batch at ``step``: a fresh seeded permutation every epoch."""
    per_step = batch * world
    per_epoch = max(1, n // per_step)  # incomplete tail batches are dropped
    epoch, position = divmod(step, per_epoch)
    order = torch.randperm(n, generator=seeded_generator(seed, epoch, 1)).tolist()
    start = position * per_step + rank * batch
    return [order[(start + k) % n] for k in range(batch)]


def steps_per_epoch(n: int, batch: int, world: int) -> int:
    return max(1, n // (batch * world))


def training_batch(source: PhotoSource, step: int, size: int, batch: int, rank: int, world: int,
                   seed: int) -> torch.Tensor:
    """The crops [batch, 3, size, size] one process trains on at ``step``: fixed by the arguments
    (and by which photos turned out unreadable), whatever ran before."""
    crops = []
    for k, index in enumerate(batch_indices(step, len(source), batch, rank, world, seed)):
        _, image = source.load(index)
        crops.append(random_crop(image, size, seeded_generator(seed, step, rank, k)))
    return torch.stack(crops)
