"""Regions in the Python API: ``brushwork.apply(..., regions=RegionConfig(...))`` and
``brushwork.stylize(..., regions=...)`` paint each region as the command line does."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_painting, make_photo
from PIL import Image, ImageDraw

import brushwork
from brushwork.errors import ConfigError, ImageError


def _mask(path, width=64, height=48):
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rectangle((width // 2, 0, width, height), fill=255)
    mask.save(path)
    return str(path)


def test_apply_takes_regions_and_leaves_a_none_region_the_photo(tmp_path):
    photo, painting = make_photo(64, 48), make_painting(64, 64)
    config = brushwork.ApplyConfig(engine="torch", precision="fp32")
    regions = brushwork.RegionConfig(mask=_mask(tmp_path / "m.png"), region=("white=none",), feather=4)
    out = np.asarray(brushwork.apply(None, photo, styles=[painting], config=config, regions=regions), float)
    whole = np.asarray(brushwork.apply(None, photo, styles=[painting], config=config), float)
    x = np.asarray(photo, float)
    assert np.array_equal(out[:, 40:], x[:, 40:])  # the kept half, beyond 2x feather, pixel for pixel
    assert np.abs(out[:, :24] - whole[:, :24]).max() <= 1  # the painted half is the whole picture's paint
    assert np.abs(whole[:, 40:] - x[:, 40:]).mean() > 10  # (without regions that half is painted)
    with pytest.raises(ConfigError, match="has no region 'sky'"):
        brushwork.apply(None, photo, styles=[painting], config=config,
                        regions=brushwork.RegionConfig(mask=regions.mask, region=("sky=none",)))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a picture")
    with pytest.raises(ImageError, match="bad.png: not an image file") as caught:
        brushwork.apply(None, photo, styles=[painting], config=config,
                        regions=brushwork.RegionConfig(mask=str(tmp_path / "bad.png")))
    assert "\n" not in str(caught.value)
    warnings: list[str] = []  # a picture with no person: a warning, and the whole picture painted
    flat = Image.new("RGB", (64, 48), (128, 128, 128))
    auto = brushwork.RegionConfig(regions="auto", region=("person=none",))
    kept = np.asarray(brushwork.apply(None, flat, styles=[painting], config=config, regions=auto,
                                      warn=warnings.append), float)
    plain = np.asarray(brushwork.apply(None, flat, styles=[painting], config=config), float)
    assert len(warnings) == 1 and "no person found" in warnings[0] and np.abs(kept - plain).max() <= 1
    assert "regions" in brushwork.apply.__doc__ and "RegionConfig" in brushwork.__all__


def test_stylize_takes_regions(tmp_path, random_vgg):
    photo, painting = make_photo(64, 48), make_painting(64, 64)
    regions = brushwork.RegionConfig(mask=_mask(tmp_path / "m.png"), region=("black=none",), feather=2)
    config = brushwork.StylizeConfig(size=64, iterations=3, multiscale=False)
    out = np.asarray(brushwork.stylize(photo, painting, config, regions=regions, vgg=random_vgg), float)
    x = np.asarray(photo, float)
    assert np.array_equal(out[:, :28], x[:, :28])  # the black half stays the photo
    assert np.abs(out[:, 40:] - x[:, 40:]).mean() > 5  # the white half is painted (measured ~17)
    assert "regions" in brushwork.stylize.__doc__
