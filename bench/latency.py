"""An emulated network: a TCP proxy on loopback that delays every byte.

    with DelayProxy(("127.0.0.1", 54339), rtt=0.001) as proxy:
        url = proxy.url_for(server.client_url)  # the same URL, the proxy's port

Inside `with`, the proxy listens on 127.0.0.1 on a free port and forwards each
connection it accepts to the target. Every chunk of bytes is held for `rtt / 2`
in each direction before it is forwarded, so a request and its answer take
one round trip more than on loopback, as over a network with that latency.

Per connection and direction, a reader thread `recv()`s chunks and queues each
with the moment it is due (`time.monotonic()` at arrival plus the one-way
delay), and a writer thread takes them in order, sleeps until that moment and
`sendall()`s them: the proxy's own work is absorbed inside the delay instead
of added to it. End of stream is delayed and forwarded the same way
(`shutdown(SHUT_WR)`). Every socket has `TCP_NODELAY`: otherwise Nagle's
algorithm and delayed ACKs add stalls of about 40 ms. On Linux the writer
threads lower their timer slack to 1 us (`prctl(PR_SET_TIMERSLACK)`): with the
default 50 us, each sleep overshoots and a 1 ms round trip measures about
1.15 ms instead of 1.04 ms.

What it does not emulate: bandwidth (a chunk is forwarded whole, however
large), loss, and TCP's own handshake (the client's `connect()` completes on
loopback, so a connection costs one round trip less than over a network).
Standard library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import queue
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

CHUNK = 1 << 16  # the most one recv() takes
POLL = 0.1  # seconds between looks at the closing flag while accepting
JOIN = 5.0  # seconds to wait for a thread at close
PR_SET_TIMERSLACK = 29  # <linux/prctl.h>
TIMER_SLACK_NS = 1_000

# (due time, bytes); None is the end of stream.
Chunks = queue.SimpleQueue[tuple[float, bytes | None]]


class DelayProxy:
    """Forward TCP connections to `target`, holding each chunk `rtt / 2` each way."""

    def __init__(self, target: tuple[str, int], *, rtt: float) -> None:
        if rtt < 0:
            raise ValueError(f"rtt must be at least 0, not {rtt}")
        self.target = target
        self.rtt = rtt
        self.connections = 0  # accepted so far
        self._listener: socket.socket | None = None
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the proxy is not running: use it in `with`")
        port: int = self._listener.getsockname()[1]
        return port

    def url_for(self, url: str) -> str:
        """`url` (postgresql://user:password@host:port/db) through the proxy."""
        parts = urlsplit(url)
        userinfo, at, _ = parts.netloc.rpartition("@")
        netloc = f"{userinfo}{at}127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def __enter__(self) -> DelayProxy:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL)
        self._start(self._accept, "accept")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, cut every open connection, wait for every thread."""
        self._closing.set()
        with self._lock:
            links = list(self._links)
        for link in links:
            link.abort()
        for thread in self._threads:
            thread.join(JOIN)
        if self._listener is not None:
            self._listener.close()
        for link in links:
            link.close()

    def _start(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(
            target=target,
            args=args,
            name=f"latency-{name}",
            daemon=True,
        )
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self.connections += 1
            link = _Link(client, upstream, self._forget)
            with self._lock:
                self._links.add(link)
            delay = self.rtt / 2
            number = self.connections
            for direction, src, dst in (
                ("up", client, upstream),
                ("down", upstream, client),
            ):
                chunks: Chunks = queue.SimpleQueue()
                self._start(_read, f"{number}-{direction}-read", src, chunks, delay)
                self._start(link.write, f"{number}-{direction}-write", chunks, dst)

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)


def _fine_timer() -> None:
    """Let this thread's sleeps end within 1 us of when asked (Linux only)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: sleeps overshoot a little more


def _read(src: socket.socket, chunks: Chunks, delay: float) -> None:
    """Queue what `src` sends, each chunk due `delay` after it arrived."""
    try:
        while data := src.recv(CHUNK):
            chunks.put((time.monotonic() + delay, data))
    except OSError:
        pass  # reset, or cut by abort(): the end of this direction
    chunks.put((time.monotonic() + delay, None))


class _Link:
    """One proxied connection: the client's socket and the upstream one."""

    def __init__(
        self,
        client: socket.socket,
        upstream: socket.socket,
        forget: Callable[[_Link], None],
    ) -> None:
        self.sockets = (client, upstream)
        for sock in self.sockets:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._forget = forget
        self._lock = threading.Lock()
        self._writing = 2  # writer threads still running

    def write(self, chunks: Chunks, dst: socket.socket) -> None:
        """Send each queued chunk to `dst` when it is due; then end the stream."""
        _fine_timer()
        broken = False
        while True:
            due, data = chunks.get()
            wait = due - time.monotonic()
            if wait > 0 and not broken:
                time.sleep(wait)
            if data is None:
                break
            if broken:
                continue  # drain until the reader, cut by abort(), stops
            try:
                dst.sendall(data)
            except OSError:
                broken = True
                self.abort()
        if not broken:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
        with self._lock:
            self._writing -= 1
            last = self._writing == 0
        if last:
            # Both readers have stopped too: each writer ends on its reader's
            # last item.
            self.close()
            self._forget(self)

    def abort(self) -> None:
        """Cut both sockets, so that both readers stop."""
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
