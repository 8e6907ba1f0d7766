"""What the page's Live mode needs from the server: the networks as ONNX files, style vectors, and the
headers that let onnxruntime-web run with WebAssembly threads.

Live paints the camera in the browser (``static/live.js``, onnxruntime-web from ``static/ort/``); the
server does one thing per style, never per frame:

* a trained model: its ONNX copy, the very file ``brushwork apply --engine onnx`` runs
  (``fast.inference.onnx_copy``, exported once into the cache folder);
* any painting: its style vector (``fast.inference.style_vector``, as ``apply --style`` predicts it),
  fed with the frame to the one arbitrary network exported with the vector as an input
  (``onnx_copy(None, network)``, one per ``--network``: brushwork's own or Magenta's, the server's
  default unless the page asks), and the style predictor's own graph, which the page runs on a camera
  frame only when the strength slider mixes in the camera's own style.

The files are sent with an ETag (their SHA-256) and ``Cache-Control: no-cache``: the browser keeps
them and asks again with ``If-None-Match``, a 304 on every later visit.

WebAssembly threads need ``SharedArrayBuffer``, which browsers give only to a cross-origin isolated
page: ``IsolationMiddleware`` adds ``Cross-Origin-Opener-Policy: same-origin`` and
``Cross-Origin-Embedder-Policy: require-corp`` to every answer (and ``Cross-Origin-Resource-Policy:
same-origin``, so the page's own scripts, workers and pictures still load under that policy). The
page's Content-Security-Policy allows ``'wasm-unsafe-eval'`` (compiling the WebAssembly) and nothing
else more (``routes.pages``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brushwork.fast.engines import file_digest
from brushwork.fast.inference import onnx_copy
from brushwork.networks.arbitrary_weights import PREDICTOR_FILE, find_magenta_file

#: Headers that make the page cross-origin isolated (SharedArrayBuffer, so WebAssembly threads).
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: The vendored runtime (onnxruntime-web, npm): the module the page imports and the folder of its
#: WebAssembly build (SIMD + threads, CPU only).
RUNTIME_MODULE = "/static/ort/ort.wasm.min.mjs"
RUNTIME_FOLDER = "/static/ort/"
ONNX_TYPE = "application/octet-stream"


class IsolationMiddleware:
    """Adds :data:`ISOLATION_HEADERS` to every HTTP answer (unless a route set them itself)."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.extra = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                      for k, v in ISOLATION_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in self.extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


@dataclass(frozen=True)
class Graph:
    """One ONNX file to send, with its ETag."""

    path: Path
    etag: str


class LiveFiles:
    """The ONNX files of the Live mode, found (and exported on first use) once per server."""

    def __init__(self) -> None:
        self._graphs: dict[str, Graph] = {}
        self._lock = threading.Lock()

    def _graph(self, key: str, find) -> Graph:
        with self._lock:  # one export at a time: two first requests for one model make one file
            if key not in self._graphs or not self._graphs[key].path.is_file():
                path = Path(find())
                self._graphs[key] = Graph(path, f'"{file_digest(path)[:32]}"')
            return self._graphs[key]

    def model(self, ref) -> Graph:
        """A trained model's ONNX copy (the file ``apply --engine onnx`` runs)."""
        return self._graph(f"model:{ref}", lambda: onnx_copy(ref))

    def arbitrary(self, network: str) -> Graph:
        """The arbitrary-style transfer network ``network`` with the style vector as its second input:
        one file (and ETag) per network, so switching never serves the other one's graph."""
        return self._graph(f"arbitrary:{network}", lambda: onnx_copy(None, network))

    def predictor(self) -> Graph:
        """The style predictor's graph (the peer package's, as ``predict_style`` runs it)."""
        return self._graph("predictor", lambda: find_magenta_file(PREDICTOR_FILE))
