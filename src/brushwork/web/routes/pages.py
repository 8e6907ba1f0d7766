"""The page itself: one static HTML file with a strict Content-Security-Policy (its scripts and
styles come from /static, mounted by ``create_app``; nothing is loaded from other sites). Scripts may
compile WebAssembly ('wasm-unsafe-eval': the Live mode's onnxruntime-web) and nothing else more; the
cross-origin isolation headers come from ``web.live.IsolationMiddleware``."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from brushwork.web.jobs import TERMINAL, JobStatus

STATIC = Path(__file__).resolve().parent.parent / "static"
PAGE_HEADERS = {
    # media-src blob:: the page decodes a chosen video itself (its first frame, the photo's preview).
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

router = APIRouter()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


def vocabulary_script() -> str:
    """The server's words the page needs, as a script: the job statuses and those in which a job is over
    (``web.jobs.JobStatus``), so app.js spells none of them."""
    words = {"statuses": [s.value for s in JobStatus], "terminal": [s.value for s in TERMINAL]}
    return f"// Generated from brushwork.web.jobs.JobStatus.\nconst BRUSHWORK = {json.dumps(words)};\n"


@router.get("/vocabulary.js", include_in_schema=False)
async def vocabulary() -> Response:
    return Response(vocabulary_script(), media_type="text/javascript",
                    headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
