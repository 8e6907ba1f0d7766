"""brushwork: neural style transfer on a laptop CPU.

The public API; importing it loads no weights and starts nothing.
"""

from __future__ import annotations

__version__ = "0.1.0"

from brushwork.config import StylizeConfig
from brushwork.images import open_image, save_image
from brushwork.optimize import Iterate, stylize

load_image = open_image

__all__ = ["StylizeConfig", "Iterate", "stylize", "open_image", "load_image", "save_image", "__version__"]
