"""A fast style network over files: image jobs in batches, and videos and GIFs frame by frame.

What is the network's: batching the photos of a folder (``apply_files``), one odd picture tried
alone, and the frames steadied along the flow (``fast.video.FrameStylizer``). Which files, their
names, and the video and GIF containers are ``brushwork.media``'s, shared with Gatys video.
Progress goes to a ``ProgressCallback``; nothing here prints.
"""

from __future__ import annotations

from pathlib import Path

import torch

from brushwork.config import ApplyConfig
from brushwork.errors import BrushworkError, DiskFullError, ImageError
from brushwork.fast.inference import Stylizer, stylize_images
from brushwork.fast.video import FrameStylizer
from brushwork.fileio import disk_error
from brushwork.images import save_image
from brushwork.media import Encoding, FrameRunner, MediaJob, load_photo, paint_video
from brushwork.progress import ProgressCallback, report


def encoding(config: ApplyConfig) -> Encoding:
    """How ``apply`` writes a video: ``config``'s size, quality and batch size."""
    return Encoding(size=config.size, crf=config.video_crf, batch_size=config.batch_size)


def apply_files(stylizer: Stylizer, jobs: list[MediaJob], config: ApplyConfig,
                progress: ProgressCallback | None = None) -> list[str]:
    """Stylise image jobs in batches; returns one message per file that could not be read.

    ``progress`` hears ``Progress(done, len(jobs), "img")``; unreadable files count as done."""
    failures: list[str] = []
    pending: list[tuple[MediaJob, torch.Tensor]] = []
    done = 0
    report(progress, done, len(jobs), "img")  # the bar appears (and its rate starts) before the work

    def flush() -> None:
        nonlocal done
        try:
            outs = stylize_images(stylizer, [x for _, x in pending], config)
        except (RuntimeError, ValueError, MemoryError):  # one odd picture must not sink its batch
            outs = [_stylize_one(stylizer, job, x, config, failures) for job, x in pending]
        for (job, _), y in zip(pending, outs):
            if y is not None:
                _save_result(y, job, failures)
        done += len(pending)
        report(progress, done, len(jobs), "img")
        pending.clear()

    for job in jobs:
        try:
            pending.append((job, load_photo(job.source, config.size)))
        except (ImageError, MemoryError) as exc:
            failures.append(str(exc) if isinstance(exc, ImageError)
                            else f"{job.source}: too large for memory")
            done += 1
            report(progress, done, len(jobs), "img")
            continue
        if len(pending) >= config.batch_size * 2:
            flush()
    if pending:
        flush()
    return failures


def _stylize_one(stylizer: Stylizer, job: MediaJob, x: torch.Tensor, config: ApplyConfig,
                 failures: list[str]) -> torch.Tensor | None:
    try:
        return stylize_images(stylizer, [x], config)[0]
    except (RuntimeError, ValueError, MemoryError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        failures.append(f"{job.source}: could not be stylised ({text})")
        return None


def _save_result(y: torch.Tensor, job: MediaJob, failures: list[str]) -> None:
    """Write one result atomically; a result that cannot be written is that file's failure only, but
    a full or failing disk (DiskFullError) ends the run: every later result would fail the same way."""
    try:
        job.target.parent.mkdir(parents=True, exist_ok=True)
        save_image(y, job.target)
    except DiskFullError:
        raise
    except BrushworkError as exc:
        failures.append(f"{job.source}: {exc}")
    except OSError as exc:
        if (full := disk_error(exc, job.target)) is not None:
            raise full from None
        failures.append(f"{job.source}: cannot write {job.target} ({exc.strerror or exc})")



# --- video -----------------------------------------------------------------------------------------
def apply_video(stylizer: Stylizer | None, source: Path, target: Path, config: ApplyConfig,
                progress: ProgressCallback | None = None, frames: FrameRunner | None = None) -> int:
    """Stylise every frame (``media.paint_video``: timing and audio kept); returns the frames.

    ``progress`` hears ``Progress(frames_done, frames_total_or_None, "frame")``. ``frames`` (e.g.
    regions, ``regions.RegionFrames``) replaces the steadied network as what paints the frames."""
    runner = frames or FrameStylizer(stylizer, config)
    return paint_video(source, target, runner, encoding(config), progress)

