"""`python run.py serve` as a process: the printed URL, the token off loopback, an invalid CONFIG, and
SIGTERM with open event and preview streams (quick exit, outputs intact). No model stage: fast.

"Quick" is checked without timing it: serve runs with a grace period far longer than the generous
wait for its exit, so only streams the server ends itself let it exit in time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from tests.conftest import write_video  # noqa: E402
from tests.live_servers import free_port  # noqa: E402
from tests.waiting import wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GRACE = ("--grace", "3600")  # open connections would hold the exit for an hour
EXIT_WAIT_S = 60.0



def _config(tmp_path: Path) -> str:
    video = write_video(tmp_path / "a.mp4", 30)
    return (f'sources:\n  - {{id: a, uri: "{video}", loop: true, realtime: true}}\nstages: []\n'
            f'sinks:\n  - {{type: events}}\n  - {{type: detections}}\noutput_dir: "{tmp_path / "out"}"\n'
            "runner: {progress: false}\n")


def _serve(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "serve", str(config), "--port", str(port),
                                *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env if env is not None else dict(os.environ))
    assert process.stdout is not None
    first = ""
    deadline = time.monotonic() + 60
    while "Argus serve:" not in first:
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail(f"serve did not start: {first}{process.communicate(timeout=10)[0]}")
        first = process.stdout.readline()
    return process, port, first


def _stop(process: subprocess.Popen) -> tuple[int, str]:
    """SIGTERM, then the exit code and output (TimeoutExpired: it did not exit in EXIT_WAIT_S)."""
    process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=EXIT_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate(timeout=10)
        pytest.fail(f"serve did not exit {EXIT_WAIT_S:g} s after SIGTERM:\n{out}")
    return process.returncode, out


def test_invalid_config_serves_stopped_then_sigterm_is_quick(tmp_path: Path) -> None:
    config = tmp_path / "p.yaml"
    config.write_text(_config(tmp_path).replace("stages: []", "stages:\n  - {type: pose, scor_min: 0.3}"))
    process, port, first = _serve(config, *GRACE)
    try:
        assert f"http://localhost:{port}/" in first and "stopped: the config is invalid" in first
        got = httpx.get(f"http://127.0.0.1:{port}/api/config", timeout=10).json()
        assert got["version"] == 0 and got["errors"][0]["key"] == "stages.0.scor_min"
        assert got["errors"][0]["line"] == 4
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
    finally:
        code, out = _stop(process)
    assert code == 0, out


def test_sigterm_with_open_streams_keeps_outputs_intact(tmp_path: Path) -> None:
    config = tmp_path / "p.yaml"
    config.write_text(_config(tmp_path))
    process, port, _ = _serve(config, *GRACE)
    url = f"http://127.0.0.1:{port}"
    opened: list[str] = []

    def hold(path: str) -> None:
        try:
            with httpx.stream("GET", url + path, timeout=60) as response:
                for _chunk in response.iter_bytes():
                    if path not in opened:
                        opened.append(path)
        except httpx.HTTPError:
            pass

    threads = [threading.Thread(target=hold, args=(p,), daemon=True)
               for p in ("/api/events", "/api/sources/a/preview.mjpg")]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(opened) == 2, what="both streams to open")
    except BaseException:
        process.kill()
        process.wait(10)
        raise
    code, out = _stop(process)  # streams still open: the server ends them (the grace period is an hour)
    assert code == 0, out
    wait_until(lambda: not any(t.is_alive() for t in threads), what="both clients to see their streams end")
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert events[-1]["type"] == "stream_ended" and events[-1]["source"] == "a"
    frames = [json.loads(line) for line in (tmp_path / "out" / "detections.jsonl").read_text().splitlines()]
    assert len(frames) > 3


def test_token_printed_and_required_off_loopback(tmp_path: Path) -> None:
    config = tmp_path / "p.yaml"
    config.write_text(_config(tmp_path))
    env = {k: v for k, v in os.environ.items() if k != "ARGUS_TOKEN"}
    process, port, first = _serve(config, "--host", "0.0.0.0", env=env)
    try:
        token = first.split("?token=", 1)[1].split()[0]
        assert len(token) >= 20
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(url + "/api/stats", timeout=10).status_code == 401
        assert httpx.get(url + "/", timeout=10).status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(url + "/api/stats", headers=bearer, timeout=10).status_code == 200
        assert httpx.get(f"{url}/?token={token}", timeout=10).status_code == 200
    finally:
        code, out = _stop(process)
    assert code == 0, out
