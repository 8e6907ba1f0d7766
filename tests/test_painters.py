"""One painter per method, shared by evaluation and the web app, and one VGG cache for all of them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from conftest import make_painting, make_photo

from brushwork import painters
from brushwork.config import ApplyConfig, EvaluateConfig, StylizeConfig
from brushwork.evaluation.inputs import load_input
from brushwork.evaluation.jobs import plan_jobs
from brushwork.evaluation.methods import parse_method
from brushwork.networks.model_files import save_transformer
from brushwork.networks.transformer import TransformerNet, TransformerSpec
from brushwork.progress import Progress
from brushwork.web.methods import FastModel, GatysJobMethod, JobOptions, ModelJobMethod


@pytest.fixture
def tiny_model(tmp_path: Path, painting_file: Path) -> Path:
    """An untrained tiny TransformerNet that says it was trained on ``painting_file``."""
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    digest = hashlib.sha256(painting_file.read_bytes()).hexdigest()
    meta = {"style_image": "renamed.png", "style_sha256": digest, "steps": "3"}
    save_transformer(path, TransformerNet(TransformerSpec(width=8, res_blocks=1)), meta)
    return path


def test_one_vgg_cache_for_every_gatys_painter():
    first = painters.loss_network("vgg19", "random")
    assert painters.loss_network("vgg19", "random") is first  # loaded once
    assert painters.loss_network("vgg19", "random", "avg") is not first  # other settings: another net
    config = StylizeConfig(weights="random", size=32, iterations=2)
    web = GatysJobMethod("random").painter(JobOptions(size=32, iterations=2))
    evaluation = parse_method("gatys:weights=random,iterations=2", EvaluateConfig(size=32))
    evaluation.prepare()
    assert isinstance(web, painters.GatysPainter) and isinstance(evaluation.painter, painters.GatysPainter)
    assert web.vgg is first and evaluation.painter.vgg is first and painters.GatysPainter(config).vgg is first
    assert web.replace(size=48).vgg is first


def test_gatys_painter_paints_and_reports_steps():
    painter = painters.GatysPainter(StylizeConfig(weights="random", size=32, iterations=3))
    steps: list[Progress] = []
    result = painter.paint(make_photo(48, 32), make_painting(), callback=steps.append)
    assert result.size == (32, 21)
    assert [s.done for s in steps] == [1, 2, 3] and all(s.total == 3 for s in steps)
    assert set(steps[-1].losses) >= {"total", "content", "style"} and steps[-1].image.size == result.size
    with pytest.raises(Exception, match="needs a painting"):
        painter.paint(make_photo(), None)


def test_web_and_evaluation_share_the_fast_painter(tiny_model: Path, painting_file: Path):
    web = ModelJobMethod([FastModel("tiny", "Tiny", tiny_model)])
    loaded = web.painter("tiny")
    assert isinstance(loaded, painters.ModelPainter) and web.painter("tiny") is loaded  # loaded once
    method = parse_method(f"model:{tiny_model}", EvaluateConfig(size=40))
    style = load_input(painting_file, 1)
    jobs = plan_jobs([load_input(painting_file, 1)], [style], [method])  # reads the model's painting
    assert isinstance(method.painter, painters.ModelPainter) and type(method.painter) is type(loaded)
    assert jobs[0].style is style  # matched by sha256, though the file was renamed
    assert method.painter.meta["steps"] == "3"


def test_model_painter_paints_files_and_tensors_as_apply_does(tiny_model: Path, tmp_path: Path):
    from brushwork.errors import BrushworkDeprecationWarning
    from brushwork.media import load_photo
    from brushwork.media import plan_jobs as plan_files

    with pytest.warns(BrushworkDeprecationWarning, match="painters.FastPainter is now painters.ModelPainter"):
        assert painters.FastPainter is painters.ModelPainter  # the deprecated name still works
    painter = painters.ModelPainter(tiny_model, ApplyConfig(size=32))
    photo = tmp_path / "photo.png"
    make_photo(64, 48).save(photo)
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    jobs = plan_files([str(photo), str(tmp_path / "broken.png")], tmp_path / "out", style="tiny")
    events: list = []
    failures = painter.paint_files(jobs, progress=events.append)
    assert len(failures) == 1 and "broken.png" in failures[0]
    assert (tmp_path / "out" / "photo_tiny.png").is_file() and (events[-1].done, events[-1].total) == (2, 2)
    tensor = load_photo(photo, 32)
    [out] = painter.paint_tensors([tensor])
    assert out.shape == tensor.shape and float(out.min()) >= 0 and float(out.max()) <= 1


def test_fast_painter_copies_share_the_model(tiny_model: Path):
    painter = painters.ModelPainter(tiny_model, ApplyConfig(size=40))
    small = painter.replace(size=24)
    assert small.stylizer is painter.stylizer and small.config.size == 24 and painter.config.size == 40
    steps: list[Progress] = []
    assert max(painter.paint(make_photo(64, 48), callback=steps.append).size) == 40
    assert max(small.paint(make_photo(64, 48)).size) == 24
    assert [(s.done, s.total) for s in steps] == [(1, 1)]
    painter.warm_up()
