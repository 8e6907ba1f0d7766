"""Uploaded files: bounded reads, content sniffing, pixel limits. Names are never trusted.

An upload is judged by its bytes only (Pillow's format detection), decoded with the pixel
limit checked *before* the pixels are read (a decompression bomb is refused from its
header), and re-encoded by the job store, so nothing a client sent is ever served back or
written under a name it chose. Models are never accepted: nothing here unpickles anything.

A photo may also be a short video (``sniff_video``): PyAV (FFmpeg) probes the bytes, and the
container's own account of its frame size, length and frame count is held to the server's limits
before a frame is decoded; the job's decoder stops at the frame limit too (the metadata can lie).
The video is kept only as the job's input, never served back: the result is a new encoding.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass

import anyio
from fastapi import HTTPException, UploadFile
from PIL import Image, UnidentifiedImageError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brushwork.config import WebServiceConfig
from brushwork.errors import ImageError
from brushwork.filetype import HEAD_BYTES, sniff_bytes
from brushwork.images import DRAFT_FORMATS, INPUT_FORMATS, decode_image, longest_size, quiet_decoding

#: Formats accepted from a browser: the command line's own rule (brushwork.images.INPUT_FORMATS);
#: anything else is 415 whatever its name or content type.
ALLOWED_FORMATS = INPUT_FORMATS
#: What a message names as accepted, for people: the formats photos and paintings come in.
COMMON_FORMATS = "JPEG, PNG, WebP, HEIC, GIF, TIFF, BMP or AVIF"
#: ISO-BMFF brands of HEIC/HEIF pictures: their files start like an MP4 ("ftyp") but are images.
HEIF_BRANDS = (b"ftypheic", b"ftypheix", b"ftypheim", b"ftypheis", b"ftyphevc", b"ftypmif1", b"ftypmsf1")
READ_CHUNK = 1 << 20
#: Headers of an answer that ends the connection (a refused body may still be streaming in).
CLOSE = {"Connection": "close"}
def looks_like_image(data: bytes) -> bool:
    """Leading bytes of an accepted picture format (the command line's rule, ``brushwork.filetype``):
    a file that starts like one but does not open is corrupt (400), not of another type (415)."""
    return data[4:12] in HEIF_BRANDS or sniff_bytes(data[:HEAD_BYTES]).kind in ("image", "gif")


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


def sniff(data: bytes, what: str, max_pixels: int, reduce_to: int | None = None) -> tuple[str, int, int]:
    """(format, width, height) from the header alone; 415 for non-images, 413 for too many pixels.

    ``reduce_to``: as in ``images.decode_image``, a JPEG over that size is decoded reduced, and the
    pixel limit holds for the pixels decoded (a 48 MP phone photo is decoded at 1/4 or 1/8)."""
    try:
        # Pillow's warnings on malformed files stay out of the log
        with quiet_decoding(), Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format or "", image.size
            if reduce_to is not None and fmt in DRAFT_FORMATS and max(width, height) > reduce_to:
                image.draft("RGB", longest_size(width, height, reduce_to))
                width, height = image.size
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
        raise HTTPException(415, f"the {what} is not an image file ({COMMON_FORMATS})") from None
    if fmt not in ALLOWED_FORMATS:
        raise HTTPException(415, f"the {what} is a {fmt or 'unknown'} file; send a {COMMON_FORMATS} picture")
    if width * height > max_pixels:
        raise HTTPException(
            413,
            f"the {what} is {width}x{height} = {width * height / 1e6:.1f} megapixels, over the "
            f"{max_pixels / 1e6:g} MP limit; please send a smaller picture",
        )
    return fmt, width, height


#: Video containers accepted (PyAV's names for them), judged from the bytes, never the name.
VIDEO_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2": "MP4/MOV", "matroska,webm": "MKV/WebM", "avi": "AVI"}
VIDEO_LIST = "MP4, MOV, MKV, WebM, AVI"


def looks_like_video(data: bytes) -> bool:
    """Leading bytes of an MP4/MOV (a top-level box), Matroska/WebM (EBML) or AVI (RIFF) file."""
    return sniff_bytes(data[:HEAD_BYTES]).kind == "video"


@dataclass(frozen=True)
class VideoUpload:
    """What a probe learnt of an accepted video: ``frames`` as declared or estimated from its length
    and frame rate (0 when it says neither), and its first frame (the job's "photo")."""

    container: str
    codec: str
    width: int
    height: int
    seconds: float | None
    frames: int
    first_frame: Image.Image


def video_limit_problem(
    width: int, height: int, seconds: float | None, frames: int, config: WebServiceConfig
) -> str | None:
    """Which of the server's video limits a video's metadata passes (one sentence), or None."""
    if width * height > config.max_video_pixels:
        return (
            f"the video's frames are {width}x{height} = {width * height:,} pixels, over the "
            f"{config.max_video_pixels:,}-pixel limit (1280x720 is 921,600); please send a smaller video"
        )
    if seconds is not None and seconds > config.max_video_seconds:
        limit = config.max_video_seconds
        return f"the video is {seconds:.1f} s long, over the {limit:g} s limit; please trim it"
    if frames > config.max_video_frames:
        limit = config.max_video_frames
        return f"the video has {frames} frames, over the {limit}-frame limit; please trim it"
    return None


def sniff_video(data: bytes, config: WebServiceConfig) -> VideoUpload | None:
    """The photo upload as a video, or None when it is no video container (then it is judged as an
    image). 400 for a corrupt video, 415 for one without a decodable video stream, 413 over a limit
    (size in bytes, frame size, length, frame count: all from the metadata, before any frame is
    decoded); then the first frame is decoded (a broken stream is refused here, not in the job)."""
    if looks_like_image(data):
        return None
    import av  # FFmpeg loads with the first upload that is no image

    try:
        container = av.open(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - FFmpeg's errors are many; all mean "not readable"
        if looks_like_video(data):
            raise HTTPException(400, f"the video is corrupt or truncated ({_reason(exc)})") from None
        return None
    with container:
        kind = VIDEO_CONTAINERS.get(container.format.name)
        if kind is None:
            return None
        stream = next((s for s in container.streams if s.type == "video"), None)
        if stream is None:
            raise HTTPException(415, f"the photo is a {kind} file with no video stream (audio only?)")
        if len(data) > config.max_video_bytes:
            limit = config.max_video_mb or config.max_upload_mb
            raise HTTPException(413, f"the video is larger than the {limit:g} MB limit for videos")
        codec = stream.codec_context.name
        try:
            av.codec.Codec(codec, "r")
        except Exception:  # noqa: BLE001 - no decoder for it in this FFmpeg
            raise HTTPException(415, f"the video's codec {codec!r} cannot be decoded here") from None
        width, height = stream.codec_context.width, stream.codec_context.height
        seconds = _declared_seconds(container, stream)
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        frames = stream.frames or (math.ceil(seconds * rate - 1e-6) if seconds and rate else 0)
        problem = video_limit_problem(width, height, seconds, frames, config)
        if problem:
            raise HTTPException(413, problem)
        first = _first_frame(container, stream, codec)
    if first.width * first.height > config.max_video_pixels:  # the header did not say, or lied
        raise HTTPException(413, video_limit_problem(first.width, first.height, None, 0, config))
    return VideoUpload(kind, codec, first.width, first.height, seconds, frames, first)


def _reason(exc: Exception) -> str:
    """FFmpeg's words for an error ("Invalid data found when processing input"), on one line."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).splitlines()[0]


def _declared_seconds(container, stream) -> float | None:
    """The video's length as its stream (else its container) declares it; None when neither does."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1e6
    return None


def _first_frame(container, stream, codec: str) -> Image.Image:
    try:
        for frame in container.decode(stream):
            return frame.to_image()
    except Exception as exc:  # noqa: BLE001 - a broken stream: FFmpeg's error, on one line
        raise HTTPException(400, f"the video could not be decoded ({codec}: {_reason(exc)})") from None
    raise HTTPException(400, "the video has no frame that can be decoded (corrupt or truncated)")


def decode_upload(data: bytes, what: str, max_pixels: int, reduce_to: int | None = None) -> Image.Image:
    """Sniff, then decode to upright sRGB RGB (brushwork.images); 4xx with a message otherwise.
    ``reduce_to``: the longest side needed (a larger JPEG is decoded reduced, in draft mode)."""
    sniff(data, what, max_pixels, reduce_to)
    try:
        return decode_image(data, name=f"the {what}", max_pixels=max_pixels, reduce_to=reduce_to)
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
