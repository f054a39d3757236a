"""Run one command and measure it: wall time, CPU time, peak RSS of its whole
process tree, and (optionally) the CPU time another process (the database server)
spent meanwhile. Every command runs under a timeout; on expiry its process group
is killed and the measurement is marked as timed out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    label: str
    command: list[str]
    wall_s: float = 0.0
    # user + system of the command and its waited-for descendants (wait4), or the sum
    # sampled over its process group when larger: the job server the SparkRunner starts
    # is killed, not waited for, so wait4 misses its CPU (35–40 s of a 10k Spark run)
    cpu_s: float = 0.0
    wait4_cpu_s: float = 0.0
    peak_rss_mb: float = 0.0  # largest sum of RSS over the command's process group, sampled
    server_cpu_s: float | None = None
    returncode: int | None = None
    timed_out: bool = False
    output: dict = field(default_factory=dict)  # the command's last stdout line, when JSON
    stderr_tail: str = ""
    load_before: float = 0.0  # 1-minute load average when it started
    load_after: float = 0.0  # and when it ended
    # CPU seconds of the group's processes by role, as last sampled (a process's last 0.1 s
    # is missed), and how many processes of each role were seen: where the CPU went.
    group_cpu_s: dict = field(default_factory=dict)
    group_processes: dict = field(default_factory=dict)

    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def to_dict(self) -> dict:
        return asdict(self)


def _role(pid: str) -> str:
    """What a process of the measured group is, for the CPU breakdown: `java` (a job
    server), `sdk worker` (pipeline.worker_pool's workers), or `python -m MODULE`."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().decode(errors="replace").split("\0")
    except OSError:
        return "?"
    if "--sdk_worker" in argv:
        return "sdk worker"
    if os.path.basename(argv[0]) == "java":
        return "java"
    if "-m" in argv[:-1]:
        return f"python -m {argv[argv.index('-m') + 1]}"
    return os.path.basename(argv[0])


def _group_sample(pgid: int, roles: dict[int, str], cpu: dict[int, float]) -> int:
    """Sum of RSS (bytes) of the processes in process group `pgid`; records each one's
    own CPU seconds (user + system, children excluded) in `cpu` and its role in `roles`."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
            fields = stat[stat.rindex(b")") + 2 :].split()
            if int(fields[2]) != pgid:  # field 5: pgrp
                continue
            pid = int(name)
            cpu[pid] = (int(fields[11]) + int(fields[12])) / TICK  # fields 14, 15: utime, stime
            if pid not in roles:
                roles[pid] = _role(name)
            with open(f"/proc/{name}/statm", "rb") as handle:
                total += int(handle.read().split()[1]) * PAGE
        except (OSError, ValueError):
            continue
    return total


def process_cpu(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def run(
    label: str, command: list[str], timeout: float, env: dict | None = None, server_pid: int | None = None
) -> Result:
    result = Result(label, command, load_before=os.getloadavg()[0])
    server_cpu0 = process_cpu(server_pid)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # its own process group: measured and killed as one
    )
    peak = 0
    roles: dict[int, str] = {}
    cpu: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _group_sample(proc.pid, roles, cpu))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()), daemon=True),
        threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True),
    ]
    for r in readers:
        r.start()
    deadline = t0 + timeout
    status = rusage = None
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            result.timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status, rusage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    result.wall_s = time.monotonic() - t0
    result.load_after = os.getloadavg()[0]
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:  # workers left behind in the group (none when the command cleans up)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    done.set()
    sampler.join()
    for r in readers:
        r.join(timeout=5)
    result.returncode = proc.returncode
    result.wait4_cpu_s = rusage.ru_utime + rusage.ru_stime if rusage else 0.0
    result.peak_rss_mb = peak / 2**20
    for pid, seconds in cpu.items():
        role = roles.get(pid, "?")
        result.group_cpu_s[role] = round(result.group_cpu_s.get(role, 0.0) + seconds, 2)
        result.group_processes[role] = result.group_processes.get(role, 0) + 1
    result.cpu_s = max(result.wait4_cpu_s, sum(cpu.values()))
    if server_cpu0 is not None:
        now = process_cpu(server_pid)
        result.server_cpu_s = None if now is None else now - server_cpu0
    out = b"".join(out_chunks).decode(errors="replace").strip().splitlines()
    if out:
        try:
            result.output = json.loads(out[-1])
        except ValueError:
            pass
    result.stderr_tail = b"".join(err_chunks).decode(errors="replace")[-1500:]
    return result
