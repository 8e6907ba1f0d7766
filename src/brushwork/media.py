"""Media I/O shared by both engines: which files a run paints and where each result goes, and the
video containers and animated GIFs they are read from and written to.

Folders are walked with ``images.walk_files`` (recursive, sorted, hidden files skipped) and keep
their sub-folder layout under the output folder (``plan_jobs``). Videos keep their frame rate and
audio (PyAV / FFmpeg decodes and encodes, ``paint_video``); animated GIFs go through Pillow and keep
per-frame durations (``paint_gif``). What paints the frames is a ``FrameRunner``: the fast network
(``fast.video.FrameStylizer``), Gatys (``gatys.video.GatysFrames``) or regions
(``regions.RegionFrames``). Frames stream: a batch is decoded, painted and encoded at a time.
Progress goes to a ``ProgressCallback``; nothing here prints.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import numpy as np
import torch
from PIL import Image, ImageSequence

from brushwork.config import ApplyConfig
from brushwork.errors import ConfigError, ImageError
from brushwork.fileio import NAME_MAX, atomic_path, replace_problem
from brushwork.filetype import FileType, sniff_file
from brushwork.images import (
    MIN_SIDE,
    SAVE_FORMATS,
    check_side,
    file_kind,
    image_to_tensor,
    open_image,
    quiet_decoding,
    resize_longest,
    resize_to,
    walk_files,
)
from brushwork.progress import ProgressCallback, report

#: Video file suffixes and the container (PyAV format) each is written as.
VIDEO_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
                  ".gif": "gif", ".avi": "avi"}
#: Suffixes of model files (a style named after one drops the suffix: ``style_slug``).
MODEL_SUFFIXES = {".safetensors", ".onnx", ".pt", ".pth"}
#: The encoder's quality when none is given: config.py's default.
DEFAULT_CRF: int = ApplyConfig.video_crf
_VIDEO_CODEC = {"mp4": "libx264", "mov": "libx264", "matroska": "libx264", "webm": "libvpx-vp9",
                "gif": "gif", "avi": "mpeg4"}
_AUDIO_CODEC = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus", "avi": "aac"}
#: Audio codecs each container takes as they are (None: any); others are re-encoded.
_AUDIO_COMPATIBLE = {"mp4": {"aac", "mp3", "alac", "opus"}, "mov": {"aac", "mp3", "alac", "pcm_s16le"},
                     "matroska": None, "webm": {"opus", "vorbis"}, "avi": {"mp3", "aac", "pcm_s16le"}}


# --- inputs ----------------------------------------------------------------------------------------
@dataclass
class MediaJob:
    """One input file and where its result goes; ``video``: painted frame by frame (a video or a GIF)."""

    source: Path
    target: Path
    video: bool


def style_slug(name: str) -> str:
    """A style's part of a file name: ``Starry Night.jpg`` -> ``starry-night``."""
    stem = Path(name).stem if Path(name).suffix.lower() in {*SAVE_FORMATS, *MODEL_SUFFIXES} else name
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "style"


def style_label(model: str | None, paintings: Sequence[str] = ()) -> str:
    """What a result's name says painted it: a shipped model's name, a model file's or the paintings'
    names (``a+b`` for a blend), so two styles of one photo never share a file name."""
    if paintings:
        return "+".join(style_slug(Path(p).name) for p in paintings)
    return style_slug(Path(model).name if model else "style")


def is_video_input(path: Path, kind: FileType | None = None) -> bool:
    """Whether ``apply`` paints ``path`` frame by frame: a video container or a GIF (an animation
    keeps its frames), judged from its bytes (``brushwork.filetype``); from its name only when the
    bytes are of no type we know (a corrupt file is then refused as what its name says)."""
    kind = sniff_file(path) if kind is None else kind
    if kind.known:
        return kind.kind in ("video", "gif")
    return path.suffix.lower() in VIDEO_SUFFIXES


def is_gif(path: Path) -> bool:
    kind = sniff_file(path)
    return kind.kind == "gif" if kind.known else path.suffix.lower() == ".gif"


def target_name(path: Path, style: str | None = None, kind: FileType | None = None) -> Path:
    """A result's name: the input's (``.png`` for formats we cannot write), with ``_STYLE`` added.
    With the input's ``kind`` (its bytes), a name that lies about it is not carried over: a JPEG
    named ``clip.mp4`` gives ``clip_STYLE.jpg``, an MP4 named ``photo.jpg`` ``photo_STYLE.mp4``."""
    suffix = path.suffix.lower()
    if kind is not None and kind.kind == "image" and suffix not in SAVE_FORMATS:
        suffix = kind.suffix if kind.suffix in SAVE_FORMATS else ".png"
    elif kind is not None and kind.kind in ("video", "gif") and suffix not in VIDEO_SUFFIXES:
        suffix = kind.suffix
    elif suffix in {*SAVE_FORMATS, *VIDEO_SUFFIXES}:
        suffix = path.suffix
    else:
        suffix = ".png"
    stem = f"{path.stem}_{style}" if style else path.stem
    return path.with_name(stem + suffix)


def _job(source: Path, relative: Path, output_dir: Path, style: str | None) -> MediaJob:
    kind = sniff_file(source)
    return MediaJob(source, output_dir / target_name(relative, style, kind), is_video_input(source, kind))


def single_output(inputs: list[str], output: Path) -> bool:
    """``apply MODEL photo.jpg -o out.png``: one input file and an output named like an image (or a
    video) that is not an existing folder: the result is written to that file, not into a folder."""
    suffix = output.suffix.lower()
    return (len(inputs) == 1 and not Path(inputs[0]).is_dir() and not output.is_dir()
            and (suffix in SAVE_FORMATS or suffix in VIDEO_SUFFIXES))


def _source_problem(path: Path) -> str | None:
    """Why a named input cannot be a job (missing, a pipe, a device...), or None."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"{path}: no such file or folder"
    except OSError as exc:
        return f"{path}: cannot read ({exc.strerror or exc})"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return f"{path}: {file_kind(mode)}, not a regular file; skipped"


def _target_problem(job: MediaJob) -> str | None:
    """Why a job's result could not be written (checked before any work), or None."""
    target = job.target
    if len(os.fsencode(target.name)) > NAME_MAX:
        return f"{job.source}: its output name {target.name[:40]}... is too long for the file system"
    if target.is_dir():
        return f"{job.source}: its output {target} is an existing folder"
    if target.exists() and not target.is_file():
        return f"{job.source}: its output {target} exists and is not a regular file"
    return None


def plan_jobs(inputs: list[str], output_dir: Path, skipped: list[str] | None = None,
              style: str | None = None, overwrite: bool = False,
              protected: Sequence[str | os.PathLike] = ()) -> list[MediaJob]:
    """One job per file; folders are walked recursively and keep their layout under ``output_dir``,
    each result named ``NAME_STYLE.EXT`` (see :func:`style_label`).

    With ``skipped`` (a list), an input that cannot be a job (missing, a named pipe or device, a
    result that could not be written, or would replace a file: see ``fileio.replace_problem``) is
    named there, one line each, and the rest go ahead; without it the first such input raises.
    ``protected``: the run's other inputs (paintings, the model file), never written over. When
    ``single_output(inputs, output_dir)``, ``output_dir`` is the result file itself."""
    problems: list[str] = []
    jobs: list[MediaJob] = []
    single = single_output(inputs, output_dir)
    for item in inputs:
        path = Path(item)
        problem = _source_problem(path)
        if problem is not None:
            problems.append(problem)
        elif path.is_dir():
            _check_outside(path, output_dir)
            rejected: list[tuple[Path, str]] = []
            jobs += [_job(f, f.relative_to(path), output_dir, style)
                     for f in walk_files(path, rejected=rejected) if not _inside(f, output_dir)]
            problems += [message for _, message in rejected]
        elif single:
            jobs.append(_single_job(path, output_dir))
        else:
            jobs.append(_job(path, Path(path.name), output_dir, style))
    sources = [*(j.source for j in jobs), *protected]
    writable = []
    for job in jobs:
        problem = _target_problem(job) or replace_problem(job.target, sources, overwrite)
        if problem is None:
            writable.append(job)
        else:
            problems.append(problem)
    jobs = writable
    if problems and skipped is None:
        raise ImageError(problems[0])
    if skipped is not None:
        skipped += problems
    targets = [j.target for j in jobs]
    if len(set(targets)) != len(targets):
        dup = next(t for t in targets if targets.count(t) > 1)
        raise ConfigError(f"two inputs would both be written to {dup}; apply them separately")
    return jobs


def _check_outside(folder: Path, output_dir: Path) -> None:
    """The output folder must not be the input folder: results and photos would mix, and the next run
    would paint the results again. A folder inside it is fine: its files are never inputs."""
    if output_dir.resolve() == folder.resolve():
        raise ConfigError(f"-o {output_dir}: is the input folder {folder}; the results would mix with "
                          "the photos; give another output folder")


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _single_job(source: Path, target: Path) -> MediaJob:
    kind = sniff_file(source)
    video_in = is_video_input(source, kind)
    if video_in != (target.suffix.lower() in VIDEO_SUFFIXES):
        kinds = ("a video", "an image") if video_in else ("an image", "a video")
        what = kinds[0]
        if kind.known and video_in != (source.suffix.lower() in VIDEO_SUFFIXES):  # its name lies
            what = f"{kind.name}, whatever its name says,"
        raise ConfigError(f"-o {target}: {source} is {what} but {target.name} names {kinds[1]}; "
                          "give a matching extension or an output folder")
    return MediaJob(source, target, video_in)


def load_photo(path: Path, size: int | None) -> torch.Tensor:
    """A photo as a tensor at ``size`` (longest side; None: as it is), refused (ImageError) before any
    network runs when it is no regular image file or is too small or thin for a network at that size."""
    image = open_image(path)
    check_side(image, str(path), size, MIN_SIDE)
    if size is not None:
        image = resize_longest(image, size)
    return image_to_tensor(image)


# --- video -----------------------------------------------------------------------------------------
class FrameRunner(Protocol):
    """Paints the next few frames of a video, in order: H×W×3 uint8 in, H×W×3 uint8 out."""

    def run(self, frames: list[np.ndarray]) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class Encoding:
    """How a painted video is written: its longest side (None: the input's), the encoder's quality
    (CRF, lower = better; VP9 gets +13 for the same look) and how many frames the runner gets at once."""

    size: int | None = None
    crf: int = DEFAULT_CRF
    batch_size: int = 1


def _even(n: int) -> int:
    return max(2, n - n % 2)


def _output_size(vin, encoding: Encoding, fmt: str) -> tuple[int, int]:
    width, height = vin.codec_context.width, vin.codec_context.height
    if encoding.size is not None:
        scale = encoding.size / max(width, height)
        width, height = round(width * scale), round(height * scale)
    if fmt != "gif":
        width, height = _even(width), _even(height)  # yuv420p needs even sides
    return width, height


def _video_stream(out, vin, fmt: str, size: tuple[int, int], encoding: Encoding):
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    vout = out.add_stream(_VIDEO_CODEC[fmt], rate=rate)
    vout.width, vout.height = size
    vout.time_base = vin.time_base
    if fmt == "gif":
        vout.pix_fmt = "pal8"
    else:
        vout.pix_fmt = "yuv420p"
        vout.options = {"crf": str(encoding.crf)}
        if fmt == "webm":
            vout.options = {"crf": str(encoding.crf + 13), "b": "0", "deadline": "good", "cpu-used": "4"}
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
    """Paints decoded frames ``batch_size`` at a time with ``frames`` and encodes them with strictly
    rising timestamps."""

    def __init__(self, frames: FrameRunner, batch_size: int, out, vout, time_base, size: tuple[int, int],
                 done: Callable[[int], None]):
        self.frames, self.batch_size, self.out, self.vout = frames, batch_size, out, vout
        self.time_base, self.size, self.done = time_base, size, done
        self.pending: list = []
        self.count = 0
        self.next_pts = 0

    def add(self, frame) -> None:
        self.pending.append(frame)
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        inputs = [np.asarray(resize_to(f.to_image(), *self.size)) for f in self.pending]
        for frame, y in zip(self.pending, self.frames.run(inputs)):
            new = av.VideoFrame.from_ndarray(y, format="rgb24")
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


def _open_video(source: Path):
    try:
        return av.open(str(source))
    except Exception as exc:
        raise ImageError(f"{source}: not a readable video ({str(exc).splitlines()[0]})") from None


def paint_video(source: Path, target: Path, frames: FrameRunner, encoding: Encoding = Encoding(),
                progress: ProgressCallback | None = None) -> int:
    """Paint every frame of ``source`` with ``frames`` into ``target`` (its suffix picks the container,
    written atomically); keeps the frame timing and copies (or re-encodes) the audio. Returns frames.

    ``progress`` hears ``Progress(frames_done, frames_total_or_None, "frame")``."""
    fmt = VIDEO_SUFFIXES[target.suffix.lower()]
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "gif" and is_gif(source):
        return paint_gif(source, target, frames, encoding, progress)
    with _open_video(source) as inp, atomic_path(target) as tmp:
        vin = next((s for s in inp.streams if s.type == "video"), None)
        if vin is None:
            raise ImageError(f"{source}: no video stream")
        ain = next((s for s in inp.streams if s.type == "audio"), None) if fmt != "gif" else None
        size = _output_size(vin, encoding, fmt)
        total = vin.frames or None
        with av.open(str(tmp), mode="w", format=fmt) as out:
            vout = _video_stream(out, vin, fmt, size, encoding)
            aout, copy_audio = _audio_stream(out, ain, fmt) if ain is not None else (None, False)
            writer = _FrameWriter(frames, encoding.batch_size, out, vout, vin.time_base, size,
                                  lambda n: report(progress, n, total, "frame"))
            _transcode(source, inp, (vin, ain), out, (aout, copy_audio), writer)
            _check_complete(source, inp, vin, ain, writer)
            if aout is not None and not copy_audio:
                for packet in aout.encode(None):
                    out.mux(packet)
    return writer.count


def _transcode(source: Path, inp, streams: tuple, out, audio: tuple, writer: _FrameWriter) -> None:
    """Demux ``inp``'s ``streams`` (video, audio or None): video frames go through ``writer``, audio
    packets to ``audio`` (the output stream, or None to drop them; whether to copy them as they are)."""
    (vin, ain), (aout, copy_audio) = streams, audio
    try:
        for packet in inp.demux(*([vin] + ([ain] if aout is not None else []))):
            if packet.stream.type == "audio":
                _pass_audio(packet, out, aout, copy_audio)
                continue
            for frame in packet.decode():
                writer.add(frame)
        writer.close()
    except av.FFmpegError as exc:  # corrupt or truncated mid-stream: nothing is kept
        raise ImageError(f"{source}: corrupt or truncated video after {writer.count} frames "
                         f"({str(exc).splitlines()[0]})") from None
    if writer.count == 0:  # raised inside: the half-made file is removed, not renamed
        raise ImageError(f"{source}: no frames could be decoded")


def _check_complete(source: Path, inp, vin, ain, writer: _FrameWriter) -> None:
    """A video that ends well before its declared length was cut off (FFmpeg just stops decoding):
    refuse it rather than write a shorter clip. The declared length is the stream's frame count or
    duration, else (with no audio stream, which may run longer) the container's duration."""
    rate = float(vin.average_rate or vin.guessed_rate or 25)
    if vin.frames and writer.count < vin.frames - 1:
        raise ImageError(f"{source}: truncated video: {writer.count} of {vin.frames} frames could be decoded")
    tb = float(vin.time_base)
    end = (writer.next_pts * tb if writer.next_pts else 0.0) + 1 / rate - tb  # the last frame's end
    if vin.duration:
        declared = ((vin.start_time or 0) + vin.duration) * tb
    elif inp.duration and ain is None:
        declared = ((inp.start_time or 0) + inp.duration) / 1e6
    else:
        return
    if declared - end > 2.5 / rate:
        raise ImageError(f"{source}: truncated video: it stops at {end:.2f} s of {declared:.2f} s")


def paint_gif(source: Path, target: Path, frames: FrameRunner, encoding: Encoding = Encoding(),
              progress: ProgressCallback | None = None) -> int:
    """Animated GIF through Pillow: per-frame durations and looping kept, an adaptive palette per frame."""
    try:
        with quiet_decoding():
            gif = Image.open(source)
            pictures = [f.convert("RGB") for f in ImageSequence.Iterator(gif)]
            durations = [f.info.get("duration", 100) for f in ImageSequence.Iterator(gif)]
    except Exception as exc:
        raise ImageError(f"{source}: not a readable GIF ({exc})") from None
    if encoding.size is not None:
        pictures = [resize_longest(f, encoding.size) for f in pictures]
    outs: list[Image.Image] = []
    for k in range(0, len(pictures), encoding.batch_size):
        chunk = [np.asarray(f) for f in pictures[k:k + encoding.batch_size]]
        outs += [Image.fromarray(y) for y in frames.run(chunk)]
        report(progress, len(outs), len(pictures), "frame")
    with atomic_path(target) as tmp:
        outs[0].save(tmp, format="GIF", save_all=True, append_images=outs[1:], duration=durations,
                     loop=gif.info.get("loop", 0), disposal=1)
    return len(outs)
