"""The person / background mask of a photo, for the page's region editor (``POST /api/mask``).

The mask is the engines' own (``brushwork.regions.person_regions``: MediaPipe's selfie segmentation,
refined to the photo's edges with ``RegionConfig``'s feather), so what the page shows over the photo is
what ``--regions auto`` would paint; the page then corrects it with its brush and sends it with the job.
"""

from __future__ import annotations

import io
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response
from PIL import Image

from brushwork.config import RegionConfig
from brushwork.errors import BrushworkError
from brushwork.images import MIN_PHOTO_SIDE, image_to_tensor, open_image, resize_longest
from brushwork.regions import person_regions
from brushwork.web.deps import Config, Gallery
from brushwork.web.methods import MIN_SIZE
from brushwork.web.schemas import errors
from brushwork.web.uploads import decode_upload, read_limited

router = APIRouter(prefix="/api", tags=["regions"])
#: Headers of the answer: the share of the picture that is person, and the engine's warning if any.
SHARE_HEADER, WARNING_HEADER = "X-Person-Share", "X-Brushwork-Warning"


def person_mask_png(picture: Image.Image, config: RegionConfig) -> tuple[bytes, float, str | None]:
    """The person's soft weight of ``picture`` as a grey PNG (255 = person), its share of the picture and
    the engine's warning (no person found: an all-black mask)."""
    import numpy as np

    warnings: list[str] = []
    found = person_regions(image_to_tensor(picture), config, "the photo", warnings.append)
    weight = found.weights[0].numpy()
    grey = (np.clip(weight, 0, 1) * 255 + 0.5).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(grey, "L").save(out, format="PNG")
    return out.getvalue(), float((weight > 0.5).mean()), warnings[0] if warnings else None


@router.post(
    "/mask",
    summary="The person / background mask of a photo (a grey PNG, 255 = person), as --regions auto finds it",
    operation_id="person_mask",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "the soft mask, the photo's shape"},
               **errors(400, 404, 413, 415, 422)},
)
async def person_mask(
    request: Request,
    config: Config,
    registry: Gallery,
    photo: Annotated[UploadFile | None, File(description="the photo (any common image format)")] = None,
    sample: Annotated[str | None, Form(description="or: a sample photo id from /api/samples")] = None,
    size: Annotated[
        int | None,
        Form(description="longest side of the mask in pixels (default: the photo's own, at most the fast "
             "methods' largest size)"),
    ] = None,
) -> Response:
    if (photo is None) == (sample is None):
        raise HTTPException(422, "send either a photo file or a sample id (exactly one of them)")
    if sample is not None and sample not in registry.samples:
        raise HTTPException(404, "no such sample photo; see /api/samples")
    if size is not None and not MIN_SIZE <= size <= config.fast_max_size:
        raise HTTPException(422, f"size must be between {MIN_SIZE} and {config.fast_max_size} pixels, "
                            f"got {size}")
    data = await read_limited(photo, config.max_upload_bytes, "photo") if photo is not None else None

    def work() -> tuple[bytes, float, str | None]:
        if data is not None:
            picture = decode_upload(data, "photo", config.max_pixels, reduce_to=size or config.fast_max_size)
        else:
            picture = open_image(registry.samples[sample].path)
        if min(picture.size) < MIN_PHOTO_SIDE:
            raise HTTPException(422, f"the photo is {picture.width}x{picture.height} pixels, too small; "
                                f"please use one at least {MIN_PHOTO_SIDE} px on each side")
        picture = resize_longest(picture, min(size or max(picture.size), config.fast_max_size))
        try:
            return person_mask_png(picture, RegionConfig(regions="auto"))
        except BrushworkError as exc:
            raise HTTPException(422, str(exc).splitlines()[0]) from None

    png, share, warning = await anyio.to_thread.run_sync(work, limiter=request.app.state.decoding)
    headers = {"Cache-Control": "no-store", SHARE_HEADER: f"{share:.4f}"}
    if warning:
        headers[WARNING_HEADER] = warning
    return Response(png, media_type="image/png", headers=headers)
