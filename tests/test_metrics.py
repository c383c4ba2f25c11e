"""The Prometheus endpoint serves per-stage latency, frames, queue depth and drops during a run."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from pipeline import EXIT_OK, Pipeline
from pipeline.config import load_config
from pipeline.types import Packet
from tests.conftest import write_video
from tests.live_servers import free_port
from tests.test_runner import RecordingStage
from tests.waiting import wait_event, wait_until


class GatedStage(RecordingStage):
    """Holds its second batch until `opened` is set: the run is still going while the test scrapes."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = threading.Event()

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        if self.batches:
            wait_event(self.opened, what="the test to scrape /metrics")
        return super().process(batch)


def test_metrics_endpoint_during_run(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 120)
    port = free_port()
    config = load_config(None, replace={
        "sources": [{"id": "cam1", "uri": str(video)}], "sinks": [], "output_dir": str(tmp_path),
        "metrics": {"port": port, "host": "127.0.0.1"}, "runner": {"progress": False}})
    stage = GatedStage()
    runner = Pipeline(config, stages=[stage])
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(runner.run()))
    thread.start()
    wait_until(lambda: runner.run_stats.frames > 0, what="the first batch")
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    finally:
        stage.opened.set()
    thread.join(timeout=60)
    assert result == [EXIT_OK]
    assert 'argus_stage_latency_seconds_count{stage="record"}' in text
    frames = next(line for line in text.splitlines() if line.startswith('argus_frames_total{source="cam1"}'))
    assert 0 < float(frames.split()[-1]) <= 120
    assert 'argus_queue_depth{source="cam1"}' in text and 'argus_dropped_frames_total{source="cam1"} 0.0' in text
    assert "argus_fps " in text
    try:  # the endpoint closes with the run
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
        raise AssertionError("metrics endpoint still up after the run")
    except OSError:
        pass


def test_metrics_port_in_use_is_a_config_error(tmp_path: Path) -> None:
    import socket

    import pytest

    from pipeline.errors import ConfigError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = load_config(None, replace={
            "sources": [{"id": "c", "uri": str(write_video(tmp_path / "v.mp4", 5))}], "sinks": [],
            "metrics": {"port": port, "host": "127.0.0.1"}})
        with pytest.raises(ConfigError, match=f"metrics.port: cannot listen on 127.0.0.1:{port}"):
            Pipeline(config, stages=[])
