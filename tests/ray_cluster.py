"""A two-node Ray cluster on loopback inside a private network namespace (`unshare --net`), for tests.

Ray replaces 127.0.0.1 by the machine's own address unless loopback is the only interface, hence
the namespace; commands run in it through `nsenter`. Head start-up takes 18-23 s, a worker 10-14 s.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.waiting import wait_until

RAY = Path(sys.executable).with_name("ray")


def namespace_problem() -> str | None:
    """Why a loopback-only network namespace cannot be made here, or None."""
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    try:
        done = subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare --net failed: {exc}"
    if done.returncode != 0:
        return f"unshare --net is not permitted here: {done.stderr.decode(errors='replace').strip()}"
    return None


def _raylets() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if cmd.endswith(b"/raylet"):
                found.add(int(entry.name))
    return found


class LoopbackCluster:
    """Head (2 CPUs) + one worker node (2 CPUs, resource `worker_node`) in a fresh network namespace."""

    def __init__(self, cpus: int = 2) -> None:
        self.cpus = cpus
        self.holder: subprocess.Popen | None = None
        self.worker_raylet: int | None = None
        self.env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}

    def prefix(self) -> list[str]:
        assert self.holder is not None
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net"]

    def run(self, *args: str, timeout: float = 90.0) -> subprocess.CompletedProcess:
        return subprocess.run([*self.prefix(), *args], capture_output=True, text=True, timeout=timeout, env=self.env)

    def start(self) -> LoopbackCluster:
        self.holder = subprocess.Popen(["unshare", "--net", "sh", "-c", "ip link set lo up && exec sleep 3600"])
        comm = Path(f"/proc/{self.holder.pid}/comm")
        wait_until(lambda: comm.read_text().strip() == "sleep", what="the namespace's loopback to come up")
        before = _raylets()
        head = self.run(str(RAY), "start", "--head", "--num-cpus", str(self.cpus), "--port", "6379",
                        "--include-dashboard=false", "--disable-usage-stats", "--object-store-memory=100000000")
        if head.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray head did not start: {head.stderr[-2000:]}")
        with_head = _raylets()
        worker = self.run(str(RAY), "start", "--address=127.0.0.1:6379", "--num-cpus", str(self.cpus),
                          '--resources={"worker_node": 1}', "--disable-usage-stats",
                          "--object-store-memory=100000000")
        if worker.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray worker did not start: {worker.stderr[-2000:]}")
        new = _raylets() - with_head
        self.worker_raylet = next(iter(new), None)
        assert before.isdisjoint(new)
        return self

    def kill_worker_node(self) -> None:
        """The worker node dies: its raylet is killed (its actors' processes go with it)."""
        if self.worker_raylet is not None:
            os.kill(self.worker_raylet, signal.SIGKILL)

    def stop(self) -> None:
        if self.holder is None:
            return
        try:
            self.run(str(RAY), "stop", "--force", timeout=60)
        finally:
            self.holder.kill()
            self.holder.wait()
            self.holder = None
