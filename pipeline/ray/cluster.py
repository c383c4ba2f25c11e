"""Joining a Ray cluster (`--ray auto|ADDRESS`) or starting a private one (`--ray local`)."""

from __future__ import annotations

import logging
import socket
from typing import Any

from pipeline.errors import ArgusError
from pipeline.ray import INSTALL_HINT

log = logging.getLogger("argus")


class RayUnavailable(ArgusError):
    """Ray is not installed, or the cluster cannot be reached: found before the run starts."""

    exit_code = 2


def require_ray() -> Any:
    """The `ray` module, or a one-line ArgusError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def connect(address: str) -> bool:
    """Connect this process to Ray: 'local' starts a private instance, 'auto' or HOST:PORT joins a
    running cluster. Returns True when this call started Ray (the caller shuts it down)."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    if address not in ("local", "auto"):
        _reachable(address)
    try:
        if address == "local":
            ray.init(include_dashboard=False, configure_logging=False, log_to_driver=True)
        else:
            ray.init(address=address, configure_logging=False, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailable(f"--ray {address}: cannot connect to a Ray cluster: {str(exc).splitlines()[0]}") from None
    resources = ray.cluster_resources()
    log.info("ray: %d node(s), %g CPU, %g GPU", len([n for n in ray.nodes() if n.get("Alive")]),
             resources.get("CPU", 0), resources.get("GPU", 0))
    return True


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, with one line, when HOST:PORT does not answer (Ray itself waits minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"--ray {address}: expected auto, local or HOST:PORT (e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RayUnavailable(f"--ray {address}: no Ray cluster answers there: {exc.strerror or exc}") from None
