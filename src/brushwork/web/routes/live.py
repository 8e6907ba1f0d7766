"""Live mode: what the page needs to paint the camera itself (see ``brushwork.web.live``): the list of
live styles, the networks as ONNX files and the paintings' style vectors. Nothing here runs per frame."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from brushwork.config import LIVE_NETWORKS, NETWORKS
from brushwork.errors import BrushworkError
from brushwork.fast.inference import style_vector
from brushwork.images import open_image, resize_longest
from brushwork.models import find_shipped
from brushwork.networks.arbitrary_weights import network_file
from brushwork.web.deps import Config, Gallery, Methods
from brushwork.web.live import ONNX_TYPE, RUNTIME_FOLDER, RUNTIME_MODULE, Graph, LiveFiles
from brushwork.web.methods import JobMethod
from brushwork.web.schemas import Problem, errors
from brushwork.web.submission import PAINTING_STORE_SIZE, check_painting_size
from brushwork.web.uploads import decode_upload, read_limited

router = APIRouter(prefix="/api/live", tags=["live"])
ONNX = {200: {"content": {ONNX_TYPE: {}}}, **errors(404),
        503: {"model": Problem, "description": "the network could not be exported on this server"}}


def _files(request: Request) -> LiveFiles:
    state = request.app.state
    if not hasattr(state, "live_files"):
        state.live_files = LiveFiles()
    return state.live_files


def _arbitrary(methods: dict[str, JobMethod]) -> JobMethod | None:
    """The any-painting method when this server has its network, else None."""
    method = methods.get("arbitrary")
    return method if method is not None and method.unavailable_reason() is None else None


def _network(method: JobMethod, network: str | None) -> str:
    """The network a Live request asks for, else the arbitrary method's default (the command line's)."""
    if network is None:
        return method.defaults.network
    if network not in NETWORKS:
        raise HTTPException(422, f"network must be one of {', '.join(NETWORKS)}, got {network[:40]!r}")
    return network


def _live_copy(ref) -> str | None:
    """The shipped Live copy's name of a model reference (``starry-night`` -> ``starry-night-live``),
    or None: a model trained here (a file) has no Live copy and is sent as it is."""
    shipped = find_shipped(str(ref)) if isinstance(ref, str) else None
    live = shipped.live if shipped is not None else None
    return None if live is None else live.name


def _send(graph: Graph, request: Request) -> Response:
    """The file, or 304 when the browser's copy is current; the browser keeps it and asks again."""
    headers = {"ETag": graph.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == graph.etag:
        return Response(status_code=304, headers=headers)
    return FileResponse(graph.path, media_type=ONNX_TYPE, headers=headers)


async def _graph(find) -> Graph:
    try:
        return await run_in_threadpool(find)
    except BrushworkError as exc:
        raise HTTPException(503, f"the network cannot be sent: {exc}") from None


@router.get("", summary="Live mode: the runtime, the networks and the styles it can paint")
async def live_catalogue(registry: Gallery, methods: Methods) -> dict:
    arbitrary = _arbitrary(methods)
    styles = []
    model_method = methods.get("model")
    for style in registry.styles.values():
        if "model" in style.methods and model_method is not None and style.fast_model is not None:
            ref = model_method.model_ref(style.fast_model)
            live = _live_copy(ref)
            styles.append({"key": f"model:{style.id}", "id": style.id, "title": style.title, "kind": "model",
                           "model": f"/api/live/models/{style.id}.onnx" + ("?live=true" if live else ""),
                           # what `brushwork apply` paints the same frame with
                           "apply": live or (ref if isinstance(ref, str) else Path(ref).name),
                           "thumbnail": f"/api/styles/{style.id}/thumbnail"})
    for style in registry.styles.values():
        if arbitrary is not None and "arbitrary" in style.methods:
            styles.append({"key": f"painting:{style.id}", "id": style.id, "title": style.title,
                           "kind": "painting", "vector": f"/api/live/styles/{style.id}/vector",
                           "thumbnail": f"/api/styles/{style.id}/thumbnail"})
    network = None if arbitrary is None else _live_network(arbitrary.defaults.network)
    return {
        "runtime": {"module": RUNTIME_MODULE, "wasm_paths": RUNTIME_FOLDER},
        # "model" is the graph Live paints with: the Live copy of the server's network where one is
        # shipped; "networks" names each one's own URL.
        "arbitrary": None if arbitrary is None else {
            "model": f"/api/live/arbitrary.onnx?network={network}", "predictor": "/api/live/predictor.onnx",
            "vector": "/api/live/vector", "network": network,
            "networks": {name: f"/api/live/arbitrary.onnx?network={name}" for name in NETWORKS}},
        "styles": styles,
    }


def _live_network(network: str) -> str:
    """The Live copy of ``network`` when its file is installed, else ``network`` itself."""
    live = LIVE_NETWORKS.get(network)
    return live if live is not None and network_file(live).is_file() else network


@router.get("/models/{style_id}.onnx", summary="A trained model as ONNX (what apply --engine onnx runs)",
            response_class=Response, responses=ONNX)
async def live_model(
    style_id: str, request: Request, registry: Gallery, methods: Methods,
    live: Annotated[bool, Query(description="its Live copy (NAME-live, faster in the browser)")] = False,
) -> Response:
    style = registry.styles.get(style_id)
    method = methods.get("model")
    if style is None or style.fast_model is None or method is None or "model" not in style.methods:
        raise HTTPException(404, "no trained model for this style")
    ref = method.model_ref(style.fast_model)
    if live:
        ref = _live_copy(ref)
        if ref is None:
            raise HTTPException(404, "this style's model has no Live copy")
    return _send(await _graph(lambda: _files(request).model(ref)), request)


def _require_arbitrary(methods) -> None:
    """404 unless this server paints any painting (its graphs would have nothing to serve)."""
    if _arbitrary(methods) is None:
        raise HTTPException(404, "the any-painting network is not installed on this server")


@router.get("/arbitrary.onnx", summary="The any-painting network as ONNX, the style vector its second input",
            response_class=Response, responses=ONNX)
async def live_arbitrary(
    request: Request, methods: Methods,
    network: Annotated[str | None, Query(description="brushwork or magenta; default: the server's (the "
                                         "command line's)")] = None,
) -> Response:
    _require_arbitrary(methods)
    name = _network(methods["arbitrary"], network)
    return _send(await _graph(lambda: _files(request).arbitrary(name)), request)


@router.get("/predictor.onnx", summary="The style predictor as ONNX (image 1x256x256x3 in, vector out)",
            response_class=Response, responses=ONNX)
async def live_predictor(request: Request, methods: Methods) -> Response:
    _require_arbitrary(methods)
    return _send(await _graph(_files(request).predictor), request)


def _vector(image) -> list[float]:
    return [round(float(v), 7) for v in style_vector(image).reshape(-1)]


@router.get("/styles/{style_id}/vector", summary="A gallery painting's style vector (100 numbers)",
            responses=errors(404))
async def live_style_vector(style_id: str, registry: Gallery, methods: Methods) -> dict:
    style = registry.styles.get(style_id)
    if _arbitrary(methods) is None or style is None or style.painting is None:
        raise HTTPException(404, "no painting for this style, or no any-painting network here")
    vector = await run_in_threadpool(lambda: _vector(open_image(style.painting)))
    return {"style": style_id, "vector": vector}


@router.post("/vector", summary="The style vector of an uploaded painting (100 numbers)",
             responses=errors(400, 404, 413, 415, 422))
async def live_upload_vector(painting: Annotated[UploadFile, File(description="a painting")],
                             config: Config, methods: Methods) -> dict:
    method = _arbitrary(methods)
    if method is None:
        raise HTTPException(404, "the any-painting network is not installed on this server")
    data = await read_limited(painting, config.max_upload_bytes, "painting")

    def work() -> list[float]:
        art = decode_upload(data, "painting", config.max_pixels)
        check_painting_size(art, "painting", method.min_painting_side)
        return _vector(resize_longest(art, PAINTING_STORE_SIZE))  # as a fast job stores it

    return {"vector": await run_in_threadpool(work)}
