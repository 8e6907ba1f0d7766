"""Motion between frames (brushwork.temporal) and stable fast video (brushwork.fast.video, apply_video).

Clips are made from real photos with known motion (tests/support/clips.py), at small sizes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from support.clips import load_photo, pan, read_video, with_cut, write_video, zoom, zoom_flow

from brushwork import temporal as T
from brushwork.cli import main
from brushwork.config import ApplyConfig
from brushwork.errors import ConfigError, ImageError
from brushwork.fast.inference import load_stylizer, stylize_images
from brushwork.fast.media import apply_video
from brushwork.fast.video import FrameStylizer, VideoStats, stylize_frames

SIZE = (96, 64)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [load_photo("cv_building.jpg"), load_photo("cv_baboon.jpg", fallback_seed=1)]


@pytest.fixture(scope="module")
def stylizer():
    return load_stylizer("starry-night")


def _epe(flow: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    return float(np.sqrt(((flow - truth) ** 2).sum(-1))[mask].mean())


# --- flow, masks, cuts -------------------------------------------------------------------------------
def test_flow_recovers_a_known_pan_and_zoom(photos):
    frames = pan(photos[0], 3, SIZE, dx=2.5, dy=-1.0)
    m = next(T.motions(frames))
    assert not m.cut and m.reliable_share > 0.8
    assert _epe(m.backward, np.array([2.5, -1.0], np.float32), m.reliable) < 0.3
    z = next(T.motions(zoom(photos[1], 2, SIZE, factor=1.04)))
    assert _epe(z.backward, zoom_flow(SIZE, 1.04), z.reliable) < 0.4
    assert _epe(z.backward, np.zeros(2, np.float32), z.reliable) > 0.8  # the zoom is really seen


def test_flow_at_reduced_size_is_scaled_back(photos):
    frames = pan(photos[0], 2, (320, 200), dx=4.0, dy=2.0)
    small = T.FlowEstimator(side=160)(T.to_gray(frames[1]), T.to_gray(frames[0]))
    assert small.shape == (200, 320, 2)
    assert abs(float(np.median(small[..., 0])) - 4.0) < 0.3
    assert abs(float(np.median(small[..., 1])) - 2.0) < 0.3
    with pytest.raises(ValueError, match="preset"):
        T.FlowEstimator("glacial")


def test_mask_flags_the_border_the_camera_uncovers_and_cuts(photos):
    frames = pan(photos[0], 2, SIZE, dx=4.0, dy=0.0)  # new content enters on the right
    m = next(T.motions(frames))
    assert m.reliable[:, -3:].mean() < 0.1  # pixels with no past are not trusted
    assert m.reliable[:, 10:-10].mean() > 0.9
    clip, first = with_cut(pan(photos[0], 3, SIZE), pan(photos[1], 3, SIZE))
    cuts = [m.cut for m in T.motions(clip)]
    assert cuts == [t + 1 == first for t in range(len(clip) - 1)]


def test_warp_moves_the_previous_frame_onto_the_current(photos):
    frames = pan(photos[0], 2, SIZE, dx=3.0, dy=1.0)
    m = next(T.motions(frames))
    before = T.pair_error(frames[0], frames[1], T.Motion(np.zeros_like(m.backward), m.reliable, False))
    after = T.pair_error(frames[0], frames[1], m)
    assert after < before / 10
    assert math.isnan(T.pair_error(frames[0], frames[1], T.Motion(m.backward, m.reliable & False, False)))


def test_warping_error_of_a_still_video_is_zero_and_of_noise_is_large(photos):
    still = [pan(photos[0], 1, SIZE)[0]] * 3
    assert T.mean_error(T.warping_errors(still, still)) == 0
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8) for _ in still]
    assert T.mean_error(T.warping_errors(still, noise)) > 0.05
    with pytest.raises(ValueError, match="output frames"):
        T.warping_errors(still, noise[:2])


# --- the stabiliser and fast video ----------------------------------------------------------------
def test_stabilizer_resets_at_a_scene_cut(photos):
    clip, first = with_cut(pan(photos[0], 3, SIZE), pan(photos[1], 3, SIZE))
    rng = np.random.default_rng(1)
    styled = [rng.random((SIZE[1], SIZE[0], 3)).astype(np.float32) for _ in clip]
    stab = T.Stabilizer(0.5)
    outs = [stab(f, s) for f, s in zip(clip, styled)]
    assert np.array_equal(outs[0], styled[0]) and np.array_equal(outs[first], styled[first])
    assert not np.allclose(outs[first + 1], styled[first + 1]) and stab.cuts == 1
    with pytest.raises(ValueError):
        T.Stabilizer(1.0)


def test_temporal_lowers_the_warping_error_of_a_real_model(photos, stylizer):
    frames = pan(photos[0], 8, SIZE, dx=1.7, dy=0.6)
    moves = list(T.motions(frames))
    per_frame = list(stylize_frames(stylizer, frames, ApplyConfig(temporal=0)))
    stats = VideoStats()
    steady = list(stylize_frames(stylizer, frames, ApplyConfig(), stats))
    e_per, e_steady = (T.mean_error(T.warping_errors(frames, o, moves)) for o in (per_frame, steady))
    assert e_steady < 0.6 * e_per
    assert stats.frames == 8 and stats.cuts == 0 and stats.temporal_seconds > 0
    assert np.abs(steady[-1].astype(float) - frames[-1]).mean() > 10  # still painted


def test_temporal_zero_is_each_frame_on_its_own(photos, stylizer):
    frames = pan(photos[0], 5, SIZE)
    config = ApplyConfig(temporal=0, batch_size=2)
    got = FrameStylizer(stylizer, config).run(frames)
    for frame, result in zip(frames, got):
        x = torch.from_numpy(frame.astype(np.float32) / 255).permute(2, 0, 1)[None]
        alone = stylize_images(stylizer, [x], config)[0][0].permute(1, 2, 0).numpy()
        alone = (alone * 255 + 0.5).astype(np.uint8)
        # oneDNN picks other kernels for a batch of 2 than for 1 on AVX2 (bit-equal on AVX-512):
        # float differences of ~1e-6 flip the rounding of a few pixels by one 8-bit level, no more.
        diff = np.abs(result.astype(int) - alone)
        assert diff.max() <= 1 and diff.mean() < 0.01
    with pytest.raises(ConfigError, match="temporal"):
        ApplyConfig(temporal=1.0)


# --- files -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip(tmp_path_factory, photos) -> tuple[Path, list[np.ndarray]]:
    """A 'real-looking' clip: a pan, a cut, a zoom, with a sound track (H.264 + AAC)."""
    frames, _ = with_cut(pan(photos[0], 6, SIZE, dx=1.5, dy=0.5), zoom(photos[1], 6, SIZE, 1.02))
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_video(path, frames, fps=12, audio=True)
    return path, frames


@pytest.mark.slow
def test_cli_apply_on_a_clip_keeps_rate_audio_and_steadies(tmp_path, clip):
    source, _ = clip
    src_frames, src_rate, _ = read_video(source)
    assert main(["apply", "starry-night", str(source), "-o", str(tmp_path / "steady"), "-q"]) == 0
    assert main(["apply", "starry-night", str(source), "-o", str(tmp_path / "plain"), "-q",
                 "--temporal", "0", "--video-crf", "0"]) == 0
    steady, rate, audio = read_video(tmp_path / "steady" / "clip_starry-night.mp4")
    plain, _, _ = read_video(tmp_path / "plain" / "clip_starry-night.mp4")
    assert len(steady) == len(plain) == len(src_frames) == 12 and audio == 1
    assert abs(rate - src_rate) < 0.5
    moves = list(T.motions(src_frames))
    assert sum(m.cut for m in moves) == 1
    e_plain, e_steady = (T.mean_error(T.warping_errors(src_frames, o, moves)) for o in (plain, steady))
    assert e_steady < 0.6 * e_plain
    # --temporal 0 is today's per-frame output (up to the encoder's loss, none at --video-crf 0)
    stylizer = load_stylizer("starry-night")
    alone = list(stylize_frames(stylizer, src_frames, ApplyConfig(temporal=0)))
    def luma_gap(a, b):  # the encoder halves chroma resolution: compare brightness
        return np.mean([np.abs(T.to_gray(x).astype(float) - T.to_gray(y)).mean() for x, y in zip(a, b)])

    assert luma_gap(plain, alone) < 1.5 and luma_gap(plain, alone) < luma_gap(steady, alone)


def test_arbitrary_network_video_is_steady_too(tmp_path, photos, painting_file):
    frames = pan(photos[0], 5, SIZE, dx=2.0, dy=0.0)
    source = tmp_path / "pan.mp4"
    write_video(source, frames)
    decoded, _, _ = read_video(source)
    outs = {}
    for strength in (0.0, 0.5):
        target = tmp_path / f"out{strength}.mp4"
        stylizer = load_stylizer(None, ApplyConfig(), styles=[painting_file])
        assert apply_video(stylizer, source, target, ApplyConfig(temporal=strength)) == 5
        outs[strength] = read_video(target)[0]
    moves = list(T.motions(decoded))
    assert (T.mean_error(T.warping_errors(decoded, outs[0.5], moves))
            < 0.6 * T.mean_error(T.warping_errors(decoded, outs[0.0], moves)))


def _unchanged_after(action, target: Path) -> None:
    """``action`` fails with a one-line ImageError and leaves ``target`` (an old result) untouched."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"an older result")
    with pytest.raises(ImageError) as info:
        action()
    assert "\n" not in str(info.value)
    assert target.read_bytes() == b"an older result"
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left


def test_corrupt_truncated_and_streamless_videos_are_refused_cleanly(tmp_path, clip, stylizer):
    source, _ = clip
    data = source.read_bytes()
    target = tmp_path / "out" / "result.mp4"
    config = ApplyConfig()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    _unchanged_after(lambda: apply_video(stylizer, truncated, target, config), target)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    _unchanged_after(lambda: apply_video(stylizer, garbage, target, config), target)
    sound = tmp_path / "sound.mkv"  # audio only: no video stream
    import av

    with av.open(str(sound), "w", format="matroska") as out:
        a = out.add_stream("aac", rate=48000)
        a.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        for p in [*a.encode(frame), *a.encode(None)]:
            out.mux(p)
    with pytest.raises(ImageError, match="no video stream"):
        apply_video(stylizer, sound, target, config)


def test_cli_video_errors_are_one_line(tmp_path, clip, capsys):
    source, _ = clip
    bad = tmp_path / "in" / "bad.mp4"
    bad.parent.mkdir()
    bad.write_bytes(source.read_bytes()[:3000])
    out = tmp_path / "out"
    code = main(["apply", "starry-night", str(bad), "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert code != 0 and "bad.mp4" in err and "Traceback" not in err
    assert not any(p.is_file() for p in out.rglob("*")) if out.exists() else True
    code = main(["apply", "starry-night", str(source), "-o", str(out), "-q", "--temporal", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "temporal" in err and len(err.strip().splitlines()) == 1


def test_a_clip_cut_off_mid_stream_is_refused(tmp_path, photos, stylizer):
    frames = pan(photos[0], 12, SIZE)
    source = tmp_path / "clip.mkv"  # Matroska: FFmpeg decodes a cut-off file up to the cut, silently
    write_video(source, frames)
    assert apply_video(stylizer, source, tmp_path / "whole.mkv", ApplyConfig()) == 12
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size * 2 // 3])
    _unchanged_after(lambda: apply_video(stylizer, cut, tmp_path / "out" / "cut.mkv", ApplyConfig()),
                     tmp_path / "out" / "cut.mkv")


# --- evaluate on a video -------------------------------------------------------------------------------
@pytest.mark.slow
def test_evaluate_reports_warping_errors_of_a_clip(tmp_path, clip):
    from brushwork.config import EvaluateConfig
    from brushwork.evaluation.run import evaluate

    painting = Path("/work/shared/data/styles/van_gogh_starry_night.jpg")
    if not painting.is_file():
        pytest.skip("the shared paintings are not here")
    source, _ = clip
    out = tmp_path / "report"
    config = EvaluateConfig(contents=(str(source),), styles=(str(painting),), methods=("model:starry-night",),
                            output=str(out), size=96, eval_size=64, max_frames=8, threads=2)
    result = evaluate(config)
    (row,) = result.rows
    assert row["status"] == "ok", row.get("reason")
    assert row["frames"] == 8 and row["scene_cuts"] == 1  # the cut comes after frame 6
    assert 0 < row["warp_error"] < 0.6 * row["warp_error_per_frame"]
    assert row["warp_error_input"] > 0 and len(row["warp_errors"]["result"]) == 7
    assert (out / "flicker.png").is_file() and (out / "video_strips.png").is_file()
    assert "warp_error" in (out / "results.csv").read_text().splitlines()[0]
    again = evaluate(config)  # from the cache: the series come back, so the plot is drawn again
    assert again.computed == 0
    np.testing.assert_array_equal(again.rows[0]["warp_errors"]["result"], row["warp_errors"]["result"])
