"""The one progress record: its lazily made picture, and the one callback type every engine uses."""

from __future__ import annotations

import ast
import threading
import typing
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

import brushwork
from brushwork import media as media_io
from brushwork import painters, progress, regions
from brushwork.batch import run as batch_run
from brushwork.config import StylizeConfig, WebServiceConfig
from brushwork.evaluation import run as evaluation_run
from brushwork.fast import media, train
from brushwork.gatys import optimize
from brushwork.gatys import video as optimize_video
from brushwork.networks import weights
from brushwork.progress import Progress, ProgressCallback

SRC = Path(progress.__file__).parent


class Counted:
    """A render that counts its calls."""

    def __init__(self, size: tuple[int, int] = (4, 3)):
        self.calls = 0
        self.size = size

    def __call__(self) -> Image.Image:
        self.calls += 1
        return Image.new("RGB", self.size)


# --- the record --------------------------------------------------------------------------------------
def test_the_image_is_made_only_when_read_and_then_kept():
    render = Counted()
    step = Progress(3, 10, losses={"total": 1.0}, render=render)
    assert step.has_image and render.calls == 0  # building, asking whether there is one: nothing made
    assert repr(step) and step == Progress(3, 10, losses={"total": 1.0})  # repr and == do not make it
    assert render.calls == 0
    first = step.image
    assert first.size == (4, 3) and step.image is first and render.calls == 1  # made once, kept
    assert replace(step, done=4).image is not first and render.calls == 2  # a new record makes its own


def test_a_record_without_a_picture_says_so():
    step = Progress(1, None, "frame")
    assert not step.has_image and step.image is None
    with pytest.raises(AttributeError):  # frozen: listeners share one record
        step.done = 2  # type: ignore[misc]


def test_report_skips_nobody_and_builds_the_record():
    seen: list[Progress] = []
    progress.report(None, 1, 2)  # nobody listens: no error
    progress.report(seen.append, 1, 2, "img", "photo.jpg", img_s=1.5)
    assert seen == [Progress(1, 2, "img", "photo.jpg", {"img_s": 1.5})]


def test_the_package_exports_the_record():
    assert brushwork.Progress is Progress and "Progress" in brushwork.__all__


# --- one callback type ----------------------------------------------------------------------------------
def _defined_callback_types(path: Path) -> list[str]:
    """Module-level names assigned a ``Callable[...]`` whose name says it is a progress callback."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            text = ast.unparse(node.value) if node.value is not None else ""
            names += [t.id for t in targets if isinstance(t, ast.Name) and "Callable" in text
                      and ("Progress" in t.id or "PaintCallback" in t.id or "Progress" in text)]
    return names


def test_only_progress_defines_a_progress_callback_and_the_old_shapes_are_gone():
    found = {str(p.relative_to(SRC)): names for p in SRC.rglob("*.py")
             if (names := _defined_callback_types(p))}
    assert found == {"progress.py": ["ProgressCallback"]}
    source = "\n".join(p.read_text() for p in SRC.rglob("*.py"))
    for old in ("class Iterate", "class StepInfo", "class PaintStep", "PaintCallback"):
        assert old not in source


@pytest.mark.parametrize("function, argument", [
    (optimize.stylize, "callback"),
    (optimize.optimize_tensor, "callback"),
    (optimize_video.stylize_video, "progress"),
    (train.train, "callback"),
    (train.Training.fit, "callback"),
    (painters.GatysPainter.paint, "callback"),
    (painters.ModelPainter.paint, "callback"),
    (painters.ModelPainter.paint_video, "callback"),
    (painters.ModelPainter.paint_files, "progress"),
    (painters.ArbitraryPainter.paint, "callback"),
    (media.apply_video, "progress"),
    (media_io.paint_gif, "progress"),
    (media.apply_files, "progress"),
    (media_io.paint_video, "progress"),
    (regions.stylize, "callback"),
    (regions.stylize_regions, "callback"),
    (regions.GuidedGatys.optimize_tensor, "callback"),
    (regions.apply_region_files, "progress"),
    (batch_run.run_batch, "progress"),
    (evaluation_run.evaluate, "progress"),
    (weights.download, "progress"),
])
def test_every_engine_takes_the_one_callback_type(function, argument):
    assert typing.get_type_hints(function)[argument] == ProgressCallback | None


# --- what the engines send ------------------------------------------------------------------------------
def test_gatys_steps_make_no_picture_unless_a_listener_reads_one(photo, painting, random_vgg, monkeypatch):
    made = []
    real = optimize.tensor_to_image
    monkeypatch.setattr(optimize, "tensor_to_image", lambda t: made.append(1) or real(t))
    config = StylizeConfig(size=48, multiscale=True, iterations=4, weights="random")
    steps: list[Progress] = []
    result = optimize.stylize(photo, painting, config, vgg=random_vgg, callback=steps.append)
    assert len(made) == 1  # the result only: 8 steps, not one picture made for them
    assert [s.done for s in steps] == list(range(1, 9)) and {s.total for s in steps} == {8}
    assert [s.scale for s in steps] == [0] * 4 + [1] * 4 and {s.scales for s in steps} == {2}
    assert (steps[0].width, steps[-1].width) == (24, 48) and all(s.unit == "it" for s in steps)
    assert set(steps[-1].losses) >= {"total", "content", "style", "tv"} and steps[-1].seconds > 0
    assert steps[0].image.size == result.size and len(made) == 2  # read: made now, at the final size


def test_the_gatys_painter_passes_the_engines_records_through(photo, painting):
    seen: list[Progress] = []
    painter = painters.GatysPainter(StylizeConfig(weights="random", size=32, iterations=2, multiscale=False))
    painter.paint(photo, painting, callback=seen.append)
    assert [(s.done, s.total, s.width) for s in seen] == [(1, 2, 32), (2, 2, 32)]
    assert all(isinstance(s, Progress) and s.has_image for s in seen)


# --- the web's reporter reads the record ------------------------------------------------------------------
def _reporter(tmp_path: Path, kind: str = "image"):
    from brushwork.web.jobs import Job, _Reporter

    (tmp_path / "job").mkdir()
    manager = SimpleNamespace(config=WebServiceConfig(preview_every=3), stopping=threading.Event(),
                              job_dir=lambda job_id: tmp_path / "job", touch=lambda job: None)
    job = Job("job", "gatys", "style", "Style", {}, kind=kind)
    return _Reporter(manager, job, deadline=float("inf")), job


def test_the_web_reporter_makes_previews_only_when_due(tmp_path):
    reporter, job = _reporter(tmp_path)
    renders = []
    for done in range(1, 7):
        renders.append(Counted((8, 6)))
        reporter.step(Progress(done, 6, losses={"total": 1.0 / done}, width=8, height=6, render=renders[-1],
                               message="converged at step 6 of 6" if done == 6 else "", eta=2.0))
    assert [r.calls for r in renders] == [1, 0, 1, 0, 0, 1]  # the first step, then every third
    assert job.preview == 3 and (tmp_path / "job" / "preview.jpg").is_file()
    assert (job.iteration, job.total, job.losses, job.eta) == (6, 6, {"total": 1 / 6}, 2.0)
    assert job.note == "converged at step 6 of 6" and job.work == pytest.approx(6 * 48 / 1e6)


def test_the_web_reporter_takes_a_video_of_unknown_length(tmp_path):
    reporter, job = _reporter(tmp_path, kind="video")
    reporter.step(Progress(2, None, "frame", render=Counted()))
    assert (job.iteration, job.total, job.preview, job.work, job.note) == (2, 2, 1, 0.0, None)
