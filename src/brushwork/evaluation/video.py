"""Videos in an evaluation: reading their frames, and the flicker of each method's result.

A video content (a clip, or an animated GIF/WebP) is read as its first ``max_frames`` frames. Every
method paints them one by one (the per-frame baseline); fast paths (``model``, ``arbitrary``) are then
steadied as ``brushwork apply`` does (``brushwork.temporal.Stabilizer`` at the method's
``temporal``), so their measured result is the video ``apply`` would write. Three warping errors
(Lai et al. 2018) are reported side by side, all under the flow of the *input* frames: the result's,
the per-frame baseline's, and the input video's own (the floor). Each result also gets a strip of
consecutive frames (input / per-frame / result) for the report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from brushwork.config import ApplyConfig
from brushwork.errors import ImageError
from brushwork.fileio import atomic_path
from brushwork.filetype import sniff_file
from brushwork.temporal import Motion, Stabilizer, mean_error, motions, warping_errors

#: Video files taken from a folder of contents (animated GIF/WebP are read as images).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
#: Frames shown in a result's strip.
STRIP_FRAMES = 5


def read_frames(path: Path, max_frames: int) -> list[Image.Image]:
    """The first ``max_frames`` frames of a video file as RGB images; ImageError if none decode."""
    import av

    frames: list[Image.Image] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ImageError(f"{path}: no video stream")
            for frame in container.decode(video=0):
                frames.append(frame.to_image().convert("RGB"))
                if len(frames) >= max_frames:
                    break
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - FFmpeg's errors are many; the message names the file
        if not frames:
            raise ImageError(f"{path}: not a readable video ({str(exc).splitlines()[0]})") from None
    if not frames:
        raise ImageError(f"{path}: no frames could be decoded")
    return frames


def temporal_strength(method) -> float:
    """The blend ``apply`` uses for this method's videos: its config's ``temporal`` for fast paths,
    0 (each frame on its own) for methods that have no video path (Gatys, the peer)."""
    if method.kind not in ("model", "arbitrary"):
        return 0.0
    config = getattr(method, "config", None)
    return float(getattr(config, "temporal", ApplyConfig().temporal))


def steady(sources: list[Image.Image], results: list[Image.Image], strength: float) -> list[Image.Image]:
    """``results`` made temporally steady under the flow of ``sources`` (unchanged at strength 0)."""
    if strength == 0:
        return results
    stab = Stabilizer(strength)
    out = []
    for source, result in zip(sources, results):
        frame = np.asarray(source.convert("RGB").resize(result.size, Image.Resampling.LANCZOS))
        y = stab(frame, np.asarray(result.convert("RGB")))
        out.append(Image.fromarray((np.clip(y, 0, 1) * 255 + 0.5).astype(np.uint8)))
    return out


def flicker(sources: list[Image.Image], per_frame: list[Image.Image], result: list[Image.Image]
            ) -> dict[str, object]:
    """The three warping errors (means and per-pair series) and the cuts found, at the result's size."""
    size = result[0].size
    inputs = [np.asarray(s.convert("RGB").resize(size, Image.Resampling.LANCZOS)) for s in sources]
    moves: list[Motion] = list(motions(inputs))
    series = {name: warping_errors(inputs, [np.asarray(f) for f in frames], moves)
              for name, frames in (("input", inputs), ("per_frame", per_frame), ("result", result))}
    return {"warp_error": mean_error(series["result"]),
            "warp_error_per_frame": mean_error(series["per_frame"]),
            "warp_error_input": mean_error(series["input"]), "warp_errors": series,
            "scene_cuts": sum(m.cut for m in moves)}


def save_strip(sources: list[Image.Image], per_frame: list[Image.Image], result: list[Image.Image],
               path: Path, count: int = STRIP_FRAMES, tile: int = 160) -> Path:
    """Consecutive frames in rows (input, per-frame, result), the middle of the clip, as one PNG."""
    start = max(0, (len(result) - count) // 2)
    picked = range(start, min(len(result), start + count))
    w, h = result[0].size
    scale = tile / max(w, h)
    cell = (max(1, round(w * scale)), max(1, round(h * scale)))
    rows = (sources, per_frame, result)
    sheet = Image.new("RGB", (len(picked) * (cell[0] + 2), len(rows) * (cell[1] + 2)), "white")
    for r, frames in enumerate(rows):
        for c, t in enumerate(picked):
            sheet.paste(frames[t].convert("RGB").resize(cell, Image.Resampling.LANCZOS),
                        (c * (cell[0] + 2), r * (cell[1] + 2)))
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path


def is_video_file(path: Path) -> bool:
    """A video container by its bytes (``brushwork.filetype``); by its name when they are unknown."""
    kind = sniff_file(path)
    return kind.kind == "video" if kind.known else path.suffix.lower() in VIDEO_SUFFIXES

