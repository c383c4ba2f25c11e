"""Live RTSP against a real server: reading, and reconnection while the server is killed and restarted."""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest

from pipeline import Pipeline
from pipeline.config import load_config
from pipeline.errors import SourceOpenError
from pipeline.types import Event, Packet
from stages.sources import make_source
from tests.conftest import VTEST, write_video
from tests.live_servers import RtspServer, free_port, looped_video, require_rtsp_server


class ArrivalStage:
    """Records the wall time each frame reached the pipeline, per source."""

    name = "arrivals"

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = defaultdict(list)

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        now = time.monotonic()
        for packet in batch:
            self.arrivals[packet.frame.source_id].append(now)
        return list(batch)

    def end_source(self, source_id: str) -> list[Event]:
        return []

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def stream_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_rtsp_server()
    folder = tmp_path_factory.mktemp("rtsp")
    base = VTEST if VTEST.is_file() else write_video(folder / "base.mp4", 250, size=(480, 360), fps=10)
    return looped_video(base, folder / "looped.mp4", loops=3)


def test_rtsp_never_answering_is_a_one_line_open_error() -> None:
    port = free_port()  # nothing listens there
    from pipeline.config import SourceConfig

    source = make_source(SourceConfig(id="dead", uri=f"rtsp://user:pw@127.0.0.1:{port}/cam", open_timeout_s=2))
    with pytest.raises(SourceOpenError) as info:
        source.open()
    message = str(info.value)
    assert message.startswith(f"source 'dead': cannot open rtsp://***@127.0.0.1:{port}/cam: ")
    assert "pw" not in message and "\n" not in message


def test_rtsp_reconnects_through_three_server_restarts(stream_video: Path, tmp_path: Path) -> None:
    flaky, healthy = RtspServer(stream_video).start(), RtspServer(stream_video).start()
    config = load_config(None, replace={
        "sources": [{"id": "flaky", "uri": flaky.url, "reconnect_max_s": 1.0, "open_timeout_s": 5},
                    {"id": "healthy", "uri": healthy.url}],
        "sinks": [{"type": "events"}], "output_dir": str(tmp_path), "runner": {"progress": False}})
    stage = ArrivalStage()
    runner = Pipeline(config, stages=[stage])
    thread = threading.Thread(target=runner.run)
    rng = random.Random(7)
    restarts: list[float] = []
    try:
        thread.start()
        start = time.monotonic()
        for _ in range(3):
            time.sleep(3.0)
            flaky.kill()
            time.sleep(rng.uniform(2.0, 5.0))
            flaky.start()
            restarts.append(time.monotonic())
        time.sleep(5.0)
        duration = time.monotonic() - start
    finally:
        runner.stop()
        thread.join(timeout=30)
        flaky.kill()
        healthy.kill()
    assert not thread.is_alive()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    kinds = [(e["type"], e["source"]) for e in events if e["type"].startswith("stream_")]
    assert kinds.count(("stream_lost", "flaky")) == 3 and kinds.count(("stream_recovered", "flaky")) == 3
    assert not any(t in ("stream_lost", "stream_error") for t, s in kinds if s == "healthy")
    gaps = [e["gap_s"] for e in events if e["type"] == "stream_recovered"]
    assert all(1.5 <= g <= 12 for g in gaps), gaps
    flaky_frames = stage.arrivals["flaky"]
    for restarted in restarts:  # frames resume within 5 s of each restart
        assert any(restarted <= t <= restarted + 5.0 for t in flaky_frames), restarted
    healthy_frames = stage.arrivals["healthy"]
    assert len(healthy_frames) >= 0.9 * 10 * duration  # 10 FPS stream, unaffected by the other camera
    assert max(b - a for a, b in itertools.pairwise(healthy_frames)) < 1.5
