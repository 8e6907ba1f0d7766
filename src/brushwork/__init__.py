"""brushwork: neural style transfer on a laptop CPU.

The public API, one function per capability::

    import brushwork
    picture = brushwork.stylize("photo.jpg", ["painting.jpg"], brushwork.StylizeConfig(size=512))
    picture = brushwork.apply("starry-night", "photo.jpg")              # a fast per-style network
    picture = brushwork.apply("starry-night", "photo.jpg",              # the person left as the photo
                              regions=brushwork.RegionConfig(regions="auto", region=("person=none",)))
    model = brushwork.train("painting.jpg", "photos/", "runs/mine", brushwork.TrainConfig(steps=500))
    report = brushwork.evaluate(brushwork.EvaluateConfig(contents=("photos/",), styles=("art/",),
                                                         output="report"))  # writes report/report.html

Importing the package is cheap: it loads no weights and not even torch; each name is imported on
first use (PEP 562), so ``brushwork --help`` starts in a fraction of a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from brushwork.fast.engines import quiet_openmp

__version__ = "0.1.0"

# OpenMP threads sleep instead of spin-waiting on a shared CPU; read once, when torch loads (see
# brushwork.fast.engines.quiet_openmp: 2-thread PyTorch ran ~3x slower beside another busy process).
quiet_openmp()

#: Public name -> (module, attribute), imported on first access.
_EXPORTS: dict[str, tuple[str, str]] = {
    "StylizeConfig": ("brushwork.config", "StylizeConfig"),
    "ApplyConfig": ("brushwork.config", "ApplyConfig"),
    "TrainConfig": ("brushwork.config", "TrainConfig"),
    "EvaluateConfig": ("brushwork.config", "EvaluateConfig"),
    "RegionConfig": ("brushwork.config", "RegionConfig"),
    "BrushworkError": ("brushwork.errors", "BrushworkError"),
    "Progress": ("brushwork.progress", "Progress"),
    "stylize": ("brushwork.regions", "stylize"),
    "apply": ("brushwork.regions", "apply"),
    "load_stylizer": ("brushwork.fast.inference", "load_stylizer"),
    "train": ("brushwork.fast.train", "train"),
    "evaluate": ("brushwork.evaluation.run", "evaluate"),
    "open_image": ("brushwork.images", "open_image"),
    "save_image": ("brushwork.images", "save_image"),
}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time names resolve lazily below
    from brushwork.config import ApplyConfig, EvaluateConfig, RegionConfig, StylizeConfig, TrainConfig
    from brushwork.errors import BrushworkError
    from brushwork.evaluation.run import evaluate
    from brushwork.fast.inference import load_stylizer
    from brushwork.fast.train import train
    from brushwork.images import open_image, save_image
    from brushwork.progress import Progress
    from brushwork.regions import apply, stylize

__all__ = [  # spelled out (not derived from _EXPORTS) so linters and IDEs can read it
    "ApplyConfig", "BrushworkError", "EvaluateConfig", "Progress", "RegionConfig", "StylizeConfig",
    "TrainConfig",
    "__version__",
    "apply", "evaluate", "load_stylizer", "open_image", "save_image", "stylize", "train",
]
assert set(__all__) == {*_EXPORTS, "__version__"}


def __getattr__(name: str):
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'brushwork' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
