"""Uploaded files: bounded reads, content sniffing, pixel limits. Names are never trusted.

An upload is judged by its bytes only (Pillow's format detection), decoded with the pixel
limit checked *before* the pixels are read (a decompression bomb is refused from its
header), and re-encoded by the job store, so nothing a client sent is ever served back or
written under a name it chose. Models are never accepted: nothing here unpickles anything.
"""

from __future__ import annotations

import io
import json
import warnings

from fastapi import HTTPException, UploadFile
from PIL import Image, UnidentifiedImageError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brushwork.errors import ImageError
from brushwork.images import decode_image

#: Formats accepted from a browser; anything else is 415 whatever its name or content type.
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"}
READ_CHUNK = 1 << 20
#: Leading bytes of the accepted formats: a file that starts like one but does not open is corrupt.
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


def looks_like_image(data: bytes) -> bool:
    return data.startswith(SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


async def read_limited(upload: UploadFile, limit: int, what: str) -> bytes:
    """The upload's bytes, or 413 as soon as it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the {what} is larger than the {limit / 2**20:g} MB upload limit")
        chunks.append(chunk)
    if not size:
        raise HTTPException(400, f"the {what} file is empty")
    return b"".join(chunks)


def sniff(data: bytes, what: str, max_pixels: int) -> tuple[str, int, int]:
    """(format, width, height) from the header alone; 415 for non-images, 413 for too many pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, (width, height) = image.format or "", image.size
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
            raise HTTPException(
                413, f"the {what} has too many pixels (possible decompression bomb)"
            ) from None
        if looks_like_image(data):
            raise HTTPException(400, f"the {what} is a corrupt or truncated image file") from None
        raise HTTPException(
            415, f"the {what} is not an image file (JPEG, PNG, WebP, GIF, BMP or TIFF)"
        ) from None
    if fmt not in ALLOWED_FORMATS:
        raise HTTPException(
            415, f"the {what} is a {fmt or 'unknown'} file; send JPEG, PNG, WebP, GIF, BMP or TIFF"
        )
    if width * height > max_pixels:
        raise HTTPException(
            413,
            f"the {what} is {width}x{height} = {width * height / 1e6:.1f} megapixels, over the "
            f"{max_pixels / 1e6:g} MP limit; please send a smaller picture",
        )
    return fmt, width, height


def decode_upload(data: bytes, what: str, max_pixels: int) -> Image.Image:
    """Sniff, then decode to upright sRGB RGB (brushwork.images); 4xx with a message otherwise."""
    sniff(data, what, max_pixels)
    try:
        return decode_image(data, name=f"the {what}", max_pixels=max_pixels)
    except ImageError as exc:
        raise HTTPException(400, str(exc)) from None


class BodyLimitMiddleware:
    """Refuse request bodies over ``limit`` bytes with 413, before they are buffered anywhere."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"the request is larger than the {self.limit / 2**20:g} MB limit"
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"").decode("latin-1")
        if length.isdigit() and int(length) > self.limit:
            await _send_json(send, 413, message)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            incoming = await receive()
            if incoming["type"] == "http.request":
                seen += len(incoming.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, message)
            return incoming

        await self.app(scope, limited, send)


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
