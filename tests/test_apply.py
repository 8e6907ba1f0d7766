"""Applying fast style networks: images, folders, tiles, video, ONNX, shipped models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork.cli import main
from brushwork.config import ApplyConfig
from brushwork.errors import EXIT_PARTIAL, ConfigError
from brushwork.fast.inference import TorchStylizer, load_stylizer, run_tiled, tile_spans
from brushwork.fast.media import apply_video
from brushwork.media import plan_jobs
from brushwork.networks.model_files import read_metadata, save_transformer
from brushwork.networks.transformer import TransformerNet, TransformerSpec
from brushwork.precision import native_bf16

FP32 = ApplyConfig(precision="fp32", engine="torch")  # exports are compared with PyTorch at full precision


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    """A small random net; its output clearly differs from its input."""
    torch.manual_seed(0)
    net = TransformerNet(TransformerSpec(width=8, res_blocks=1))
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_transformer(path, net, {"style_image": "noise.png", "steps": 0})
    return path


def _photo(path: Path, w: int, h: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    small = (rng.random((max(2, h // 8), max(2, w // 8), 3)) * 255).astype(np.uint8)
    Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC).save(path)
    return path


@pytest.fixture()
def folder(tmp_path) -> Path:
    root = tmp_path / "in"
    (root / "a" / "b").mkdir(parents=True)
    _photo(root / "one.jpg", 40, 32)
    _photo(root / "a" / "two.png", 40, 32, seed=1)
    _photo(root / "a" / "b" / "three.png", 28, 36, seed=2)
    (root / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    return root


def test_folder_keeps_layout_and_skips_corrupt_file(tmp_path, folder, model_path, capsys):
    out = tmp_path / "out"
    code = main(["apply", str(model_path), str(folder), "-o", str(out), "-q", "--batch-size", "2"])
    captured = capsys.readouterr()
    assert code == EXIT_PARTIAL, captured.err  # done, except the file named on stderr
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == {
        "one_tiny.jpg", "a/two_tiny.png", "a/b/three_tiny.png"}  # named after the input and the model
    assert "broken.jpg" in captured.err and "skipped 1" in captured.err
    src = np.asarray(Image.open(folder / "a" / "two.png"), dtype=np.float32)
    res = np.asarray(Image.open(out / "a" / "two_tiny.png"), dtype=np.float32)
    assert res.shape == src.shape and np.abs(res - src).mean() > 5


def test_size_strength_and_preserve_colors(tmp_path, model_path):
    photo = _photo(tmp_path / "p.png", 64, 48)
    out = tmp_path / "out"
    assert main(["apply", str(model_path), str(photo), "-o", str(out / "full"), "-q", "--size", "32"]) == 0
    assert Image.open(out / "full" / "p_tiny.png").size == (32, 24)
    assert main(["apply", str(model_path), str(photo), "-o", str(out / "zero"), "-q",
                 "--strength", "0"]) == 0
    same = np.asarray(Image.open(out / "zero" / "p_tiny.png"), dtype=np.int16)
    assert np.abs(same - np.asarray(Image.open(photo), dtype=np.int16)).max() <= 1
    assert main(["apply", str(model_path), str(photo), "-o", str(out / "col"), "-q",
                 "--preserve-colors"]) == 0
    from brushwork.images import rgb_to_ycbcr

    def chroma(path):
        t = torch.from_numpy(np.asarray(Image.open(path), dtype=np.float32) / 255).permute(2, 0, 1)[None]
        return rgb_to_ycbcr(t)[:, 1:]

    # Colours come from the photo, much closer than without --preserve-colors.
    kept = (chroma(out / "col" / "p_tiny.png") - chroma(photo)).abs().mean()
    lost = (chroma(out / "full" / "p_tiny.png").mean() - chroma(photo).mean()).abs()
    assert kept < 0.02 and kept < lost + 0.02


def test_api_keeps_the_settings_of_the_config_it_is_given(tmp_path, model_path):
    """``brushwork.apply(model, photo, config=...)``: the config's size, strength and colours are
    used (the keywords' defaults used to overwrite them); a keyword that is given still wins."""
    import brushwork

    photo = Image.open(_photo(tmp_path / "p.png", 64, 48))
    config = ApplyConfig(size=32, strength=0.0, preserve_colors=True)
    kept = brushwork.apply(str(model_path), photo, config=config)
    assert kept.size == (32, 24)
    assert np.abs(np.asarray(kept, np.int16) - np.asarray(photo.resize((32, 24), Image.Resampling.LANCZOS),
                                                          np.int16)).mean() < 3  # strength 0: the photo
    assert brushwork.apply(str(model_path), photo, config=config, size=48).size == (48, 36)


def test_tile_layout_covers_with_overlap():
    cases = [(100, 40, 8), (1000, 256, 32), (40, 40, 8), (257, 256, 16), (3000, 1024, 64)]
    for length, tile, overlap in cases:
        spans = tile_spans(length, tile, overlap)
        assert spans[0][0] == 0 and spans[-1][1] == length
        assert all(start % 4 == 0 for start, _ in spans)
        assert all(b0 <= a1 - overlap + 3 for (_, a1), (b0, _) in zip(spans, spans[1:]))


def test_tiled_equals_untiled_away_from_seams(model_path):
    torch.manual_seed(1)
    stylizer = TorchStylizer(model_path)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 32), size=(96, 254), mode="bilinear")
    whole = stylizer.batch(x)
    # Statistics measured on the whole image: with a 24-pixel context band per tile (more than
    # the tiny net's receptive field) the tiled result equals the untiled one everywhere.
    exact = stylizer.large(x, ApplyConfig(tile_size=96, tile_overlap=48, tile_above=0, stats_size=256))
    assert exact.shape == whole.shape
    assert float((exact - whole).abs().max()) < 1e-4
    # A narrow overlap differs only near the seams (tiles start at 0, 80, 156).
    seams = stylizer.large(x, ApplyConfig(tile_size=96, tile_overlap=16, tile_above=0, stats_size=256))
    diff = (seams - whole).abs().amax(dim=(0, 1, 2))
    far = torch.ones(254, dtype=torch.bool)
    for seam in (88, 164):
        far[seam - 24:seam + 24] = False
    assert float(diff[far].max()) < 1e-4 and float(diff.max()) > 1e-3
    # Plain tiling: each tile normalises itself and the tiles disagree with the whole.
    plain = run_tiled(stylizer.batch, x, 96, 48)
    assert float((plain - whole).abs().mean()) > 0.01


def test_apply_uses_tiles_above_the_threshold(tmp_path, model_path):
    photo = _photo(tmp_path / "big.png", 200, 150)
    out = tmp_path / "out"
    assert main(["apply", str(model_path), str(photo), "-o", str(out), "-q", "--tile-above", "0.01",
                 "--tile-size", "64", "--tile-overlap", "16"]) == 0
    assert Image.open(out / "big_tiny.png").size == (200, 150)


def test_onnx_export_matches_pytorch(tmp_path, model_path, capsys):
    pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", str(model_path), "--onnx", str(onnx_path)]) == 0
    torch_s, onnx_s = load_stylizer(model_path, FP32), load_stylizer(onnx_path)
    assert onnx_s.runtime == "onnxruntime fp32"
    for shape in [(1, 3, 32, 48), (2, 3, 36, 20), (1, 3, 17, 23)]:  # dynamic height and width
        x = torch.rand(*shape)
        assert torch.allclose(onnx_s.batch(x), torch_s.batch(x), atol=1e-4)
    photo = _photo(tmp_path / "p.png", 40, 30)
    assert main(["apply", str(onnx_path), str(photo), "-o", str(tmp_path / "o"), "-q"]) == 0
    assert "onnxruntime" in capsys.readouterr().out


def test_half_export_round_trip(tmp_path, model_path):
    half = tmp_path / "half.safetensors"
    assert main(["export", str(model_path), "--half", str(half)]) == 0
    assert half.stat().st_size < model_path.stat().st_size * 0.6
    x = torch.rand(1, 3, 32, 32)
    halved, full = load_stylizer(half, FP32), load_stylizer(model_path, FP32)
    assert torch.allclose(halved.batch(x), full.batch(x), atol=0.02)


@pytest.mark.skipif(not native_bf16(), reason="this CPU has no bfloat16 units; auto means fp32 here")
def test_bf16_on_cpus_with_bf16_units_stays_close_to_fp32(model_path):
    x = torch.rand(2, 3, 64, 96)
    fp32, auto = load_stylizer(model_path, FP32), load_stylizer(model_path, ApplyConfig(engine="torch"))
    assert auto.bf16 and not fp32.bf16
    a, b = fp32.batch(x), auto.batch(x)
    assert b.dtype == torch.float32 and b.shape == a.shape
    assert 0 < float((a - b).abs().mean()) < 0.01  # bf16 round-off, not another picture


def test_errors(tmp_path, model_path, capsys):
    assert main(["apply", str(tmp_path / "nope.safetensors"), str(model_path), "-o", str(tmp_path)]) == 2
    assert "no such model file or shipped style" in capsys.readouterr().err
    assert main(["apply", str(model_path), str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "o")]) == 2
    with pytest.raises(ConfigError):
        ApplyConfig(strength=1.5)
    with pytest.raises(ConfigError, match="both"):
        (tmp_path / "x").mkdir()
        _photo(tmp_path / "x" / "p.png", 8, 8)
        plan_jobs([str(tmp_path / "x" / "p.png"), str(tmp_path / "x")], tmp_path / "o")


def _frame(i: int) -> np.ndarray:
    img = np.zeros((32, 48, 3), np.uint8)
    img[:, : 8 * (i + 1)] = (200, 60, 30)
    img[8:24, :] += 40
    return img


def _make_video(path: Path, frames: int = 6, fps: int = 12, audio: bool = True) -> None:
    import av

    if path.suffix == ".gif":
        images = [Image.fromarray(_frame(i)) for i in range(frames)]
        images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
        return
    fmt = {".mp4": "mp4", ".gif": "gif", ".webm": "webm"}[path.suffix]
    with av.open(str(path), "w", format=fmt) as out:
        codec = {"mp4": "libx264", "gif": "gif", "webm": "libvpx-vp9"}[fmt]
        v = out.add_stream(codec, rate=fps)
        v.width, v.height = 48, 32
        v.pix_fmt = "pal8" if fmt == "gif" else "yuv420p"
        a = None
        if audio:
            a = out.add_stream("aac" if fmt == "mp4" else "libopus", rate=48000)
            a.layout = "mono"
        for i in range(frames):
            for p in v.encode(av.VideoFrame.from_ndarray(_frame(i), format="rgb24")):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        if a is not None:
            samples = 48000 * frames // fps
            t = np.arange(samples) / 48000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
            frame.sample_rate = 48000
            frame.pts = 0
            for p in a.encode(frame):
                out.mux(p)
            for p in a.encode(None):
                out.mux(p)


def _probe(path: Path):
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        return frames, v.average_rate, len(c.streams.audio)


@pytest.mark.slow
@pytest.mark.parametrize("suffix,audio", [(".mp4", True), (".gif", False)])
def test_video_keeps_frames_rate_and_audio(tmp_path, model_path, suffix, audio):
    pytest.importorskip("av")
    source = tmp_path / f"clip{suffix}"
    _make_video(source, audio=audio)
    src_frames, src_rate, src_audio = _probe(source)
    target = tmp_path / "out" / source.name
    count = apply_video(load_stylizer(model_path), source, target, ApplyConfig(batch_size=4))
    frames, rate, n_audio = _probe(target)
    assert count == len(frames) == len(src_frames) == 6
    assert abs(float(rate) - float(src_rate)) < 0.5 and abs(float(rate) - 12) <= 1
    assert n_audio == src_audio == (1 if audio else 0)
    assert frames[0].shape == src_frames[0].shape
    assert np.abs(frames[3].astype(float) - src_frames[3].astype(float)).mean() > 5


@pytest.mark.slow
def test_cli_video_and_images_together(tmp_path, model_path, capsys):
    pytest.importorskip("av")
    root = tmp_path / "in"
    root.mkdir()
    _make_video(root / "clip.webm", frames=4, audio=True)
    _photo(root / "p.png", 32, 32)
    (root / "bad.mp4").write_bytes(b"not a video")
    out = tmp_path / "out"
    assert main(["apply", str(model_path), str(root), "-o", str(out), "-q"]) == EXIT_PARTIAL  # bad.mp4
    captured = capsys.readouterr()
    assert "4 video frames" in captured.out and "bad.mp4" in captured.err
    frames, _, n_audio = _probe(out / "clip_tiny.webm")
    assert len(frames) == 4 and n_audio == 1
    assert (out / "p_tiny.png").is_file() and not (out / "bad_tiny.mp4").exists()


def test_models_command_and_shipped_names(capsys):
    from brushwork.models import shipped_models

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert len(shipped_models()) >= 3
    for m in shipped_models():
        assert m.name in out
        assert load_stylizer(m.name).batch(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)
        meta = read_metadata(m.path)
        assert meta["dtype"] == "float16" and meta["style_image"].endswith(".jpg")
        assert m.path.stat().st_size < 5e6


def test_shipped_models_paint_yet_keep_the_photo():
    """Each shipped style changes the photo a lot, yet its result still lines up with that photo."""
    from brushwork.fast.inference import paint
    from brushwork.images import image_to_tensor, open_image
    from brushwork.models import shipped_models

    samples = Path(__file__).resolve().parents[1] / "src" / "brushwork" / "data" / "samples"
    photo = open_image(samples / "canyon.jpg").resize((192, 128))
    other = open_image(samples / "great_wave.jpg").resize((192, 128))

    def gray(image):
        t = image_to_tensor(image)[0].mean(0)
        return (t - t.mean()) / t.std()

    outputs = {}
    for m in shipped_models():
        result = paint(m.name, photo)
        assert result.size == photo.size
        painted = gray(result)
        assert float((painted * gray(photo)).mean()) > float((painted * gray(other)).mean()) + 0.1
        outputs[m.name] = image_to_tensor(result)
        assert float((outputs[m.name] - image_to_tensor(photo)).abs().mean()) > 0.05
    names = list(outputs)
    for a, b in zip(names, names[1:]):  # every style paints differently
        assert float((outputs[a] - outputs[b]).abs().mean()) > 0.03

