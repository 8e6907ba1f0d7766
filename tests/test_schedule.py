"""Gatys in less time: the default schedule, the --tolerance stop, --init arbitrary, and the in-line Gram
loss (same numbers as plain autograd, in either memory layout)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brushwork.cli import main
from brushwork.config import StylizeConfig
from brushwork.errors import ConfigError
from brushwork.gatys.optimize import converged, scale_sizes, stylize
from brushwork.losses import PerceptualObjective, gram_loss, gram_matrix, gram_tap, style_loss, tv_loss
from brushwork.networks.vgg import VGGFeatures

TINY = dict(size=32, weights="random")


# --- the stopping rule -----------------------------------------------------------------------------
def test_converged_needs_a_full_window_and_a_small_relative_fall():
    falling = [100.0 * 0.9**i for i in range(30)]  # 10 % per step: far from converged
    flat = [1.0 + 1e-6 * (30 - i) for i in range(30)]  # ~1e-6 per step
    assert not converged(falling, 1e-3)
    assert converged(flat, 1e-3)
    assert not converged(flat[:10], 1e-3)  # fewer than window + 1 values: never
    assert not converged(flat, 0.0)  # 0 = off
    assert converged([5.0] * 12, 1e-9)  # no change at all


def test_schedule_defaults_and_explicit_iterations():
    config = StylizeConfig()
    sizes = scale_sizes(config.size, config.resolved_multiscale)
    assert sizes == [256, 512]  # default 512 px: one coarse scale, then the full size
    assert config.iterations_per_scale(len(sizes)) == [40, 20]  # most at the cheap scale
    assert StylizeConfig(size=1024).iterations_per_scale(3) == [40, 20, 20]
    assert StylizeConfig(optimizer="adam").iterations_per_scale(2) == [200, 100]
    assert StylizeConfig().iterations_per_scale(6)[-1] == 20  # never fewer than 20
    assert config.resolved_tolerance > 0
    given = StylizeConfig(iterations=300)
    assert given.iterations_per_scale(2) == [300, 300]  # --iterations means what it says
    assert given.resolved_tolerance == 0.0  # ... and every one of them runs
    assert StylizeConfig(iterations=300, tolerance=0.01).resolved_tolerance == 0.01
    assert scale_sizes(256, StylizeConfig(size=256).resolved_multiscale) == [256]
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ConfigError, match="tolerance"):
            StylizeConfig(tolerance=bad)


def test_tolerance_stops_a_scale_early_and_says_so(photo, painting, random_vgg):
    log = []
    stylize(photo, painting, StylizeConfig(**TINY, iterations=60, tolerance=0.05, multiscale=False),
            vgg=random_vgg, callback=log.append)
    assert 10 < len(log) < 60
    assert log[-1].converged and not any(it.converged for it in log[:-1])
    full = []
    stylize(photo, painting, StylizeConfig(**TINY, iterations=25, multiscale=False), vgg=random_vgg,
            callback=full.append)
    assert len(full) == 25 and not any(it.converged for it in full)


def test_each_scale_has_its_own_budget(photo, painting, random_vgg):
    log = []
    config = StylizeConfig(size=64, weights="random", multiscale=True, tolerance=0.05, iterations=40)
    stylize(photo, painting, config, vgg=random_vgg, callback=log.append)
    scales = sorted({it.scale for it in log})
    assert scales == [0, 1]  # the coarse scale converging does not end the run
    assert all(sum(it.scale == s for it in log) <= 40 for s in scales)


# --- --init arbitrary -----------------------------------------------------------------------------------
def test_init_arbitrary_starts_from_the_arbitrary_network(photo, painting, random_vgg):
    first = {}
    for init in ("content", "arbitrary"):
        log = []
        stylize(photo, painting, StylizeConfig(**TINY, iterations=1, init=init), vgg=random_vgg,
                callback=log.append)
        first[init] = np.asarray(log[0].image, dtype=np.float32) / 255
    photo_pixels = np.asarray(photo.resize((32, 21)), dtype=np.float32) / 255
    assert np.abs(first["content"] - photo_pixels).mean() < 0.02
    assert np.abs(first["arbitrary"] - photo_pixels).mean() > 0.04  # already painted before step 1


def test_init_fast_is_the_old_word_for_init_arbitrary(capsys):
    from brushwork.errors import BrushworkDeprecationWarning

    with pytest.warns(BrushworkDeprecationWarning, match="--init fast is now --init arbitrary"):
        assert StylizeConfig(init="fast").init == "arbitrary"
    # the command line: one line on stderr, then the run goes on (here: to the missing photo's error)
    assert main(["stylize", "nothing.jpg", "nothing.jpg", "--init", "fast", "-o", "x.png"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("brushwork: deprecated: --init fast is now --init arbitrary; the old spelling goes "
                      "in the next release")
    assert len(err) == 2 and err[1].startswith("brushwork: error:")


# --- the in-line Gram loss ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 8, 5, 7), (3, 4, 6, 5)])
def test_gram_loss_matches_autograd(shape):
    torch.manual_seed(0)
    features = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    target = torch.randn(1, shape[1], shape[1], dtype=torch.float64)
    target = target + target.transpose(1, 2)
    reference = style_loss(gram_matrix(features), target) / 2.5
    (ref_grad,) = torch.autograd.grad(reference, features)
    ours = gram_loss(features, target, 2.5)
    assert float(ours) == pytest.approx(float(reference), rel=1e-12)
    (grad,) = torch.autograd.grad(ours, features)
    assert torch.allclose(grad, ref_grad, rtol=1e-10, atol=1e-14)
    assert torch.autograd.gradcheck(lambda x: gram_tap(x, target, 2.5)[1] + x.sum(), (features,))


@pytest.mark.parametrize("channels_last", [False, True])
def test_objective_gradient_equals_plain_autograd(channels_last):
    torch.manual_seed(0)
    vgg = VGGFeatures("vgg19").double().requires_grad_(False)
    if channels_last:
        vgg.channels_last_()
    style_layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    objective = PerceptualObjective(vgg, ("relu4_2",), style_layers, (0.2,) * 5, style_weight=2.0,
                                    tv_weight=0.01)
    objective.set_content(torch.rand(1, 3, 40, 48, dtype=torch.float64))
    objective.set_style([torch.rand(1, 3, 40, 40, dtype=torch.float64)])
    image = torch.rand(1, 3, 40, 48, dtype=torch.float64, requires_grad=True)
    ours = objective(image)["total"]
    (grad,) = torch.autograd.grad(ours, image)
    feats = vgg(image, objective.layers)
    targets, scales = objective.style_targets, objective._style_scales
    style = sum(0.2 * style_loss(gram_matrix(feats[n]), targets[n]) / scales[n] for n in style_layers)
    reference = objective.content_term(feats, objective.content_targets) + 2.0 * style + 0.01 * tv_loss(image)
    (ref_grad,) = torch.autograd.grad(reference, image)
    assert float(ours) == pytest.approx(float(reference), rel=1e-10)
    assert torch.allclose(grad, ref_grad, rtol=1e-8, atol=1e-14)


def test_stylize_cli_reports_convergence(photo_file, painting_file, tmp_path, capsys):
    out = tmp_path / "out.png"
    code = main(["stylize", str(photo_file), str(painting_file), "-o", str(out), "--size", "32",
                 "--weights", "random", "--iterations", "60", "--tolerance", "0.05", "--quiet"])
    assert code == 0 and out.exists()
    said = capsys.readouterr().out
    assert "converged at step" in said
