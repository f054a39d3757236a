"""A real S3 endpoint for tests: moto's server mode on 127.0.0.1 (as s3fs and pandas
test), and a forwarding proxy in front of it that can inject S3 faults."""

from __future__ import annotations

import http.client
import socket
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
BUCKET = "features"  # the bucket of the `s3` fixture (conftest.py)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoS3:
    def __init__(self) -> None:
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> MotoS3:
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


# A fault decides, per request (method, path), whether to answer with an S3 error
# (status, code) instead of forwarding; None forwards. RESET resets the connection.
Fault = Callable[[str, str], "tuple[int, str] | None"]
RESET = (0, "ConnectionReset")


class FaultProxy:
    """Forwards HTTP to moto; `fault` may answer a request with an S3 error instead."""

    def __init__(self, upstream_port: int, fault: Fault):
        proxy = self
        self.injected: list[tuple[str, str, str]] = []
        self.fault = fault

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    parts = []
                    while True:  # HTTP/1.1 chunked transfer coding (boto3 streams uploads so)
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                body = self._body()
                answer = proxy.fault(self.command, self.path)
                if answer is not None:
                    status, code = answer
                    proxy.injected.append((self.command, self.path, code))
                    if answer == RESET:  # an RST, as a dropped connection gives
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.connection.close()
                        self.close_connection = True
                        return
                    payload = (
                        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                        f"<Message>injected by the test</Message></Error>"
                    ).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":  # a HEAD answer has no body
                        self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                skip = ("connection", "transfer-encoding", "content-length")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                # HEAD: the object's length, though no body follows
                length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:  # a reset connection: expected
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def kill_on_first_data_write(upstream_port: int, command: Callable[[str], list[str]], **popen) -> None:
    """Run `command(endpoint)` through a FaultProxy and SIGKILL it when it first writes a data
    file (a run dying mid-write); returns once it is dead."""
    import os
    import signal
    import subprocess

    child: list[subprocess.Popen] = []
    killed = threading.Event()

    def fault(method: str, path: str):
        if method in ("PUT", "POST") and "/data/" in path and child and not killed.is_set():
            os.kill(child[0].pid, signal.SIGKILL)
            killed.set()
            return 503, "SlowDown"
        return None

    with FaultProxy(upstream_port, fault) as proxy:
        child.append(
            subprocess.Popen(command(proxy.endpoint), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)
        )
        assert child[0].wait(timeout=300) == -signal.SIGKILL and killed.is_set()
