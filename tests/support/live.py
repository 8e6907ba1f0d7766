"""The Live mode's browser harness: a camera clip Chromium plays as its fake camera (a y4m file made
from a held-out photo panned with known motion), Chromium's flags for it, and readers for what the page
hands back (PNG data URLs). Used by tests/test_web_live.py and benchmarks/bench_live.py."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from support.clips import PHOTOS, load_photo, pan
from support.web import CHROMIUM_ARGS

#: Held-out photos (never trained on; benchmarks/bench_fast_quality.HELD_OUT) used for the clips.
CLIP_PHOTOS = ("es_city5.jpg", "gc_details_toureiffel.jpg")
#: The fake camera's motion: frame px per frame (the true backward flow of the pan).
PAN = (1.5, 0.5)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int) -> Path:
    """RGB uint8 frames as a YUV4MPEG2 file (4:2:0, what Chromium's fake camera plays, looping)."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def camera_clip(path: Path, size: tuple[int, int] = (320, 240), frames: int = 48, fps: int = 12,
                photo: str = CLIP_PHOTOS[0]) -> Path:
    """A pan over a held-out photo at ``size``, ``PAN`` px a frame, there and back, as a y4m clip.

    There and back (``frames`` each way, the ends not repeated), because Chromium loops the file: a
    one-way pan would jump back to its start once a loop, a cut that a test's few traced frames take in
    or not depending on when they begin (one pair unsteadied moved the stabiliser's ratio by 0.06)."""
    if not (PHOTOS / photo).is_file():
        raise FileNotFoundError(f"{PHOTOS / photo}: the shared photos are needed for the camera clip")
    there = pan(load_photo(photo), frames, size, *PAN)
    return write_y4m(path, there + there[-2:0:-1], fps)


def camera_args(clip: Path | None, allow: bool = True) -> list[str]:
    """Chromium's flags for a fake camera playing ``clip`` (None: no camera device at all). The camera
    permission is granted without asking (``--use-fake-ui-for-media-stream``), or with ``allow=False``
    left to each Playwright context: ``new_context(permissions=["camera"])`` grants it, a context
    without refuses it as a user who says no."""
    args = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required", "--enable-precise-memory-info"]
    if allow:
        args.append("--use-fake-ui-for-media-stream")
    if clip is not None:
        args += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={clip}"]
    return args


def data_url_image(url: str) -> np.ndarray:
    """A PNG data URL as an RGB uint8 array."""
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def chromium_rss() -> int:
    """Memory of this process's Chromium processes, bytes: their proportional set sizes summed (PSS,
    so pages they share are counted once), RSS where PSS cannot be read."""
    import psutil

    total = 0
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" not in child.name().lower():
                continue
            try:
                total += child.memory_full_info().pss
            except (AttributeError, psutil.AccessDenied):
                total += child.memory_info().rss
        except psutil.Error:
            continue
    return total
