"""Apply a fast style network to files: images, folders (layout kept), videos and animated GIFs.

Folders are walked with ``images.walk_files`` (recursive, sorted, hidden files skipped) and keep
their sub-folder layout under the output folder. Videos keep their frame rate and audio (PyAV /
FFmpeg decodes and encodes); animated GIFs go through Pillow and keep per-frame durations.
Progress goes to a ``ProgressCallback``; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image, ImageSequence

from brushwork.config import ApplyConfig
from brushwork.errors import ConfigError, ImageError
from brushwork.fast.inference import Stylizer, stylize_images
from brushwork.fileio import atomic_path
from brushwork.images import (
    SAVE_FORMATS,
    image_to_tensor,
    open_image,
    resize_longest,
    resize_to,
    save_image,
    walk_files,
)
from brushwork.progress import ProgressCallback, report

VIDEO_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
                  ".gif": "gif", ".avi": "avi"}
_VIDEO_CODEC = {"mp4": "libx264", "mov": "libx264", "matroska": "libx264", "webm": "libvpx-vp9",
                "gif": "gif", "avi": "mpeg4"}
_AUDIO_CODEC = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus", "avi": "aac"}
#: Audio codecs each container takes as they are (None: any); others are re-encoded.
_AUDIO_COMPATIBLE = {"mp4": {"aac", "mp3", "alac", "opus"}, "mov": {"aac", "mp3", "alac", "pcm_s16le"},
                     "matroska": None, "webm": {"opus", "vorbis"}, "avi": {"mp3", "aac", "pcm_s16le"}}


# --- inputs ----------------------------------------------------------------------------------------
@dataclass
class Job:
    source: Path
    target: Path
    video: bool


def _target_name(path: Path) -> Path:
    if path.suffix.lower() in SAVE_FORMATS or path.suffix.lower() in VIDEO_SUFFIXES:
        return path
    return path.with_suffix(".png")


def _job(source: Path, relative: Path, output_dir: Path) -> Job:
    return Job(source, output_dir / _target_name(relative), source.suffix.lower() in VIDEO_SUFFIXES)


def plan_jobs(inputs: list[str], output_dir: Path) -> list[Job]:
    """One job per file; folders are walked recursively and keep their layout under ``output_dir``."""
    jobs: list[Job] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            jobs += [_job(f, f.relative_to(path), output_dir) for f in walk_files(path)]
        elif path.is_file():
            jobs.append(_job(path, Path(path.name), output_dir))
        else:
            raise ImageError(f"{path}: no such file or folder")
    targets = [j.target for j in jobs]
    if len(set(targets)) != len(targets):
        dup = next(t for t in targets if targets.count(t) > 1)
        raise ConfigError(f"two inputs would both be written to {dup}; apply them separately")
    return jobs


def _load_input(path: Path, config: ApplyConfig) -> torch.Tensor:
    image = open_image(path)
    if config.size is not None:
        image = resize_longest(image, config.size)
    return image_to_tensor(image)


def apply_files(stylizer: Stylizer, jobs: list[Job], config: ApplyConfig,
                progress: ProgressCallback | None = None) -> list[str]:
    """Stylise image jobs in batches; returns one message per file that could not be read.

    ``progress`` hears ``Progress(done, len(jobs), "img")``; unreadable files count as done."""
    failures: list[str] = []
    pending: list[tuple[Job, torch.Tensor]] = []
    done = 0
    report(progress, done, len(jobs), "img")  # the bar appears (and its rate starts) before the work

    def flush() -> None:
        nonlocal done
        outs = stylize_images(stylizer, [x for _, x in pending], config)
        for (job, _), y in zip(pending, outs):
            job.target.parent.mkdir(parents=True, exist_ok=True)
            save_image(y, job.target)
        done += len(pending)
        report(progress, done, len(jobs), "img")
        pending.clear()

    for job in jobs:
        try:
            pending.append((job, _load_input(job.source, config)))
        except ImageError as exc:
            failures.append(str(exc))
            done += 1
            report(progress, done, len(jobs), "img")
            continue
        if len(pending) >= config.batch_size * 2:
            flush()
    if pending:
        flush()
    return failures


# --- video -----------------------------------------------------------------------------------------
def _even(n: int) -> int:
    return max(2, n - n % 2)


def _to_array(y: torch.Tensor) -> np.ndarray:
    """[1, 3, H, W] in [0, 1] -> H×W×3 uint8."""
    return (y[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def _output_size(vin, config: ApplyConfig, fmt: str) -> tuple[int, int]:
    width, height = vin.codec_context.width, vin.codec_context.height
    if config.size is not None:
        scale = config.size / max(width, height)
        width, height = round(width * scale), round(height * scale)
    if fmt != "gif":
        width, height = _even(width), _even(height)  # yuv420p needs even sides
    return width, height


def _video_stream(out, vin, fmt: str, size: tuple[int, int], config: ApplyConfig):
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    vout = out.add_stream(_VIDEO_CODEC[fmt], rate=rate)
    vout.width, vout.height = size
    vout.time_base = vin.time_base
    if fmt == "gif":
        vout.pix_fmt = "pal8"
    else:
        vout.pix_fmt = "yuv420p"
        vout.options = {"crf": str(config.video_crf)}
        if fmt == "webm":
            vout.options = {"crf": str(config.video_crf + 13), "b": "0", "deadline": "good", "cpu-used": "4"}
    return vout


def _audio_stream(out, ain, fmt: str):
    """Copy the audio stream when the container takes its codec, else re-encode to its usual codec."""
    allowed = _AUDIO_COMPATIBLE.get(fmt)
    if allowed is None or ain.codec_context.name in allowed:
        return out.add_stream_from_template(ain), True
    aout = out.add_stream(_AUDIO_CODEC[fmt], rate=ain.codec_context.sample_rate or 48000)
    aout.layout = ain.codec_context.layout.name if ain.codec_context.layout else "stereo"
    return aout, False


class _FrameWriter:
    """Stylises decoded frames in batches and encodes them with strictly rising timestamps."""

    def __init__(self, stylizer: Stylizer, config: ApplyConfig, out, vout, time_base, size: tuple[int, int],
                 done: Callable[[int], None]):
        self.stylizer, self.config, self.out, self.vout = stylizer, config, out, vout
        self.time_base, self.size, self.done = time_base, size, done
        self.pending: list = []
        self.count = 0
        self.next_pts = 0

    def add(self, frame) -> None:
        self.pending.append(frame)
        if len(self.pending) >= self.config.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        x = torch.cat([image_to_tensor(resize_to(f.to_image(), *self.size)) for f in self.pending])
        for frame, y in zip(self.pending, stylize_images(self.stylizer, list(x.split(1)), self.config)):
            new = av.VideoFrame.from_ndarray(_to_array(y), format="rgb24")
            pts = frame.pts if frame.pts is not None else self.next_pts
            pts = max(pts, self.next_pts)  # the encoder needs strictly rising timestamps
            new.pts, new.time_base = pts, self.time_base
            self.next_pts = pts + 1
            for packet in self.vout.encode(new):
                self.out.mux(packet)
        self.count += len(self.pending)
        self.done(self.count)
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        for packet in self.vout.encode(None):
            self.out.mux(packet)


def _pass_audio(packet, out, aout, copy: bool) -> None:
    if aout is None or packet.dts is None:
        return
    if copy:
        packet.stream = aout
        out.mux(packet)
        return
    for frame in packet.decode():
        frame.pts = None
        for p in aout.encode(frame):
            out.mux(p)


def apply_video(stylizer: Stylizer, source: Path, target: Path, config: ApplyConfig,
                progress: ProgressCallback | None = None) -> int:
    """Stylise every frame; keeps the frame timing and copies (or re-encodes) the audio. Returns frames.

    ``progress`` hears ``Progress(frames_done, frames_total_or_None, "frame")``."""
    fmt = VIDEO_SUFFIXES[target.suffix.lower()]
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "gif" and source.suffix.lower() == ".gif":
        return apply_gif(stylizer, source, target, config, progress)
    try:
        inp = av.open(str(source))
    except Exception as exc:
        raise ImageError(f"{source}: not a readable video ({str(exc).splitlines()[0]})") from None
    with inp, atomic_path(target) as tmp:
        vin = next((s for s in inp.streams if s.type == "video"), None)
        if vin is None:
            raise ImageError(f"{source}: no video stream")
        ain = next((s for s in inp.streams if s.type == "audio"), None) if fmt != "gif" else None
        size = _output_size(vin, config, fmt)
        total = vin.frames or None
        with av.open(str(tmp), mode="w", format=fmt) as out:
            vout = _video_stream(out, vin, fmt, size, config)
            aout, copy_audio = _audio_stream(out, ain, fmt) if ain is not None else (None, False)
            writer = _FrameWriter(stylizer, config, out, vout, vin.time_base, size,
                                  lambda n: report(progress, n, total, "frame"))
            for packet in inp.demux(*([vin] + ([ain] if aout is not None else []))):
                if packet.stream.type == "audio":
                    _pass_audio(packet, out, aout, copy_audio)
                    continue
                for frame in packet.decode():
                    writer.add(frame)
            writer.close()
            if aout is not None and not copy_audio:
                for packet in aout.encode(None):
                    out.mux(packet)
    if writer.count == 0:
        raise ImageError(f"{source}: no frames could be decoded")
    return writer.count


def apply_gif(stylizer: Stylizer, source: Path, target: Path, config: ApplyConfig,
              progress: ProgressCallback | None = None) -> int:
    """Animated GIF through Pillow: per-frame durations and looping kept, an adaptive palette per frame."""
    try:
        gif = Image.open(source)
        frames = [f.convert("RGB") for f in ImageSequence.Iterator(gif)]
        durations = [f.info.get("duration", 100) for f in ImageSequence.Iterator(gif)]
    except Exception as exc:
        raise ImageError(f"{source}: not a readable GIF ({exc})") from None
    if config.size is not None:
        frames = [resize_longest(f, config.size) for f in frames]
    outs: list[Image.Image] = []
    for k in range(0, len(frames), config.batch_size):
        chunk = [image_to_tensor(f) for f in frames[k:k + config.batch_size]]
        outs += [Image.fromarray(_to_array(y)) for y in stylize_images(stylizer, chunk, config)]
        report(progress, len(outs), len(frames), "frame")
    with atomic_path(target) as tmp:
        outs[0].save(tmp, format="GIF", save_all=True, append_images=outs[1:], duration=durations,
                     loop=gif.info.get("loop", 0), disposal=1)
    return len(outs)
