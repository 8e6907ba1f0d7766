"""The Ray Data actor that paints a batch's photos and writes the results itself.

One ``StylizeActor`` per worker: its constructor loads the run's model (or VGG19 for Gatys) once and
sets the inference threads to the CPUs Ray gave it; each call gets a batch of plan rows and returns
one result row per input (done / skipped / failed, the reason, seconds, which worker). Fast networks
run through the painters ``brushwork apply`` uses (``painters.ModelPainter``, ``media.load_photo``,
``save_image``), so for a per-style model the files are the same pixels. Every output is written
atomically (temporary file + rename, ``save_image``): a worker killed mid-write leaves at most a hidden
temporary file, never a half-written output, and the retried batch skips what was already written.
Nothing an input can do raises out of a call: a bad image is a failed row.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import typing
from collections import OrderedDict
from pathlib import Path

from brushwork.batch.plan import Item, Painting, item_config, region_config
from brushwork.config import ApplyConfig, StylizeConfig
from brushwork.errors import BrushworkError

#: Result columns, in the order of batch_report.csv; ``finished`` is when (Unix time, the worker's clock).
#: How a done row's reason starts when the picture was painted with a warning (regions: no person found).
WARNING = "warning: "
RESULT_COLUMNS = ("index", "input", "output", "status", "reason", "seconds", "worker", "painting", "finished")
#: Loaded stylizers an actor keeps (a manifest may give rows their own models or paintings).
_CACHE_SIZE = 8


def valid_output(path: Path) -> bool:
    """An output that exists and reads as a complete image (Pillow's structural check, no decode)."""
    from PIL import Image

    try:
        if path.stat().st_size == 0:
            return False
        with Image.open(path) as image:
            image.verify()
        return True
    except Exception:  # noqa: BLE001 - whatever Pillow raises, the file is not a finished output
        return False


def reason_of(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text if isinstance(exc, BrushworkError) else f"{type(exc).__name__}: {text}".rstrip(": ")


def _item(row: dict[str, typing.Any]) -> Item:
    return Item(int(row["index"]), str(row["input"]), str(row["output"]), Painting(str(row["kind"]),
                str(row["ref"])), json.loads(row["options"] or "{}"),
                regions=json.loads(row.get("regions") or "{}"))


def _rows(batch: dict[str, typing.Any]) -> list[dict[str, typing.Any]]:
    """Ray's column batch (numpy arrays) as a list of row dicts."""
    columns = {k: list(v) for k, v in batch.items()}
    count = len(next(iter(columns.values()), []))
    return [{k: v[i] for k, v in columns.items()} for i in range(count)]


class StylizeActor:
    """A callable class for ``Dataset.map_batches``: Ray Data keeps a pool of these actors.

    ``started`` is the run's start (epoch seconds): an output written since then by an earlier
    attempt of a retried batch (its worker died after writing it) counts as done, not skipped."""

    def __init__(self, apply: ApplyConfig, stylize: StylizeConfig, default: Painting | None,
                 threads: int, overwrite: bool = False, started: float = 0.0):
        import torch

        torch.set_num_threads(max(1, threads))
        self.apply = apply.replace(threads=max(1, threads))
        self.stylize = stylize
        self.overwrite = overwrite
        self.started = started
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._painters: OrderedDict[tuple, typing.Any] = OrderedDict()
        self._paintings: dict[str, typing.Any] = {}
        if default is not None:  # load the model once, before the first photo arrives
            # Never a dead actor (Ray would print its traceback and retry it): each row meets the error.
            with contextlib.suppress(Exception):
                self._painter(default, self.stylize if default.kind == "gatys" else self.apply)

    # --- loading, once per actor ---------------------------------------------------------------
    def _painting(self, path: str):
        from brushwork.images import open_image

        if path not in self._paintings:
            self._paintings[path] = open_image(path)
        return self._paintings[path]

    def _painter(self, painting: Painting, config: ApplyConfig | StylizeConfig):
        """A loaded ``ModelPainter`` (fast kinds, kept per actor) or a ``GatysPainter`` (its VGG19 loss
        network cached per process)."""
        from brushwork.painters import GatysPainter, ModelPainter

        if painting.kind == "gatys":
            self._painting(painting.ref)
            return GatysPainter(config)
        # The arbitrary network bakes strength and blend into the loaded net, and which network it is;
        # models do not.
        arbitrary = (config.strength, config.network) if painting.kind == "arbitrary" else None
        key = (painting.kind, painting.ref, arbitrary)
        if key not in self._painters:
            if len(self._painters) >= _CACHE_SIZE:
                self._painters.popitem(last=False)
            ref, styles = (None, [painting.ref]) if painting.kind == "arbitrary" else (painting.ref, None)
            self._painters[key] = ModelPainter(ref, config, paintings=styles)
        self._painters.move_to_end(key)
        return self._painters[key]

    # --- one call: a batch of rows --------------------------------------------------------------
    def __call__(self, batch: dict[str, typing.Any]) -> dict[str, list]:
        results = self.paint([_item(row) for row in _rows(batch)])
        return {c: [r[c] for r in results] for c in RESULT_COLUMNS}

    def paint(self, items: list[Item]) -> list[dict[str, typing.Any]]:
        """One result row per item, in order; fast-network items are stylised in groups."""
        results: dict[int, dict] = {}
        groups: dict[tuple, list[tuple[Item, typing.Any, float]]] = {}
        for item in items:
            started = time.perf_counter()
            existing = self._existing(item)
            if existing is not None:
                results[item.index] = self._row(item, *existing, started)
                continue
            try:
                config = item_config(item, self.apply, self.stylize)
                if item.regions:  # a painting per region: painted alone (its own mask)
                    warnings = self._regions(item, config)
                    results[item.index] = self._row(item, "done", "; ".join(warnings), started)
                    continue
                if item.painting.kind == "gatys":
                    self._gatys(item, config)
                    results[item.index] = self._row(item, "done", "", started)
                    continue
                tensor = self._load(item, config)
            except Exception as exc:  # noqa: BLE001 - one bad input is a failed row, never a dead actor
                results[item.index] = self._row(item, "failed", reason_of(exc), started)
                continue
            key = (item.painting, json.dumps(item.options, sort_keys=True))
            groups.setdefault(key, []).append((item, tensor, time.perf_counter() - started))
        for members in groups.values():
            results.update(self._paint_group(members))
        return [results[item.index] for item in items]

    def _existing(self, item: Item) -> tuple[str, str] | None:
        target = Path(item.target)
        if self.overwrite or not valid_output(target):
            return None
        if target.stat().st_mtime >= self.started > 0:
            return "done", "written by an earlier attempt of this batch (its worker was restarted)"
        return "skipped", "output exists"

    def _load(self, item: Item, config: ApplyConfig):
        """The photo exactly as ``brushwork apply`` loads it (upright sRGB, checked, resized)."""
        from brushwork.media import load_photo  # apply's own loader: the same pixels, the same refusals

        return load_photo(Path(item.source), config.size)

    def _paint_group(self, members: list[tuple[Item, typing.Any, float]]) -> dict[int, dict]:
        """Items sharing a painting and options, stylised together as ``apply`` batches them; if the
        group fails, each item is tried alone so one bad photo cannot fail the others."""
        from brushwork.images import save_image

        first = members[0][0]
        started = time.perf_counter()
        try:
            config = item_config(first, self.apply, self.stylize)
            painter = self._painter(first.painting, config)
            outputs = painter.paint_tensors([t for _, t, _ in members], config)
        except Exception as exc:  # noqa: BLE001
            if len(members) > 1:
                out: dict[int, dict] = {}
                for member in members:
                    out.update(self._paint_group([member]))
                return out
            return {first.index: self._row(first, "failed", reason_of(exc), started, members[0][2])}
        share = (time.perf_counter() - started) / len(members)
        rows = {}
        for (item, _, loading), y in zip(members, outputs):
            saving = time.perf_counter()
            try:
                Path(item.target).parent.mkdir(parents=True, exist_ok=True)
                save_image(y, item.target)
                status, reason = "done", ""
            except Exception as exc:  # noqa: BLE001 - an unwritable output is that item's failure
                status, reason = "failed", reason_of(exc)
            rows[item.index] = self._row(item, status, reason, saving, loading + share)
        return rows

    def _regions(self, item: Item, config: ApplyConfig | StylizeConfig) -> list[str]:
        """One item with its own regions, as ``brushwork apply`` / ``stylize`` paint them with
        ``--mask``/``--regions auto`` (``brushwork.regions``); a corrupt mask or a ``region`` name the
        mask does not have raises, so the row fails with that one line. Returns the warnings of a
        picture that was still painted (``warning: ...``: no person found, a mask of one colour), for
        the done row's reason."""
        from brushwork.images import open_image, save_image
        from brushwork.regions import RegionPainter, stylize_regions

        regions = region_config(item)
        warnings: list[str] = []

        def warn(message: str) -> None:
            warnings.append(f"{WARNING}{message}")

        if item.painting.kind == "gatys":
            vgg = self._painter(item.painting, config).vgg
            image = stylize_regions(open_image(item.source), [self._painting(item.painting.ref)], config,
                                    regions, vgg=vgg, content_name=item.source, warn=warn)
        else:
            painter = RegionPainter(self._painter(item.painting, config).stylizer, config, regions, warn=warn)
            image = painter.paint_tensor(self._load(item, config), item.source)
        Path(item.target).parent.mkdir(parents=True, exist_ok=True)
        save_image(image, item.target)
        return warnings

    def _gatys(self, item: Item, config: StylizeConfig) -> None:
        from brushwork.images import open_image, save_image

        painter = self._painter(item.painting, config)
        image = painter.paint(open_image(item.source), self._painting(item.painting.ref))
        Path(item.target).parent.mkdir(parents=True, exist_ok=True)
        save_image(image, item.target)

    def _row(self, item: Item, status: str, reason: str, started: float, extra: float = 0.0) -> dict:
        return {"index": item.index, "input": item.source, "output": item.target, "status": status,
                "reason": reason, "seconds": round(time.perf_counter() - started + extra, 4),
                "worker": self.worker, "painting": item.painting.label, "finished": round(time.time(), 3)}
