"""A TCP proxy on 127.0.0.1 that loses answers: the request reaches the server, its answer
never reaches the client (the connection is closed instead) — a network failure at the worst
moment for a client that retries."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class AnswerDroppingProxy:
    """Forwards connections to ``127.0.0.1:target_port``; of the first ``drop`` connections it
    relays the request, waits for the server's first answer bytes (so the server has handled
    it) and closes the client's connection without passing them on."""

    def __init__(self, target_port: int, drop: int = 1) -> None:
        self.target_port, self.to_drop = target_port, drop
        self.dropped = 0
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                self.connections += 1
                drop = self.dropped < self.to_drop
                if drop:
                    self.dropped += 1
            threading.Thread(target=self._serve, args=(downstream, drop), daemon=True).start()

    def _serve(self, downstream: socket.socket, drop: bool) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        threading.Thread(target=_pump, args=(downstream, upstream), daemon=True).start()
        if drop:
            upstream.recv(1)  # the server answers: it has handled the request
            for s in (downstream, upstream):
                s.close()
            return
        _pump(upstream, downstream)

    def close(self) -> None:
        self._listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@contextmanager
def answer_dropping_proxy(target_url: str, drop: int = 1) -> Iterator[AnswerDroppingProxy]:
    proxy = AnswerDroppingProxy(int(target_url.rsplit(":", 1)[1]), drop)
    try:
        yield proxy
    finally:
        proxy.close()
