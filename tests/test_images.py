"""Image loading must accept every valid picture and refuse the rest with a one-line reason."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork.errors import BrushworkError, ImageError
from brushwork.images import (
    decode_image,
    image_to_tensor,
    open_image,
    resize_longest,
    rgb_to_ycbcr,
    save_image,
    tensor_to_image,
    transfer_luminance,
)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        open_image(tmp_path / "nope.jpg")


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageError, match="folder"):
        open_image(tmp_path)


def test_non_image_is_refused(tmp_path):
    path = tmp_path / "notes.jpg"  # the name lies: the content decides
    path.write_text("this is not a picture")
    with pytest.raises(ImageError, match="not an image"):
        open_image(path)


def test_truncated_jpeg_is_refused(tmp_path, photo):
    buffer = io.BytesIO()
    photo.resize((200, 200)).save(buffer, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        open_image(path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)  # 400 MP in a few kB
    assert path.stat().st_size < 200_000
    with pytest.raises(ImageError, match="too many pixels"):
        open_image(path)


def test_pixel_limit_is_configurable(photo):
    buffer = io.BytesIO()
    photo.save(buffer, "PNG")
    with pytest.raises(ImageError, match="--size"):
        decode_image(buffer.getvalue(), max_pixels=100)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "1"])
def test_every_mode_becomes_rgb(tmp_path, photo, mode):
    image = photo.convert(mode) if mode != "I;16" else Image.fromarray(
        np.asarray(photo.convert("L"), dtype=np.uint16) * 257
    )
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    image.save(path)
    loaded = open_image(path)
    assert loaded.mode == "RGB"
    assert loaded.size == photo.size


def test_16_bit_is_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    array = np.asarray(open_image(path))[..., 0]
    assert array.min() == 0 and array.max() == 255
    assert len(np.unique(array)) > 50  # a clipping convert would leave only 0 and 255


def test_transparent_pixels_become_white(tmp_path):
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    path = tmp_path / "clear.png"
    image.save(path)
    assert open_image(path).getpixel((0, 0)) == (255, 255, 255)


def test_exif_rotation_is_applied(tmp_path, photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    path = tmp_path / "rotated.jpg"
    photo.save(path, exif=exif.tobytes())
    loaded = open_image(path)
    assert loaded.size == (photo.height, photo.width)


def test_icc_profile_is_honoured(tmp_path, photo):
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "icc.png"
    photo.save(path, icc_profile=profile)
    loaded = np.asarray(open_image(path), dtype=int)
    assert np.abs(loaded - np.asarray(photo, dtype=int)).max() <= 2


def test_resize_longest_keeps_aspect(photo):
    resized = resize_longest(photo, 24)
    assert resized.size == (24, 16)


def test_tensor_round_trip(photo):
    tensor = image_to_tensor(photo)
    assert tensor.shape == (1, 3, photo.height, photo.width)
    assert tensor.min() >= 0 and tensor.max() <= 1
    assert np.array_equal(np.asarray(tensor_to_image(tensor)), np.asarray(photo))


def test_save_is_atomic_and_replaces(tmp_path, photo):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")
    save_image(photo, path)
    assert open_image(path).size == photo.size
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temp file left behind
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)


def test_save_refuses_unknown_extension_and_missing_folder(tmp_path, photo):
    with pytest.raises(ImageError, match="extension"):
        save_image(photo, tmp_path / "out.xyz")
    with pytest.raises(BrushworkError, match="does not exist"):
        save_image(photo, tmp_path / "missing" / "out.png")


def test_failed_save_keeps_existing_file(tmp_path, photo, monkeypatch):
    path = tmp_path / "keep.png"
    photo.save(path)
    before = path.read_bytes()

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError):
        save_image(photo, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.png"]


def test_transfer_luminance_keeps_content_chroma(photo, painting):
    content = image_to_tensor(photo)
    stylized = image_to_tensor(painting.resize(photo.size))
    result = transfer_luminance(stylized, content)
    chroma = lambda t: rgb_to_ycbcr(t)[:, 1:]  # noqa: E731
    # Chroma is the content's wherever the new luminance keeps the colour inside the RGB gamut.
    assert (chroma(result) - chroma(content)).abs().mean() < 0.03
    assert (chroma(result) - chroma(stylized)).abs().mean() > 0.1
    # ...and the brightness pattern comes from the stylised image, not the content.
    luma = lambda t: rgb_to_ycbcr(t)[:, 0].flatten()  # noqa: E731
    corr_styl = torch.corrcoef(torch.stack([luma(result), luma(stylized)]))[0, 1]
    corr_cont = torch.corrcoef(torch.stack([luma(result), luma(content)]))[0, 1]
    assert corr_styl > 0.9 > corr_cont
