"""A run's lease: `_lease.json` in its run folder says the run is alive.

A thread rewrites it every REFRESH_S seconds while the run runs. Another run's
cleanup (pipeline/publish.py) removes a run folder only when its lease is stale:
its heartbeat is older than TIMEOUT_S, or it was written on this machine by a
process that is gone (killed, crashed). So two runs of one window never delete
each other's files, and what a killed run leaves is removed by the next run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline.paths import is_remote, join

LEASE = "_lease.json"
REFRESH_S = 30.0
TIMEOUT_S = 600.0  # 20 missed heartbeats: a live run is never that late

log = logging.getLogger("session_features")
_HELD: set[str] = set()  # run ids whose leases this process holds now (a process may run several runs)


def _read_first(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def machine_id() -> str:
    """Host, boot and PID namespace: where two leases with this id can compare PIDs."""
    try:
        pid_ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pid_ns = ""
    return f"{socket.gethostname()}|{_read_first('/proc/sys/kernel/random/boot_id')}|{pid_ns}"


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    stat = _read_first(f"/proc/{pid}/stat")
    return not (stat and stat.rsplit(")", 1)[-1].split()[:1] == ["Z"])  # a zombie is dead


def is_live(lease: dict[str, Any], now: float) -> bool:
    """Whether the run that wrote `lease` may still use its folder."""
    if now - float(lease.get("heartbeat_epoch", 0)) > TIMEOUT_S:
        return False
    if lease.get("machine") != machine_id():
        return True
    if int(lease.get("pid", 0)) == os.getpid():
        return lease.get("run_id") in _HELD
    return process_alive(int(lease.get("pid", 0)))


def _write(path: str, body: bytes) -> None:
    if is_remote(path):
        with FileSystems.create(path) as handle:  # one PUT: never half written
            handle.write(body)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(body)
    os.replace(tmp, path)


class Lease:
    """`with Lease(run_dir, run_id):` keeps the lease fresh until the block ends."""

    def __init__(self, run_dir: str, run_id: str):
        self.path = join(run_dir, LEASE)
        self.run_id = run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{run_id}", daemon=True)

    def body(self) -> bytes:
        now = dt.datetime.now(dt.UTC)
        return json.dumps(
            {
                "run_id": self.run_id,
                "heartbeat_at": now.isoformat().replace("+00:00", "Z"),
                "heartbeat_epoch": now.timestamp(),
                "timeout_s": TIMEOUT_S,
                "machine": machine_id(),
                "pid": os.getpid(),
            }
        ).encode()

    def renew(self) -> None:
        _write(self.path, self.body())

    def _beat(self) -> None:
        while not self._stop.wait(REFRESH_S):
            try:
                self.renew()
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried; TIMEOUT_S allows many
                log.warning("could not renew the run's lease %s: %s", self.path, exc)

    def __enter__(self) -> Lease:
        _HELD.add(self.run_id)
        self.renew()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        _HELD.discard(self.run_id)
