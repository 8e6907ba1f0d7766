"""Image files <-> tensors: RGB, NCHW, float in [0, 1].

Everything a camera or a scanner can hand us is accepted and normalised here, once: EXIF
rotation, ICC profiles (converted to sRGB), grayscale, palette, alpha, CMYK and 16-bit files.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from brushwork.errors import ImageError

try:  # HEIC/HEIF (iPhone photos) through pillow-heif: Pillow opens them like any other format
    from pillow_heif import register_heif_opener

    register_heif_opener()
    _HEIF = frozenset({"HEIF"})
except ImportError:  # pragma: no cover - a dependency; without it HEIC is refused as unknown
    _HEIF = frozenset()
from brushwork.fileio import atomic_path, check_name_length, check_output_dir, check_output_folder

#: Largest input we decode (pixels). Larger files are refused before their pixels are read:
#: a decompression bomb or a scan that would need gigabytes just to be loaded.
MAX_INPUT_PIXELS = int(os.environ.get("BRUSHWORK_MAX_PIXELS", 120_000_000))
#: Largest input file we read (bytes): a regular file is read whole, so it is bounded too.
MAX_INPUT_BYTES = int(os.environ.get("BRUSHWORK_MAX_FILE_BYTES", 1 << 30))
#: Smallest side of a picture at the size a network works on it (after any ``--size`` resize). The fast
#: networks (TransformerNet, Magenta's) reflect-pad 4 px at full size and 1 px at quarter size, so they
#: need 8; Gatys' VGG halves the size four times before relu5_x, so the default layers need 16 (the
#: exact need of other layers is ``optimize.needed_side``). 16 for apply and training photos: one
#: number to remember, and a strip thinner than that is no photo.
MIN_SIDE = 16
#: Smallest photo (either side, as uploaded) the web app paints: a 1x1 or 20x20 picture has nothing to
#: paint, and enlarging it only gives a flat square.
MIN_PHOTO_SIDE = 32
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                ".tif": "TIFF", ".tiff": "TIFF"}

#: The one rule for the formats brushwork reads, on the command line and in the web app alike
#: (Pillow's names, ``Image.format``): raster formats Pillow decodes itself. Left out: EPS (it runs
#: Ghostscript), readers that are stubs or metadata only (WMF, BUFR, GRIB, HDF5, MPEG, IPTC) and
#: scientific or legacy containers no photo or painting comes in (FITS, SPIDER, MCIDAS, IM, ...).
INPUT_FORMATS = frozenset({
    "AVIF", "BMP", "CUR", "DDS", "DIB", "GIF", "ICNS", "ICO", "JPEG", "JPEG2000", "MPO", "PCX",
    "PNG", "PPM", "PSD", "QOI", "SGI", "TGA", "TIFF", "WEBP",
}) | _HEIF


#: Formats decoded in draft mode (reduced in the decoder) when a caller needs fewer pixels.
DRAFT_FORMATS = ("JPEG", "MPO")


def check_input_format(fmt: str | None, name: str = "image") -> None:
    """ImageError unless ``fmt`` (Pillow's name of a file's format) is one of INPUT_FORMATS."""
    if fmt not in INPUT_FORMATS:
        raise ImageError(
            f"{name}: the {fmt or 'unknown'} format is not one brushwork reads; use one of "
            + ", ".join(sorted(INPUT_FORMATS))
        )


_SRGB = ImageCms.createProfile("sRGB")


_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words (for one-line errors)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_input_file(path: str | os.PathLike, max_bytes: int | None = None) -> bytes:
    """The bytes of an input file: the one way every command reads a picture it is given.

    Regular files only (after symlinks), checked with ``stat`` before opening and again on the
    open descriptor; opened non-blocking, so a named pipe can never hang us; read up to
    ``max_bytes``, so ``/dev/zero`` or a huge file cannot exhaust memory. Raises ImageError
    naming the file."""
    path = Path(path)
    limit = MAX_INPUT_BYTES if max_bytes is None else max_bytes
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{path}: is a folder, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"{path}: {file_kind(info.st_mode)}, not a regular file; only image files are read")
    if info.st_size > limit:
        raise ImageError(f"{path}: {info.st_size / 1e6:.0f} MB is over the {limit / 1e6:.0f} MB input "
                         "limit (BRUSHWORK_MAX_FILE_BYTES)")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        reason = "no such file" if exc.errno == errno.ENOENT else f"cannot read ({exc.strerror or exc})"
        raise ImageError(f"{path}: {reason}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # swapped between stat and open
            raise ImageError(f"{path}: {file_kind(mode)}, not a regular file; only image files are read")
        chunks, size = [], 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ImageError(f"{path}: over the {limit / 1e6:.0f} MB input limit "
                                 "(BRUSHWORK_MAX_FILE_BYTES)")
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def open_image(path: str | os.PathLike, max_pixels: int = MAX_INPUT_PIXELS) -> Image.Image:
    """Open an image file as 8-bit RGB, upright and in sRGB; raise ImageError on anything else."""
    return decode_image(read_input_file(path), name=str(path), max_pixels=max_pixels)


@contextlib.contextmanager
def quiet_decoding():
    """Decode inside this: Pillow's warnings on malformed files ("Truncated File Read", "Corrupt EXIF
    data", "Tag data larger than file" from a broken TIFF...) are not printed, so a user sees only
    our one-line error (or the painted picture, when the file decodes after all); the decompression
    bomb warning is raised, to be refused as one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def decode_image(data: bytes, name: str = "image", max_pixels: int = MAX_INPUT_PIXELS,
                 reduce_to: int | None = None) -> Image.Image:
    """Decode image bytes (the type is sniffed from the content, never from a file name).

    ``reduce_to``: the longest side the caller needs at most. A JPEG larger than that is decoded in
    draft mode (libjpeg's DCT scaling by 1/2, 1/4 or 1/8, to the smallest scale still at least that
    size), so a 48 MP phone photo never holds its full pixels in memory. ``max_pixels`` bounds the
    pixels actually decoded, not the file's nominal size."""
    try:
        with quiet_decoding():
            image = Image.open(io.BytesIO(data))
            check_input_format(image.format, name)
            if reduce_to is not None and image.format in DRAFT_FORMATS and max(image.size) > reduce_to:
                image.draft("RGB", longest_size(*image.size, reduce_to))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{name}: too many pixels: {width}x{height} is {width * height / 1e6:.0f} MP, over the "
                    f"{max_pixels / 1e6:.0f} MP limit; downscale it first (the output size is set "
                    "with --size anyway) or raise BRUSHWORK_MAX_PIXELS"
                )
            image.load()
            image = normalize_image(image)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file (or a format Pillow cannot read)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"{name}: too many pixels (refused as a possible decompression bomb); downscale it "
            "first (the output size is set with --size anyway)"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: corrupt or truncated image ({_one_line(exc)})") from None
    except MemoryError:
        raise ImageError(f"{name}: too large to decode in the memory available") from None
    except Exception as exc:  # noqa: BLE001 - a decoder's bug on hostile bytes is still a bad file
        raise ImageError(
            f"{name}: corrupt or unreadable image ({type(exc).__name__}: {_one_line(exc)})") from None
    return image


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def normalize_image(image: Image.Image) -> Image.Image:
    """Upright 8-bit sRGB RGB from any mode: EXIF rotation, ICC, 16-bit, alpha, CMYK, palette."""
    image = ImageOps.exif_transpose(image)
    icc = image.info.get("icc_profile")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # Pillow's own convert clips 16-bit values to 255 instead of scaling them.
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        scale = 255.0 if array.max() <= 1.0 else 1.0
        image = Image.fromarray(np.clip(array * scale + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        # Without a transparent colour a palette picture is plain RGB: no compositing (which costs
        # seconds on a large canvas, such as a 300-byte GIF whose header claims 9000x9000).
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        # Transparent pixels become white, as viewers show them on a page.
        rgba = image.convert("RGBA")
        if rgba.getchannel("A").getextrema() == (255, 255):  # all opaque: compositing changes nothing
            image = rgba.convert("RGB")
        else:
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba).convert("RGB")
    if icc and image.mode in ("RGB", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            image = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken profile is not worth refusing the picture for
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def longest_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(width, height) after ``resize_longest(image, size)`` (unchanged when ``size`` is None)."""
    if size is None:
        return width, height
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def check_side(image: Image.Image, name: str, size: int | None = None, minimum: int = MIN_SIDE,
               what: str = "--size") -> None:
    """Refuse, before any network runs, a picture whose short side at the size it will be worked at
    (its longest side resized to ``size``) is under ``minimum`` pixels: a 1x5000 strip fails deep in
    a network otherwise."""
    width, height = longest_size(*image.size, size)
    if min(width, height) >= minimum:
        return
    at = f"; at {what} {size} it would be {width}x{height}" if (width, height) != image.size else ""
    raise ImageError(f"{name}: {image.width}x{image.height} pixels is too small or too thin{at}; "
                     f"pictures need at least {minimum} px on each side")


def resize_longest(image: Image.Image, size: int) -> Image.Image:
    """Resize so the longest side is ``size`` pixels, keeping the aspect ratio."""
    new = longest_size(*image.size, size)
    if new == image.size:
        return image
    return image.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)


def resize_to(image: Image.Image, width: int, height: int) -> Image.Image:
    if image.size == (width, height):
        return image
    return image.resize((width, height), Image.Resampling.LANCZOS)


def image_to_tensor(image: Image.Image, device: str | torch.device = "cpu") -> torch.Tensor:
    """PIL RGB -> float tensor [1, 3, H, W] in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    """Float tensor [1, 3, H, W] or [3, H, W] in [0, 1] -> PIL RGB (values clamped)."""
    if tensor.dim() == 4:
        if tensor.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {tensor.shape[0]}")
        tensor = tensor[0]
    array = tensor.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, "RGB")


def save_image(image: Image.Image | torch.Tensor, path: str | os.PathLike) -> Path:
    """Write atomically; the format follows the extension (png, jpg, webp, bmp, tif)."""
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"{path}: unknown image extension {path.suffix!r}; use one of "
            + ", ".join(sorted(SAVE_FORMATS))
        )
    check_output_folder(path)
    if isinstance(image, torch.Tensor):
        image = tensor_to_image(image)
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    with atomic_path(path) as tmp:
        image.save(tmp, format=fmt, **options)
    return path


# --- colour -----------------------------------------------------------------------------------
# ITU-R BT.601 full-range YCbCr (the JPEG convention).
_RGB_TO_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] RGB in [0,1] -> Y in [0,1], Cb and Cr centred on 0."""
    return torch.einsum("ij,njhw->nihw", _RGB_TO_YCBCR.to(rgb), rgb)


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", _YCBCR_TO_RGB.to(ycbcr), ycbcr)


def transfer_luminance(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Keep the content's colours: the stylised image's luminance with the content's chroma.

    This is the luminance-only transfer of Gatys et al., "Preserving Color in Neural Artistic
    Style Transfer" (2016), applied after optimisation. The result's brightness is first
    matched to the content's mean and spread so a dark painting does not darken the photo.
    """
    if stylized.shape[-2:] != content.shape[-2:]:
        content = torch.nn.functional.interpolate(
            content, size=stylized.shape[-2:], mode="bicubic", align_corners=False
        ).clamp(0, 1)
    styl = rgb_to_ycbcr(stylized)
    cont = rgb_to_ycbcr(content)
    luma = styl[:, :1]
    luma = (luma - luma.mean()) / (luma.std() + 1e-6) * cont[:, :1].std() + cont[:, :1].mean()
    return ycbcr_to_rgb(torch.cat([luma, cont[:, 1:]], dim=1)).clamp(0, 1)


__all__ = [
    "open_image", "decode_image", "normalize_image", "resize_longest", "resize_to",
    "image_to_tensor", "tensor_to_image", "save_image", "transfer_luminance",
    "rgb_to_ycbcr", "ycbcr_to_rgb", "check_output_folder", "read_input_file", "check_side",
    "longest_size", "MIN_SIDE",
]


def check_output_path(path: str | os.PathLike) -> None:
    """Fail before any work when the result could not be saved there."""
    path = Path(path)
    if path.suffix.lower() not in SAVE_FORMATS:
        raise ImageError(
            f"{path}: unknown image extension {path.suffix!r}; use one of "
            + ", ".join(sorted(SAVE_FORMATS))
        )
    check_name_length(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a folder; give a file name such as {path / 'result.png'}")
    if path.exists() and not path.is_file():
        raise ImageError(f"{path}: exists and is not a regular file; give another output name")
    check_result_folder(path)


def check_result_folder(path: Path) -> None:
    """The result's folder can be written, or made and written (``fileio.make_parent`` makes it)."""
    folder = path.parent if str(path.parent) else Path(".")
    if folder.is_dir():
        check_output_folder(path, probe=True)
    else:
        check_output_dir(folder)


# --- folders ---------------------------------------------------------------------------------------
def walk_files(folder: str | os.PathLike, suffixes: tuple[str, ...] | None = None,
               rejected: list[tuple[Path, str]] | None = None) -> list[Path]:
    """The one folder-walking rule: every regular, non-hidden file under ``folder`` (recursively,
    sorted), optionally only those whose suffix is in ``suffixes``. Unreadable images are reported
    by whoever opens them, so a corrupt file is a named failure, never a silent omission; pass a
    ``rejected`` list to hear, as (path, one-line reason), of the non-regular entries (pipes,
    devices, sockets, broken links) that are never opened."""
    root = Path(folder)
    files = []
    for p in root.rglob("*"):
        if any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        if suffixes is not None and p.suffix.lower() not in suffixes:
            continue
        if p.is_file():
            files.append(p)
        elif rejected is not None and not p.is_dir():
            try:
                kind = file_kind(p.stat().st_mode)
            except OSError:
                kind = "a broken link"
            rejected.append((p, f"{p}: {kind}, not a regular file; skipped"))
    return sorted(files)
