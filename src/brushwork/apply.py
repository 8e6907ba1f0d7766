"""``brushwork apply`` / ``export`` / ``models``: run trained fast style networks.

Inputs may be image files, folders (recursively, keeping the sub-folder layout) and videos
(frame rate and audio kept; PyAV / FFmpeg does the decoding and encoding). A model is a
``.safetensors`` file written by ``brushwork train``, an ``.onnx`` file written by
``brushwork export`` (run through onnxruntime), or the name of a shipped model.

Large images are stylised in overlapping tiles blended with linear ramps, so memory stays
bounded. Instance norm makes a plain tiled run inconsistent (each tile would be normalised with
its own statistics, giving visible tone steps), so for PyTorch models the normalisation
statistics are first measured on the whole image downscaled to one tile and then frozen for
every tile: the net becomes purely local and tiles agree in their overlaps. When the image is
no larger than that measurement size the statistics are exact and tiled output equals untiled
output away from the seams.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import sys
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch import nn

from brushwork.config import ApplyConfig
from brushwork.errors import BrushworkError, ConfigError, ImageError

VIDEO_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
                  ".gif": "gif", ".avi": "avi"}
_VIDEO_CODEC = {"mp4": "libx264", "mov": "libx264", "matroska": "libx264", "webm": "libvpx-vp9",
                "gif": "gif", "avi": "mpeg4"}
_AUDIO_CODEC = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus", "avi": "aac"}


# --- models ----------------------------------------------------------------------------------------
def resolve_model(ref: str | os.PathLike) -> Path:
    """A model file path, or the packaged file of a shipped model name."""
    from brushwork.models import find_shipped, shipped_models

    path = Path(ref)
    if path.is_file():
        return path
    shipped = find_shipped(str(ref))
    if shipped is not None:
        return shipped.path
    names = ", ".join(m.name for m in shipped_models()) or "none"
    raise ConfigError(f"{ref}: no such model file or shipped style (shipped: {names})")


@contextlib.contextmanager
def _instance_norm_stats(net: nn.Module, stats: list, capture: bool) -> Iterator[None]:
    """Capture each InstanceNorm's per-channel mean/var, or run every InstanceNorm with frozen ones."""
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]

    def make(i: int, module: nn.InstanceNorm2d):
        def forward(self, x):
            if capture:
                stats.append((x.mean((2, 3), keepdim=True), x.var((2, 3), unbiased=False, keepdim=True)))
                mean, var = stats[-1]
            else:
                mean, var = stats[i]
            y = (x - mean) * torch.rsqrt(var + self.eps)
            return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

        return types.MethodType(forward, module)

    for i, m in enumerate(norms):
        m.forward = make(i, m)
    try:
        yield
    finally:
        for m in norms:
            del m.forward


def tile_spans(length: int, tile: int, overlap: int, align: int = 4) -> list[tuple[int, int]]:
    """(start, end) of tiles covering ``length``, neighbours sharing about ``overlap`` pixels.

    Starts are multiples of ``align`` (the net's downsampling factor): a tile shifted by any other
    amount sees a different stride-2 sampling grid and gives a different picture.
    """
    if length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    stride = (length - tile) / (count - 1)
    starts = [int(round(i * stride)) // align * align for i in range(count)]
    return [(s, min(s + tile, length) if i < count - 1 else length) for i, s in enumerate(starts)]


def _ramp(length: int, start: int, size: int, overlap: int) -> torch.Tensor:
    """Blend weights along one side of a tile.

    At an edge that borders another tile, the outer half of the overlap gets weight 0 (it is
    only context, distorted by the padding at the tile's edge) and the inner half rises linearly,
    so neighbouring tiles cross-fade where both are already far from their own edges.
    """
    w = torch.ones(size)
    if overlap >= 2:
        half = overlap / 2
        edge = ((torch.arange(overlap, dtype=torch.float32) + 0.5 - half) / half).clamp(0, 1)
        if start > 0:
            w[:overlap] = torch.minimum(w[:overlap], edge)
        if start + size < length:
            w[-overlap:] = torch.minimum(w[-overlap:], edge.flip(0))
    return w


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, overlap: int,
              progress: Callable[[], None] | None = None) -> torch.Tensor:
    """Apply ``fn`` to overlapping tiles of ``x`` [1, 3, H, W] and blend the results seamlessly."""
    _, c, h, w = x.shape
    out = torch.zeros(1, c, h, w)
    total = torch.zeros(1, 1, h, w)
    for top, bottom in tile_spans(h, tile, overlap):
        for left, right in tile_spans(w, tile, overlap):
            th, tw = bottom - top, right - left
            piece = fn(x[..., top:bottom, left:right]).float().cpu()
            weight = _ramp(h, top, th, overlap)[:, None] * _ramp(w, left, tw, overlap)[None, :]
            out[..., top:top + th, left:left + tw] += piece * weight
            total[..., top:top + th, left:left + tw] += weight
            if progress is not None:
                progress()
    return out / total


class Stylizer:
    """A loaded model: ``batch(x)`` for same-sized images, ``large(x)`` for one image in tiles."""

    name: str = "model"
    runtime: str = "torch"

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def large(self, x: torch.Tensor, config: ApplyConfig, progress=None) -> torch.Tensor:
        return run_tiled(self.batch, x, config.tile_size, config.tile_overlap, progress)


class TorchStylizer(Stylizer):
    def __init__(self, path: Path, device: str = "cpu", threads: int = 0):
        from brushwork.networks.transformer import load_transformer

        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device(device)
        self.net, self.meta = load_transformer(path, self.device)
        self.name = path.name

    @torch.no_grad()
    def batch(self, x: torch.Tensor) -> torch.Tensor:
        from brushwork.networks.transformer import stylize_tensor

        return stylize_tensor(self.net, x.to(self.device)).cpu()

    @torch.no_grad()
    def large(self, x: torch.Tensor, config: ApplyConfig, progress=None) -> torch.Tensor:
        from brushwork.images import image_to_tensor, resize_longest, tensor_to_image
        from brushwork.networks.transformer import pad_to_multiple

        small = x
        if max(x.shape[-2:]) > config.stats_size:
            small = image_to_tensor(resize_longest(tensor_to_image(x), config.stats_size))
        stats: list = []
        with _instance_norm_stats(self.net, stats, capture=True):
            self.net(pad_to_multiple(small.to(self.device))[0])
        with _instance_norm_stats(self.net, stats, capture=False):
            return super().large(x, config, progress)


class OnnxStylizer(Stylizer):
    """onnxruntime on the CPU; the graph takes any H, W that are multiples of 4 (we pad)."""

    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int = 0):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError("running .onnx models needs onnxruntime: pip install onnxruntime") from None
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ConfigError(f"{path}: not a loadable ONNX model ({str(exc).splitlines()[0]})") from None
        self.input = self.session.get_inputs()[0].name
        self.name = path.name

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        from brushwork.networks.transformer import pad_to_multiple

        padded, (h, w) = pad_to_multiple(x.float())
        y = self.session.run(None, {self.input: padded.numpy()})[0]
        return torch.from_numpy(y)[..., :h, :w].clamp(0, 1)


def load_stylizer(ref: str | os.PathLike, config: ApplyConfig | None = None) -> Stylizer:
    config = config or ApplyConfig()
    path = resolve_model(ref)
    if path.suffix.lower() == ".onnx":
        return OnnxStylizer(path, config.threads)
    return TorchStylizer(path, config.device, config.threads)


# --- Python API (used by the web app and `brushwork evaluate`) -------------------------------------
def list_models() -> list:
    """The shipped models (``.name``, ``.title``, ``.path``)."""
    from brushwork.models import shipped_models

    return shipped_models()


def load_model(ref: str | os.PathLike, config: ApplyConfig | None = None) -> tuple[Stylizer, dict]:
    """A stylizer and its metadata (``style_image``, ``steps``, ...) from a file or shipped name."""
    stylizer = load_stylizer(ref, config)
    meta = getattr(stylizer, "meta", None)
    if meta is None:
        import onnxruntime  # noqa: F401  (OnnxStylizer loaded, so this import works)

        meta = dict(stylizer.session.get_modelmeta().custom_metadata_map)
    return stylizer, dict(meta)


def apply_model(model, photo, size: int | None = None, preserve_colors: bool = False,
                strength: float = 1.0, config: ApplyConfig | None = None):
    """Stylise one PIL image (or path) with a model (a Stylizer, file or shipped name) -> PIL image."""
    from brushwork.images import image_to_tensor, open_image, resize_longest, tensor_to_image

    config = (config or ApplyConfig()).replace(size=size, preserve_colors=preserve_colors, strength=strength)
    stylizer = model if isinstance(model, Stylizer) else load_stylizer(model, config)
    image = photo if hasattr(photo, "convert") else open_image(photo)
    image = image.convert("RGB")
    if size is not None:
        image = resize_longest(image, size)
    return tensor_to_image(stylize_images(stylizer, [image_to_tensor(image)], config)[0])


stylize_image = apply_model


def finish(stylized: torch.Tensor, original: torch.Tensor, config: ApplyConfig) -> torch.Tensor:
    """Colour preservation, then blending with the original (``--strength``)."""
    from brushwork.images import transfer_luminance

    if config.preserve_colors:
        stylized = torch.cat([transfer_luminance(s[None], o[None]) for s, o in zip(stylized, original)])
    if config.strength < 1:
        stylized = config.strength * stylized + (1 - config.strength) * original
    return stylized.clamp(0, 1)


def stylize_images(stylizer: Stylizer, images: list[torch.Tensor], config: ApplyConfig,
                   progress=None) -> list[torch.Tensor]:
    """Stylise [1,3,H,W] tensors: large ones in tiles, the rest batched by size."""
    results: list[torch.Tensor | None] = [None] * len(images)
    groups: dict[tuple, list[int]] = {}
    for i, x in enumerate(images):
        if x.shape[-2] * x.shape[-1] > config.tile_above * 1e6:
            results[i] = finish(stylizer.large(x, config), x, config)
        else:
            groups.setdefault(tuple(x.shape), []).append(i)
    for indices in groups.values():
        for k in range(0, len(indices), config.batch_size):
            chunk = indices[k:k + config.batch_size]
            x = torch.cat([images[i] for i in chunk])
            y = finish(stylizer.batch(x), x, config)
            for j, i in enumerate(chunk):
                results[i] = y[j:j + 1]
    return results  # type: ignore[return-value]


# --- inputs ----------------------------------------------------------------------------------------
@dataclass
class Job:
    source: Path
    target: Path
    video: bool


def _target_name(path: Path) -> Path:
    from brushwork.images import SAVE_FORMATS

    if path.suffix.lower() in SAVE_FORMATS or path.suffix.lower() in VIDEO_SUFFIXES:
        return path
    return path.with_suffix(".png")


def plan_jobs(inputs: list[str], output_dir: Path) -> list[Job]:
    """One job per file; folders are walked recursively and keep their layout under ``output_dir``."""
    jobs: list[Job] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            for f in files:
                jobs.append(Job(f, output_dir / _target_name(f.relative_to(path)),
                                f.suffix.lower() in VIDEO_SUFFIXES))
        elif path.is_file():
            jobs.append(Job(path, output_dir / _target_name(Path(path.name)),
                            path.suffix.lower() in VIDEO_SUFFIXES))
        else:
            raise ImageError(f"{path}: no such file or folder")
    targets = [j.target for j in jobs]
    if len(set(targets)) != len(targets):
        dup = next(t for t in targets if targets.count(t) > 1)
        raise ConfigError(f"two inputs would both be written to {dup}; apply them separately")
    return jobs


def _load_input(path: Path, config: ApplyConfig) -> torch.Tensor:
    from brushwork.images import image_to_tensor, open_image, resize_longest

    image = open_image(path)
    if config.size is not None:
        image = resize_longest(image, config.size)
    return image_to_tensor(image)


def apply_files(stylizer: Stylizer, jobs: list[Job], config: ApplyConfig, quiet: bool = False) -> list[str]:
    """Stylise image jobs in batches; returns one message per file that could not be read."""
    from tqdm import tqdm

    from brushwork.images import save_image

    failures: list[str] = []
    bar = tqdm(total=len(jobs), unit="img", disable=quiet, dynamic_ncols=True, file=sys.stderr)
    pending: list[tuple[Job, torch.Tensor]] = []

    def flush() -> None:
        outs = stylize_images(stylizer, [x for _, x in pending], config)
        for (job, _), y in zip(pending, outs):
            job.target.parent.mkdir(parents=True, exist_ok=True)
            save_image(y, job.target)
        bar.update(len(pending))
        pending.clear()

    for job in jobs:
        try:
            pending.append((job, _load_input(job.source, config)))
        except ImageError as exc:
            failures.append(str(exc))
            bar.update(1)
            continue
        if len(pending) >= config.batch_size * 2:
            flush()
    if pending:
        flush()
    bar.close()
    return failures


# --- video -----------------------------------------------------------------------------------------
def _even(n: int) -> int:
    return max(2, n - n % 2)


def apply_video(stylizer: Stylizer, source: Path, target: Path, config: ApplyConfig,
                quiet: bool = False) -> int:
    """Stylise every frame; keeps the frame timing and copies (or re-encodes) the audio. Returns frames."""
    try:
        import av
    except ImportError:
        raise ConfigError("video needs PyAV: pip install av") from None
    from tqdm import tqdm

    from brushwork.fileio import atomic_path
    from brushwork.images import image_to_tensor, resize_to

    fmt = VIDEO_SUFFIXES[target.suffix.lower()]
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "gif" and source.suffix.lower() == ".gif":
        return apply_gif(stylizer, source, target, config, quiet)
    try:
        inp = av.open(str(source))
    except Exception as exc:
        raise ImageError(f"{source}: not a readable video ({str(exc).splitlines()[0]})") from None
    with inp, atomic_path(target) as tmp:
        vin = next((s for s in inp.streams if s.type == "video"), None)
        if vin is None:
            raise ImageError(f"{source}: no video stream")
        ain = next((s for s in inp.streams if s.type == "audio"), None) if fmt != "gif" else None
        width, height = vin.codec_context.width, vin.codec_context.height
        if config.size is not None:
            scale = config.size / max(width, height)
            width, height = round(width * scale), round(height * scale)
        if fmt != "gif":
            width, height = _even(width), _even(height)  # yuv420p needs even sides
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        out = av.open(str(tmp), mode="w", format=fmt)
        with out:
            vout = out.add_stream(_VIDEO_CODEC[fmt], rate=rate)
            vout.width, vout.height = width, height
            vout.time_base = vin.time_base
            if fmt == "gif":
                vout.pix_fmt = "pal8"
            else:
                vout.pix_fmt = "yuv420p"
                vout.options = {"crf": str(config.video_crf)}
                if fmt == "webm":
                    vout.options = {"crf": str(config.video_crf + 13), "b": "0", "deadline": "good",
                                    "cpu-used": "4"}
            aout, copy_audio = _audio_stream(out, ain, fmt) if ain is not None else (None, False)
            total = vin.frames or None
            bar = tqdm(total=total, unit="frame", disable=quiet, dynamic_ncols=True, file=sys.stderr)
            pending: list = []
            count = 0
            next_pts = 0

            def flush() -> None:
                nonlocal count, next_pts
                images = [resize_to(f.to_image(), width, height) for f in pending]
                x = torch.cat([image_to_tensor(im) for im in images])
                y = stylize_images(stylizer, list(x.split(1)), config)
                for frame, yi in zip(pending, y):
                    array = (yi[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
                    new = av.VideoFrame.from_ndarray(array, format="rgb24")
                    pts = frame.pts if frame.pts is not None else next_pts
                    pts = max(pts, next_pts)  # the encoder needs strictly rising timestamps
                    new.pts, new.time_base = pts, vin.time_base
                    next_pts = pts + 1
                    for packet in vout.encode(new):
                        out.mux(packet)
                count += len(pending)
                bar.update(len(pending))
                pending.clear()

            streams = [vin] + ([ain] if aout is not None else [])
            for packet in inp.demux(*streams):
                if packet.stream.type == "audio":
                    if aout is None or packet.dts is None:
                        continue
                    if copy_audio:
                        packet.stream = aout
                        out.mux(packet)
                    else:
                        for frame in packet.decode():
                            frame.pts = None
                            for p in aout.encode(frame):
                                out.mux(p)
                    continue
                for frame in packet.decode():
                    pending.append(frame)
                    if len(pending) >= config.batch_size:
                        flush()
            if pending:
                flush()
            for packet in vout.encode(None):
                out.mux(packet)
            if aout is not None and not copy_audio:
                for packet in aout.encode(None):
                    out.mux(packet)
            bar.close()
    if count == 0:
        raise ImageError(f"{source}: no frames could be decoded")
    return count


def apply_gif(stylizer: Stylizer, source: Path, target: Path, config: ApplyConfig,
              quiet: bool = False) -> int:
    """Animated GIF through Pillow: per-frame durations and looping kept, an adaptive palette per frame."""
    from PIL import Image, ImageSequence
    from tqdm import tqdm

    from brushwork.fileio import atomic_path
    from brushwork.images import image_to_tensor, resize_longest

    try:
        gif = Image.open(source)
        frames = [f.convert("RGB") for f in ImageSequence.Iterator(gif)]
        durations = [f.info.get("duration", 100) for f in ImageSequence.Iterator(gif)]
    except Exception as exc:
        raise ImageError(f"{source}: not a readable GIF ({exc})") from None
    if config.size is not None:
        frames = [resize_longest(f, config.size) for f in frames]
    outs: list = []
    with tqdm(total=len(frames), unit="frame", disable=quiet, dynamic_ncols=True, file=sys.stderr) as bar:
        for k in range(0, len(frames), config.batch_size):
            chunk = [image_to_tensor(f) for f in frames[k:k + config.batch_size]]
            for y in stylize_images(stylizer, chunk, config):
                outs.append(Image.fromarray((y[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)))
            bar.update(len(chunk))
    with atomic_path(target) as tmp:
        outs[0].save(tmp, format="GIF", save_all=True, append_images=outs[1:], duration=durations,
                     loop=gif.info.get("loop", 0), disposal=1)
    return len(outs)


def _audio_stream(out, ain, fmt: str):
    """Copy the audio stream when the container takes its codec, else re-encode to its usual codec."""
    compatible = {"mp4": {"aac", "mp3", "alac", "opus"}, "mov": {"aac", "mp3", "alac", "pcm_s16le"},
                  "matroska": None, "webm": {"opus", "vorbis"}, "avi": {"mp3", "aac", "pcm_s16le"}}
    allowed = compatible.get(fmt)
    if allowed is None or ain.codec_context.name in allowed:
        return out.add_stream_from_template(ain), True
    aout = out.add_stream(_AUDIO_CODEC[fmt], rate=ain.codec_context.sample_rate or 48000)
    aout.layout = ain.codec_context.layout.name if ain.codec_context.layout else "stereo"
    return aout, False


# --- export ----------------------------------------------------------------------------------------
def export_onnx(model: str | os.PathLike, target: str | os.PathLike, opset: int = 17) -> Path:
    """ONNX graph with dynamic batch, height and width (multiples of 4), metadata copied."""
    import warnings

    from brushwork.fileio import atomic_path
    from brushwork.networks.transformer import load_transformer

    path = resolve_model(model)
    net, meta = load_transformer(path)
    target = Path(target)
    dummy = torch.rand(1, 3, 64, 64)
    axes = {0: "batch", 2: "height", 3: "width"}
    with atomic_path(target) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (dummy,), str(tmp), dynamo=False, input_names=["image"],
                          output_names=["stylized"], dynamic_axes={"image": axes, "stylized": axes},
                          opset_version=opset)
        try:
            import onnx
        except ImportError:
            onnx = None
        if onnx is not None:
            proto = onnx.load(str(tmp))
            for key in ("style_image", "steps", "architecture", "loss_network", "date"):
                if key in meta:
                    proto.metadata_props.add(key=key, value=meta[key])
            proto.metadata_props.add(key="note", value="RGB [0,1] in, H and W multiples of 4; clamp output")
            onnx.save(proto, str(tmp))
    return target


def export_half(model: str | os.PathLike, target: str | os.PathLike) -> Path:
    """fp16 copy of a model file (half the size; what the package ships)."""
    from brushwork.networks.transformer import load_transformer, save_transformer

    net, meta = load_transformer(resolve_model(model))
    keep = {k: v for k, v in meta.items() if k not in ("format", "architecture", "dtype")}
    save_transformer(target, net, keep, half=True)
    return Path(target)


# --- CLI -------------------------------------------------------------------------------------------
def add_apply_parsers(sub) -> None:
    from brushwork.cli import add_config_arguments

    p = sub.add_parser("apply", help="stylise images, folders or videos with a trained fast style network",
                       description="MODEL is a .safetensors file from `brushwork train`, an .onnx file "
                       "from `brushwork export`, or a shipped style name (see `brushwork models`).")
    p.add_argument("model", help="model file or shipped style name")
    p.add_argument("inputs", nargs="+", metavar="input", help="image files, folders, videos")
    p.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_config_arguments(p, ApplyConfig)
    p.set_defaults(run=run_apply)

    e = sub.add_parser("export", help="export a trained model to ONNX (or an fp16 safetensors copy)")
    e.add_argument("model", help="model file or shipped style name")
    e.add_argument("--onnx", help="write an ONNX model here (dynamic height and width)")
    e.add_argument("--half", help="write an fp16 .safetensors copy here")
    e.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    e.set_defaults(run=run_export)

    m = sub.add_parser("models", help="list the shipped fast-style models")
    m.set_defaults(run=run_models)


def run_apply(args: argparse.Namespace) -> int:
    from brushwork.cli import config_from_args

    config = config_from_args(ApplyConfig, args)
    output = Path(args.output)
    jobs = plan_jobs(args.inputs, output)
    if not jobs:
        raise ConfigError("no input files found")
    output.mkdir(parents=True, exist_ok=True)
    stylizer = load_stylizer(args.model, config)
    started = time.perf_counter()
    images = [j for j in jobs if not j.video]
    failures = apply_files(stylizer, images, config, quiet=args.quiet) if images else []
    frames = 0
    for job in (j for j in jobs if j.video):
        try:
            frames += apply_video(stylizer, job.source, job.target, config, quiet=args.quiet)
        except ImageError as exc:
            failures.append(str(exc))
    done = len(jobs) - len(failures)
    seconds = time.perf_counter() - started
    extra = f" ({frames} video frames)" if frames else ""
    print(f"wrote {done} file(s){extra} to {output} in {seconds:.1f} s with {stylizer.name} "
          f"({stylizer.runtime})")
    if failures:
        print(f"skipped {len(failures)} unreadable file(s):", file=sys.stderr)
        for message in failures:
            print(f"  {message}", file=sys.stderr)
        if done == 0:
            raise BrushworkError("no input could be read")
    return 0


def run_export(args: argparse.Namespace) -> int:
    if not args.onnx and not args.half:
        raise ConfigError("say what to write: --onnx FILE.onnx and/or --half FILE.safetensors")
    if args.onnx:
        print(f"wrote {export_onnx(args.model, args.onnx, args.opset)}")
    if args.half:
        print(f"wrote {export_half(args.model, args.half)}")
    return 0


def run_models(args: argparse.Namespace) -> int:
    from brushwork.models import shipped_models
    from brushwork.networks.transformer import read_metadata

    models = shipped_models()
    if not models:
        print("no shipped models in this installation")
        return 0
    for m in models:
        meta = read_metadata(m.path)
        size = m.path.stat().st_size / 1e6
        print(f"{m.name:16s} {meta.get('steps', '?'):>6s} steps  {size:4.1f} MB  {m.about}")
    return 0
