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

import anyio
from fastapi import HTTPException, UploadFile
from PIL import Image, UnidentifiedImageError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brushwork.errors import ImageError
from brushwork.images import INPUT_FORMATS, decode_image

#: Formats accepted from a browser: the command line's own rule (brushwork.images.INPUT_FORMATS);
#: anything else is 415 whatever its name or content type.
ALLOWED_FORMATS = INPUT_FORMATS
FORMAT_LIST = ", ".join(sorted(ALLOWED_FORMATS))
READ_CHUNK = 1 << 20
#: Headers of an answer that ends the connection (a refused body may still be streaming in).
CLOSE = {"Connection": "close"}
#: Leading bytes of the common accepted formats: a file that starts like one but does not open is
#: corrupt (400), not of another type (415).
SIGNATURES = (
    b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
    b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xffO\xffQ", b"qoif", b"8BPS", b"icns", b"DDS ",
)


def looks_like_image(data: bytes) -> bool:
    riff_webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return data.startswith(SIGNATURES) or riff_webp or data[4:12] in (b"ftypavif", b"ftypavis")


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
        raise HTTPException(415, f"the {what} is not an image file ({FORMAT_LIST})") from None
    if fmt not in ALLOWED_FORMATS:
        raise HTTPException(415, f"the {what} is a {fmt or 'unknown'} file; send one of {FORMAT_LIST}")
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
    """Refuse request bodies over ``limit`` bytes with 413, before they are buffered anywhere, and
    bodies still incomplete ``timeout`` seconds after the request came in with 408.

    Both answers close the connection (``Connection: close``): a client that is still sending
    cannot keep it open by trickling more bytes.
    """

    def __init__(self, app: ASGIApp, limit: int, timeout: float = 120.0):
        self.app = app
        self.limit = limit
        self.timeout = timeout

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
        complete = not (length not in ("", "0") or b"transfer-encoding" in headers)  # no body to wait for
        deadline = anyio.current_time() + self.timeout

        async def limited() -> Message:
            nonlocal seen, complete
            if complete:  # the body is in: later receives wait for a disconnect, without a deadline
                return await receive()
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())) as scope_:
                incoming = await receive()
            if scope_.cancelled_caught:
                raise HTTPException(
                    408,
                    f"the request body did not arrive within {self.timeout:g} s; please try again",
                    headers=CLOSE,
                )
            if incoming["type"] == "http.request":
                seen += len(incoming.get("body", b""))
                complete = not incoming.get("more_body", False)
                if seen > self.limit:
                    raise HTTPException(413, message, headers=CLOSE)
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
