"""A TCP proxy on 127.0.0.1 that breaks a MongoDB connection in the middle of a read.

It forwards bytes both ways between the client and a server; once `after` bytes have
gone from the server to the client (over all connections), it breaks the connection
carrying them, once: `cut` closes it, `freeze` stops forwarding on it (the server
looks alive to TCP, but answers nothing). With `stay_down`, every connection is then
closed and every later one is closed as soon as it is accepted: a server that never
comes back.
"""

from __future__ import annotations

import socket
import threading
from typing import Self

CHUNK = 16 << 10


class FaultyProxy:
    def __init__(self, target_port: int, mode: str, after: int, stay_down: bool = False) -> None:
        if mode not in ("cut", "freeze"):
            raise ValueError(mode)
        self.target_port, self.mode, self.after, self.stay_down = target_port, mode, after, stay_down
        self.forwarded = 0  # bytes from the server to the client
        self.faults = 0
        self.down = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]

    def uri(self, **options: object) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"directConnection": "true", **options}.items())
        return f"mongodb://127.0.0.1:{self.port}/?{query}"

    def __enter__(self) -> Self:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                _close(sock)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.down:
                _close(client)
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets += [client, server]
            frozen = threading.Event()
            threading.Thread(target=self._pump, args=(client, server, False, frozen), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True, frozen), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, counted: bool, frozen: threading.Event) -> None:
        try:
            while not frozen.is_set():
                data = src.recv(CHUNK)
                if not data:
                    break
                if counted and self._fault_now(len(data)):
                    half = data[: len(data) // 2]  # the client gets part of a reply
                    dst.sendall(half)
                    if self.mode == "freeze":
                        frozen.set()
                        self._closed.wait()  # hold both sockets open, forward nothing
                    break
                if frozen.is_set():
                    break
                dst.sendall(data)
        except OSError:
            pass
        if not frozen.is_set() or self._closed.is_set():
            _close(src)
            _close(dst)

    def _fault_now(self, n: int) -> bool:
        with self._lock:
            before, self.forwarded = self.forwarded, self.forwarded + n
            if self.faults or not before < self.after <= self.forwarded:
                return False
            self.faults += 1
            if self.stay_down:
                self.down = True
                for sock in self._sockets:
                    _close(sock)
            return True


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
