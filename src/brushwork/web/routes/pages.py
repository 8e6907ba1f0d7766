"""The page itself: one static HTML file with a strict Content-Security-Policy (its scripts and
styles come from /static, mounted by ``create_app``; nothing is loaded from other sites). Scripts may
compile WebAssembly ('wasm-unsafe-eval': the Live mode's onnxruntime-web) and nothing else more; the
cross-origin isolation headers come from ``web.live.IsolationMiddleware``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

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
