"""Running the app with uvicorn, with the time-outs and the connection cap of WebServiceConfig.

uvicorn bounds how long an idle keep-alive connection stays open, but not how long a client may
take to send a request: a client that sends one byte every half second is never cut off. Two
limits close that gap, one at each stage of a request:

* headers: ``GuardedH11Protocol`` closes a connection whose request headers are not complete
  ``header_timeout`` seconds after it opened or after its previous response;
* body: ``brushwork.web.uploads.BodyLimitMiddleware`` answers 408 and closes the connection when
  the body is not in after ``body_timeout`` seconds.

``max_connections`` caps the connections served at once (uvicorn's ``limit_concurrency``; more
get 503), so a crowd of slow clients cannot take every file descriptor.

On SIGTERM or Ctrl-C, ``Server`` sets the app's ``state.stopping`` before uvicorn waits for open
connections: the progress streams and the fast jobs' inline waits see it within a poll (0.02 s) and
end their answers, so the server exits at once instead of cancelling them after its graceful time-out
(which logged a ``CancelledError`` traceback per open stream).
"""

from __future__ import annotations

import asyncio
import socket
import threading

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from brushwork.config import WebServiceConfig

#: Seconds an idle keep-alive connection stays open between requests (uvicorn's default).
KEEP_ALIVE_SECONDS = 5


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers.

    The timer starts when the connection opens and again after each response; when it fires while
    the client is still sending the next request's headers (h11's ``IDLE`` state for the client),
    the connection is closed. Requests in progress (body, streaming answers) are not touched.
    """

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # pragma: no cover - a request is being answered (its own limits apply)
        self.logger.info("closing a connection that sent no complete request in %g s", self.header_timeout)
        self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_header_timer", None) is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)


def guarded_protocol(header_timeout: float) -> type[H11Protocol]:
    """A protocol class with its own header deadline (each server its own, tests run several)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"header_timeout": header_timeout})


def uvicorn_config(app, config: WebServiceConfig, log_level: str = "info", **overrides) -> uvicorn.Config:
    """uvicorn's settings for ``app`` from ``config``: host, port, time-outs and the connection cap."""
    settings = {
        "host": config.host,
        "port": config.port,
        "log_level": log_level,
        "http": guarded_protocol(config.header_timeout),
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "limit_concurrency": config.max_connections,
        "timeout_graceful_shutdown": 5,
        **overrides,
    }
    return uvicorn.Config(app, **settings)


def stopping_event(app) -> threading.Event:
    """The app's "the server is stopping" flag (``create_app`` makes it; a bare app gets one here)."""
    state = app.state
    if getattr(state, "stopping", None) is None:
        state.stopping = threading.Event()
    return state.stopping


class Server(uvicorn.Server):
    """uvicorn's server that tells the app it is stopping before waiting for its open connections."""

    def __init__(self, config: uvicorn.Config, app) -> None:
        super().__init__(config)
        self.stopping = stopping_event(app)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.stopping.set()  # long answers end within a poll; uvicorn then finds no task to cancel
        await super().shutdown(sockets)


def make_server(app, config: WebServiceConfig, log_level: str = "info", **overrides) -> Server:
    """A server for ``app`` with ``config``'s settings (``overrides`` as in ``uvicorn_config``)."""
    return Server(uvicorn_config(app, config, log_level, **overrides), app)


def run_server(app, config: WebServiceConfig, log_level: str = "info") -> None:
    """Serve ``app`` until interrupted (``brushwork serve``)."""
    make_server(app, config, log_level).run()
