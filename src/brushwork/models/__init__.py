"""Trained fast-style models shipped inside the package (fp16 safetensors, trained by ``brushwork train``).

``brushwork apply NAME photo.jpg`` accepts these names; ``brushwork models`` lists them. A model is
shipped only after its results were looked at (see docs/fast.md for how long each was trained).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ShippedModel:
    name: str
    file: str
    #: Short caption for galleries (the web app), e.g. "The Kiss (Klimt)".
    title: str
    #: One line for ``brushwork models``: painting, architecture, training.
    about: str

    @property
    def path(self) -> Path:
        return MODELS_DIR / self.file


#: Registry: one line per shipped model. Only files that exist are offered.
_RECIPE = ("net 16-32-32-8-4, 5 res blocks; {gpu} GPU steps (batch 8) at style weight 0.15, then "
           "{cpu} CPU fine-tuning steps at 0.04 (the last phase is the count shown); see docs/fast.md")
_REGISTRY: tuple[ShippedModel, ...] = (
    ShippedModel("starry-night", "starry_night.safetensors", "The Starry Night (Van Gogh)",
                 "Van Gogh, The Starry Night; " + _RECIPE.format(gpu="2,699", cpu="110 + 300")),
    ShippedModel("great-wave", "great_wave.safetensors", "The Great Wave (Hokusai)",
                 "Hokusai, The Great Wave off Kanagawa; " + _RECIPE.format(gpu="2,540", cpu="250")),
    ShippedModel("composition-viii", "composition_viii.safetensors", "Composition VIII (Kandinsky)",
                 "Kandinsky, Composition VIII; " + _RECIPE.format(gpu="2,731", cpu="250")),
    ShippedModel("the-kiss", "the_kiss.safetensors", "The Kiss (Klimt)",
                 "Klimt, The Kiss; " + _RECIPE.format(gpu="2,746", cpu="250")),
)


def shipped_models() -> list[ShippedModel]:
    return [m for m in _REGISTRY if m.path.is_file()]


def find_shipped(name: str) -> ShippedModel | None:
    wanted = name.lower().replace("_", "-")
    return next((m for m in shipped_models() if m.name == wanted), None)
