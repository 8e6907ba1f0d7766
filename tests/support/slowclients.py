"""Slow clients on real sockets: a request body, or request headers, trickled one byte at a time.

Each client opens a TCP connection to a loopback server, sends what a browser would send at the
start of ``POST /api/jobs`` and then one more byte every ``interval`` seconds, and records how
the server ended it: the status of an answer (408 for a body that took too long), or a plain
close. Used by tests/test_web_reliability.py and benchmarks/bench_web_load.py.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlparse

BOUNDARY = "slowclientboundary"


@dataclass
class SlowResult:
    stage: str  # "body" or "headers": what was being trickled
    seconds: float  # from connect to the server's answer or close (or to giving up)
    status: int | None  # the answer's status, None when closed without one or never cut off
    cut_off: bool  # the server ended it (answer or close) before ``give_up`` seconds


def _opening(host: str, port: int, stage: str) -> bytes:
    """The bytes sent at once: full headers and a body start, or the first line of the headers."""
    if stage == "headers":
        return b"POST /api/jobs HTTP/1.1\r\n"
    head = (
        f"POST /api/jobs HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 100000\r\n\r\n"
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photo"; filename="p.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    )
    return head.encode()


def slow_client(url: str, stage: str = "body", interval: float = 0.5, give_up: float = 60.0) -> SlowResult:
    """One connection that trickles its request (see the module); returns how it ended."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    trickle = b"x" if stage == "body" else b"X-Slow: 1\r\n"
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(_opening(host, port, stage))
        position = 0
        while time.monotonic() - started < give_up:
            readable, _, _ = select.select([sock], [], [], interval)
            if readable:
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                elapsed = time.monotonic() - started
                status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None
                return SlowResult(stage, elapsed, status, True)
            try:
                sock.sendall(trickle[position % len(trickle):][:1])
                position += 1
            except OSError:  # closed by the server while we were sending
                return SlowResult(stage, time.monotonic() - started, None, True)
    return SlowResult(stage, time.monotonic() - started, None, False)


def run_slow_clients(
    url: str, count: int, stage: str = "body", interval: float = 0.5, give_up: float = 60.0
) -> tuple[list[SlowResult], threading.Thread]:
    """Start ``count`` slow clients in the background; the list fills as they end (join the thread)."""
    results: list[SlowResult] = []

    def one() -> None:
        try:
            results.append(slow_client(url, stage, interval, give_up))
        except OSError:  # refused outright (e.g. over the connection cap): cut off at once
            results.append(SlowResult(stage, 0.0, None, True))

    threads = [threading.Thread(target=one, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()

    def join_all() -> None:
        for thread in threads:
            thread.join()

    waiter = threading.Thread(target=join_all, daemon=True)
    waiter.start()
    return results, waiter
