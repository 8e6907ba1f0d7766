"""Validation while training: held-out photos painted by the net being trained and by the arbitrary-style
network, measured with the reference figures of ``brushwork evaluate`` and
``benchmarks/bench_fast_quality.py``.

* style ratio (``ReferenceLoss.style_ratios``): the reference VGG19's mean relative Gram error of the
  result to the painting over relu1_1..relu5_1 (``all``; ``deep``: relu3_1..relu5_1), divided by that of
  the untouched photo; lower = more of the painting;
* SSIM of the result to the photo in grey (structure kept).

Each figure is the mean over the photos, and is also given against the arbitrary-style network's on the
same photos (the run's ``--network``, brushwork's own or Magenta's, with the painting's style vector, as
``brushwork apply --style --network`` paints a picture of this size in one pass): a per-style model is
worth training once its ``style_x`` is under 1 with its ``ssim_x`` near 1. Measuring is deterministic and
draws no random numbers, so it changes nothing in a run (``--resume`` stays bit-identical).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from torch import nn

from brushwork.images import image_to_tensor, resize_longest, tensor_to_image
from brushwork.metrics import REFERENCE_STYLE_LAYERS, ReferenceLoss, ssim, to_array
from brushwork.networks.transformer import run_transformer
from brushwork.networks.vgg import VGGFeatures
from brushwork.networks.weights import load_vgg

#: CSV columns of the validation figures (empty on the rows of steps that were not validated).
FIELDS = ("val_style", "val_deep", "val_ssim", "val_style_x", "val_ssim_x")


def grey_ssim(a: Image.Image, b: Image.Image) -> float:
    """SSIM of two pictures in grey (the benchmarks' figure)."""
    return ssim(to_array(a.convert("L").convert("RGB")), to_array(b.convert("L").convert("RGB")))


def reference_network(vgg: VGGFeatures | None) -> VGGFeatures:
    """The training's loss network when it is a VGG19 with every reference layer, else the default one."""
    if vgg is not None and getattr(vgg, "arch", "vgg19") == "vgg19":
        try:
            vgg.check_layers(REFERENCE_STYLE_LAYERS)
            return vgg
        except Exception:  # noqa: BLE001 - a truncated network: load the full reference
            pass
    return load_vgg("vgg19", "default")


class Validation:
    """Held-out photos and the painting, measured at ``size`` px (longest side)."""

    def __init__(self, photos: Sequence[Image.Image], painting: Image.Image, size: int,
                 vgg: VGGFeatures | None = None, device: torch.device | str = "cpu"):
        if not photos:
            raise ValueError("validation needs at least one photo")
        self.ref = ReferenceLoss(size=size, vgg=reference_network(vgg))
        self.photos = [resize_longest(p.convert("RGB"), size) for p in photos]
        self.painting = painting
        self.device = device
        self.baseline: dict[str, float] | None = None

    @torch.no_grad()
    def measure(self, net: nn.Module) -> dict[str, float]:
        """Mean ``style`` (all layers), ``deep`` and ``ssim`` of ``net``'s pictures of the photos."""
        was_training = net.training
        net.eval()
        rows = []
        for photo in self.photos:
            out = run_transformer(net, image_to_tensor(photo, self.device)).float().cpu()  # padded: as apply
            result = tensor_to_image(out)
            ratios = self.ref.style_ratios(result, photo, self.painting)
            rows.append({"style": ratios["all"], "deep": ratios["deep"], "ssim": grey_ssim(result, photo)})
        net.train(was_training)
        return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}

    def set_baseline(self, net: nn.Module) -> dict[str, float]:
        """Measure the network the run is compared with (the arbitrary-style network)."""
        self.baseline = self.measure(net)
        return self.baseline

    def figures(self, net: nn.Module) -> dict[str, float]:
        """``FIELDS`` for ``net``: its own figures, and style / SSIM against the baseline's."""
        own = self.measure(net)
        base = self.baseline or own
        return {"val_style": own["style"], "val_deep": own["deep"], "val_ssim": own["ssim"],
                "val_style_x": own["style"] / max(base["style"], 1e-12),
                "val_ssim_x": own["ssim"] / max(base["ssim"], 1e-12)}
