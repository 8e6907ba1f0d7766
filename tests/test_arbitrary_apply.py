"""Any painting without training: ``apply --style``, stroke size, ``export --style``, and
``train --init arbitrary``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork.cli import main
from brushwork.config import ApplyConfig, TrainConfig
from brushwork.errors import ConfigError, ImageError
from brushwork.fast.inference import ArbitraryStylizer, load_stylizer, paint, stylize_image
from brushwork.fast.train import train
from brushwork.images import image_to_tensor, open_image
from brushwork.networks.arbitrary import FoldedTransfer
from brushwork.networks.model_files import load_transformer, read_metadata

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "brushwork" / "data" / "samples"
CANYON, STARRY, WAVE = SAMPLES / "canyon.jpg", SAMPLES / "starry_night.jpg", SAMPLES / "great_wave.jpg"


def _t(image: Image.Image) -> torch.Tensor:
    return image_to_tensor(image)


def _diff(a: Image.Image, b: Image.Image) -> float:
    return float((_t(a) - _t(b.resize(a.size))).abs().mean())


@pytest.fixture(scope="module")
def canyon() -> Image.Image:
    return open_image(CANYON).resize((160, 96))


def test_any_painting_paints_and_paintings_differ(canyon):
    starry = paint(None, canyon, styles=[STARRY])
    wave = paint(None, canyon, styles=[WAVE])
    assert starry.size == wave.size == canyon.size
    assert _diff(starry, canyon) > 0.08 and _diff(wave, canyon) > 0.08
    assert _diff(starry, wave) > 0.05


def test_strength_moves_toward_the_photos_own_style(canyon):
    full = paint(None, canyon, styles=[STARRY], strength=1.0)
    light = paint(None, canyon, styles=[STARRY], strength=0.2)
    assert _diff(full, light) > 0.03
    assert _diff(light, canyon) < _diff(full, canyon)  # less of the painting, still painted
    assert _diff(light, canyon) > 0.01


def test_blend_lies_between_the_two_paintings(canyon):
    a = _t(paint(None, canyon, styles=[STARRY]))
    b = _t(paint(None, canyon, styles=[WAVE]))
    mixed = _t(paint(None, canyon, styles=[STARRY, WAVE], config=ApplyConfig(style_blend_weights=(1, 1))))
    to_a, to_b, a_to_b = (mixed - a).abs().mean(), (mixed - b).abs().mean(), (a - b).abs().mean()
    assert to_a < a_to_b and to_b < a_to_b
    with pytest.raises(ConfigError, match="blend weights"):
        load_stylizer(None, ApplyConfig(style_blend_weights=(1, 2, 3)), styles=[STARRY, WAVE])


def test_bad_paintings_get_one_line_errors(tmp_path):
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8), "red").save(tiny)
    with pytest.raises(ImageError, match="too small"):
        load_stylizer(None, styles=[tiny])
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a painting")
    with pytest.raises(ImageError):
        load_stylizer(None, styles=[junk])
    grey = tmp_path / "grey.png"
    Image.new("L", (64, 64), 90).save(grey)  # grayscale is a painting like any other
    assert load_stylizer(None, styles=[grey]).vector.shape == (1, 100)
    with pytest.raises(ConfigError, match="not both"):
        load_stylizer("starry-night", styles=[STARRY])


def test_cli_apply_style(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["apply", "--style", str(STARRY), "--style", str(WAVE), str(CANYON),
                 "--style-blend-weights", "3", "1", "--size", "96", "-o", str(out), "-q"]) == 0
    result = Image.open(out / "canyon_starry-night+great-wave.jpg")  # named after photo and paintings
    assert max(result.size) == 96
    assert "canyon.jpg" not in capsys.readouterr().err  # the input was not taken for a painting
    with pytest.raises(SystemExit) as exc:  # argparse: a usage line and exit 2
        main(["apply", "--style", str(STARRY), "-o", str(out)])
    assert exc.value.code == 2
    assert main(["apply", "starry-night", "-o", str(out)]) == 2
    assert "no inputs" in capsys.readouterr().err
    assert main(["apply", "--style", str(tmp_path / "missing.jpg"), str(CANYON), "-o", str(out)]) == 2
    assert "missing.jpg" in capsys.readouterr().err


def test_stroke_size_keeps_stroke_scale_and_adds_detail():
    """A big picture is painted at the stroke size (structure) plus a full-size pass's detail."""
    photo = open_image(CANYON).resize((640, 384))
    stylizer = load_stylizer(None, styles=[STARRY])
    soft = stylize_image(stylizer, photo, ApplyConfig(stroke_size=320, detail=0.0))
    sharp = stylize_image(stylizer, photo, ApplyConfig(stroke_size=320, detail=0.5, detail_above=1.0))
    # 640x384 is 2.4x the stroke area: under the default detail_above (4x) the costly pass is skipped
    default = stylize_image(stylizer, photo, ApplyConfig(stroke_size=320, detail=0.5))
    assert _t(default).equal(_t(soft))
    direct = stylize_image(stylizer, photo, ApplyConfig(stroke_size=0))
    # painted at the size of stroke_size^2 pixels of area: 640x384 -> 413x248
    small = stylize_image(stylizer, photo.resize((413, 248), Image.Resampling.BOX),
                          ApplyConfig(stroke_size=0))
    assert soft.size == sharp.size == direct.size == photo.size

    def low(image):  # what is left at the stroke size
        return _t(image.resize((413, 248), Image.Resampling.BOX))

    def detail(image):  # second differences: the finest detail
        t = _t(image).mean(1)
        return float((t[..., 2:] - 2 * t[..., 1:-1] + t[..., :-2]).abs().mean())

    # the structure is the small painting's, not the full-size one's
    assert float((low(soft) - _t(small)).abs().mean()) < 0.5 * float((low(direct) - _t(small)).abs().mean())
    assert detail(sharp) > 1.3 * detail(soft)  # the detail pass makes it crisp again


def test_export_style_gives_a_model_without_training(tmp_path, canyon, capsys):
    onnx_file, half = tmp_path / "wave.onnx", tmp_path / "wave.safetensors"
    assert main(["export", "--style", str(WAVE), "--onnx", str(onnx_file), "--half", str(half)]) == 0
    net, meta = load_transformer(half)
    assert isinstance(net, FoldedTransfer) and meta["style_image"] == "great_wave.jpg"
    config = ApplyConfig(stroke_size=0, precision="fp32")
    reference = _t(stylize_image(ArbitraryStylizer([WAVE], config), canyon, config))
    for model in (half, onnx_file):
        out = _t(paint(model, canyon, config=config))
        assert float((out - reference).abs().max()) < 0.02, model.suffix  # fp16 and ONNX round-off
    assert main(["export", "starry-night", "--style", str(WAVE), "--half", str(half)]) == 2


def test_train_init_arbitrary_fine_tunes_magentas_network(tmp_path):
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):  # training refuses fewer than 8 readable photos
        pixels = (rng.random((6, 8, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).resize((64, 48)).save(photos / f"{i}.png")
    config = TrainConfig(init="arbitrary", loss_scaling="relative", image_size=32, batch_size=2, steps=3,
                         loss_weights="random", sample_every=0, checkpoint_every=2, num_samples=1,
                         style_layers=("relu1_1:4", "relu2_1", "relu3_1"), content_layer="relu2_1",
                         style_weight=5.0, lr=1e-4)
    assert config.style_layer_weights == (4.0, 1.0, 1.0)
    model = train(STARRY, photos, tmp_path / "run", config)
    net, meta = load_transformer(model)
    assert isinstance(net, FoldedTransfer)
    assert read_metadata(model)["loss_scaling"] == "relative" and meta["init"] == "arbitrary"
    start = ArbitraryStylizer([STARRY], ApplyConfig()).net
    pairs = zip(net.state_dict().values(), start.state_dict().values())
    moved = [float((a - b).abs().max()) for a, b in pairs]
    assert max(moved) > 0  # fine-tuned, starting from the painting's folded style
    resumed = train(STARRY, photos, tmp_path / "run", config.replace(steps=4), resume=True)
    assert int(read_metadata(resumed)["steps"]) == 4


def test_shipped_models_have_no_bright_edge_column():
    """The old starry-night had a speckled 1-px column on the right edge (41 vs ~11 inside)."""
    from brushwork.models import shipped_models

    photo = open_image(CANYON).resize((256, 160))
    for m in shipped_models():
        t = _t(paint(m.name, photo))[0].mean(0)
        edge = float((t[:, -1] - t[:, -2]).abs().mean())
        inside = float((t[:, 1:-1] - t[:, :-2]).abs().mean())
        assert edge < 2.5 * inside, m.name


@pytest.mark.parametrize("model", ["starry-night", None])
def test_paint_keeps_the_configs_values_and_only_given_keywords_replace_them(canyon, model):
    """brushwork.apply(..., config=ApplyConfig(...)) paints with the config's size, strength and colours;
    a keyword given beside it replaces only its own field."""
    import brushwork

    styles = None if model else [STARRY]
    config = ApplyConfig(size=64, strength=0.5, preserve_colors=True)
    from_config = brushwork.apply(model, canyon, styles=styles, config=config)
    from_keywords = brushwork.apply(model, canyon, styles=styles, size=64, strength=0.5, preserve_colors=True)
    default = brushwork.apply(model, canyon, styles=styles, size=64)
    assert max(from_config.size) == 64
    assert np.array_equal(np.asarray(from_config), np.asarray(from_keywords))
    assert _diff(from_config, default) > 0.01  # half strength, the photo's colours
    stronger = brushwork.apply(model, canyon, styles=styles, config=config, strength=1.0)
    assert max(stronger.size) == 64 and _diff(stronger, from_config) > 0.01
    assert np.array_equal(np.asarray(stronger), np.asarray(brushwork.apply(
        model, canyon, styles=styles, config=config.replace(strength=1.0))))
