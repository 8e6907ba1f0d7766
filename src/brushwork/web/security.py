"""The API answers its own page, not any page in the user's browser (issue 27).

``GuardMiddleware`` (outermost, before a body is read) holds every request to three rules:

* **Host allow-list** (DNS rebinding): the ``Host`` header must be a localhost name (``localhost``,
  ``*.localhost``), an IP address (a rebinding attack needs a name it controls), or one given with
  ``--allowed-host``; anything else is 400 before any route runs.
* **Same origin for state changes** (cross-site form posts, CSRF): a POST/PUT/PATCH/DELETE whose
  ``Sec-Fetch-Site`` is neither ``same-origin`` nor ``none`` (typed by the user), or whose ``Origin``
  is not this server's own (the ``Host`` it was sent to) nor one of ``--cors-origins``, is 403. A
  client that sends neither header (curl, scripts, the test clients) is no browser page and passes.
* **The page's security headers on every static file** (``routes.pages.PAGE_HEADERS``: CSP with
  ``frame-ancestors 'none'``, ``X-Frame-Options``, ``nosniff``), so ``/static/index.html`` cannot be
  framed either; headers a route set itself are kept.

With ``--host`` other than loopback (``exposed``), a job's photo, preview, result and cancel also need
the token of the browser that submitted it: the first submission sets an HttpOnly, SameSite=Strict
cookie (``OWNER_COOKIE``; scripts may send it back as the ``X-Brushwork-Token`` header instead), and
the job keeps a hash of it. uuid4 ids are unguessable, but they travel in logs and URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from brushwork.config import WebServiceConfig

#: Cookie that carries a browser's job token (exposed servers only).
OWNER_COOKIE = "brushwork_owner"
#: Header a script may send the token in instead of the cookie.
OWNER_HEADER = "x-brushwork-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
OWN_PAGE = "only this server's own page may change state"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server on this machine."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name part of a Host header: ``example.org:8000`` -> ``example.org``, ``[::1]:80`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(header: str, allowed: tuple[str, ...] = ()) -> bool:
    name = host_name(header).rstrip(".")
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost") or name in {a.lower().rstrip(".") for a in allowed}:
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def same_origin(origin: str, host: str) -> bool:
    """An ``Origin`` header naming the server the request was sent to (scheme aside: behind a TLS
    proxy the browser says https while the Host is the same)."""
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == host.strip().lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]


def new_token() -> str:
    return secrets.token_urlsafe(24)


def owns(owner: str | None, token: str | None) -> bool:
    """Whether ``token`` (the browser's) is the one a job was submitted with (jobs from before the
    server was exposed, with no owner, are nobody's: refused)."""
    return bool(owner and token) and hmac.compare_digest(owner, token_hash(token))


class GuardMiddleware:
    """The Host, Origin and header rules above, for every HTTP request."""

    def __init__(self, app: ASGIApp, config: WebServiceConfig, page_headers: dict[str, str]):
        self.app = app
        self.allowed = tuple(config.allowed_host)
        self.cors = frozenset(config.cors_origins)
        self.page = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in page_headers.items()]

    async def _refuse(self, send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode("utf-8")
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        host = headers.get("host", "")
        if not host_allowed(host, self.allowed):
            await self._refuse(send, 400, f"this server does not answer to the host name "
                               f"{host_name(host)[:80]!r}; start it with --allowed-host NAME to add it")
            return
        if scope.get("method", "GET").upper() not in SAFE_METHODS:
            problem = self._cross_site(headers, host)
            if problem:
                await self._refuse(send, 403, problem)
                return
        path = scope.get("path", "")
        if path != "/" and not path.startswith("/static/"):
            await self.app(scope, receive, send)
            return

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers") or ()}
                extra = [(k, v) for k, v in self.page if k not in present]
                message = {**message, "headers": [*(message.get("headers") or ()), *extra]}
            await send(message)

        await self.app(scope, receive, sending)

    def _cross_site(self, headers: dict[str, str], host: str) -> str | None:
        origin = headers.get("origin")
        if origin is not None and origin in self.cors:
            return None
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return f"refused: a request from another site ({site}); {OWN_PAGE}"
        if origin is not None and not same_origin(origin, host):
            return f"refused: a request from another origin ({origin[:80]}); {OWN_PAGE}"
        return None


def exposure_warning(config: WebServiceConfig) -> str | None:
    """What a server bound beyond loopback exposes (``brushwork serve`` prints it at start-up)."""
    if is_loopback(config.host):
        return None
    names = ", ".join(config.allowed_host) or "IP addresses only (add names with --allowed-host)"
    return (f"--host {config.host} serves beyond this machine: anyone who can reach port {config.port} can "
            "upload photos, run jobs and use this machine's CPU; there is no login. A job's photo, result "
            "and cancel need the submitting browser's token (a cookie). Host names answered: localhost, "
            f"{names}. Put it behind a TLS proxy with authentication to go further than a trusted network")
