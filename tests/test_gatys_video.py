"""Gatys video (Ruder et al.): frames tied to the previous result by the flow; tiny clips, random VGG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.clips import load_photo, pan, read_video, with_cut, write_video

from brushwork.cli import main
from brushwork.config import StylizeConfig
from brushwork.errors import ImageError
from brushwork.gatys.video import GatysFrames, TemporalLoss, stylize_video
from brushwork.temporal import mean_error, motions, warping_errors

SIZE = (48, 32)
#: Fine texture that a 48 px frame still resolves (at this size the other photos alias into "cuts").
PHOTO = "cv_baboon.jpg"
FAST = ["--weights", "random", "--size", "48", "--iterations", "3", "--quiet"]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # tiny tensors: one thread is as fast, and the machine is shared


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return pan(load_photo(PHOTO, fallback_seed=1), 4, SIZE, dx=1.5, dy=0.5)


def _config(**changes) -> StylizeConfig:
    return StylizeConfig(**{"size": 48, "iterations": 5, "weights": "random", **changes})


def test_temporal_loss_follows_the_scale_and_only_reliable_pixels():
    warped = torch.rand(1, 3, 32, 48)
    mask = torch.zeros(1, 1, 32, 48)
    mask[..., :, :24] = 1
    loss = TemporalLoss(warped, mask, 10.0)
    assert float(loss(warped)) == 0
    moved_unreliable = warped.clone()
    moved_unreliable[..., 24:] = 0  # only where the mask is 0
    assert float(loss(moved_unreliable)) == 0
    assert float(loss(torch.zeros_like(warped))) > 0
    small = loss(torch.rand(1, 3, 16, 24))  # a coarse scale of a multi-scale run
    assert small.shape == () and float(small) > 0


def test_temporal_loss_lowers_the_warping_error(frames, random_vgg, painting):
    moves = list(motions(frames))
    errors = {}
    for weight in (0.0, 100.0):
        outs = GatysFrames([painting], _config(temporal_weight=weight), vgg=random_vgg).run(frames)
        assert len(outs) == len(frames) and outs[0].shape == frames[0].shape
        errors[weight] = mean_error(warping_errors(frames, outs, moves))
    assert not any(m.cut for m in moves)
    assert errors[100.0] < 0.5 * errors[0.0], errors


def test_a_scene_cut_restarts_from_a_fresh_start(random_vgg, painting):
    photo = load_photo(PHOTO, fallback_seed=1)
    shot_a = pan(photo, 2, SIZE)
    shot_b = pan(np.ascontiguousarray(photo[::-1, ::-1]), 2, SIZE)  # another scene
    clip, cut = with_cut(shot_a, shot_b)
    worker = GatysFrames([painting], _config(), vgg=random_vgg)
    outs = worker.run(clip)
    assert worker.stats.cuts == 1 and worker.stats.frames == 4
    fresh = GatysFrames([painting], _config(), vgg=random_vgg).paint(clip[cut])
    np.testing.assert_array_equal(outs[cut], fresh)  # as if the video began there
    tied = GatysFrames([painting], _config(), vgg=random_vgg).paint(clip[cut + 1])
    assert not np.array_equal(outs[cut + 1], tied)  # within a shot the frames stay tied


@pytest.mark.slow
@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_a_clip_owns_a_loss_network_cut_to_its_layers(frames, painting, precision, dtype):
    """Without a network given, a clip loads what a still picture does: only the convolutions up to
    its deepest loss layer, in the run's precision (bf16 weights: autocast's cast, done once)."""
    worker = GatysFrames([painting], _config(precision=precision, content_layers=("relu2_2",),
                                             style_layers=("relu1_1", "relu3_1")))
    out = worker.paint(frames[0])
    assert out.shape == frames[0].shape
    assert worker.vgg.names[-1] == "relu3_1" and not hasattr(worker.vgg, "conv3_2")
    assert {p.dtype for p in worker.vgg.parameters()} == {dtype}


def test_cli_stylizes_a_clip_keeping_frames_rate_and_audio(tmp_path, frames, painting, painting_file, capsys):
    source = tmp_path / "clip.mp4"
    write_video(source, frames[:3], fps=12, audio=True)
    out = tmp_path / "styled.mp4"
    events = []
    stats = stylize_video(source, [painting], out, _config(iterations=2), progress=events.append)
    assert stats.frames == 3 and stats.iterations == 6
    assert events[-1].done == 3 and events[-1].total == 3
    written, rate, audio = read_video(out)
    assert len(written) == 3 and rate == pytest.approx(12) and audio == 1
    assert written[0].shape == frames[0].shape
    cli_out = tmp_path / "cli.mkv"
    assert main(["stylize", str(source), str(painting_file), "-o", str(cli_out), *FAST]) == 0
    assert "3 frames" in capsys.readouterr().out
    assert len(read_video(cli_out)[0]) == 3


def test_bad_videos_give_one_line_errors_and_write_nothing(tmp_path, painting_file, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    out = tmp_path / "out.mp4"
    assert main(["stylize", str(bad), str(painting_file), "-o", str(out), *FAST]) != 0
    err = capsys.readouterr().err
    assert "bad.mp4" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4", "painting.png"]
    assert main(["stylize", str(bad), str(painting_file), "-o", str(tmp_path / "out.png"), *FAST]) != 0
    err = capsys.readouterr().err
    assert "video" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ImageError):
        stylize_video(bad, [], out, _config())
