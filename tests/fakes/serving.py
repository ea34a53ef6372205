"""The threaded HTTP server plumbing both fakes share (`binance`, `chat`): a server that
knows its open connections so that stopping it closes them, served in a daemon thread."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class TrackingServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its open connections (handlers call `track`), to close
    them on stop, and a `stopping` event that wakes handlers sleeping in a fault."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Condition()
        super().__init__(address, handler)

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
                self._connections_lock.notify_all()

    def close_connections(self, timeout_s: float = 2.0) -> None:
        """Shut every open client connection and wait for their handler threads to finish."""
        with self._connections_lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._connections_lock.wait_for(lambda: not self._connections, timeout=timeout_s)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeout tests) is normal here; anything else is printed."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def serve(server: TrackingServer, name: str) -> threading.Thread:
    """Serve `server` in a started daemon thread named `name`."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    return thread


def shut(server: TrackingServer, thread: threading.Thread | None) -> None:
    """Stop serving, wake sleeping faults, close every socket, join the thread."""
    server.stopping.set()
    server.shutdown()
    server.close_connections()
    server.server_close()
    if thread is not None:
        thread.join(timeout=5)
