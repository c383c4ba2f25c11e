"""Live RTSP against a real server: reading, and reconnection while the server is killed and restarted."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest

from pipeline import Pipeline
from pipeline.config import load_config
from pipeline.errors import SourceOpenError
from pipeline.types import Event, Packet
from stages.sources import make_source
from stages.sources.rtsp import RtspSourceConfig
from tests.conftest import VTEST, write_video
from tests.live_servers import RtspServer, free_port, looped_video, require_rtsp_server
from tests.waiting import wait_until


class ArrivalStage:
    """Records the index of each frame that reached the pipeline, per source."""

    name = "arrivals"

    def __init__(self) -> None:
        self.arrivals: dict[str, list[int]] = defaultdict(list)

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        for packet in batch:
            self.arrivals[packet.frame.source_id].append(packet.frame.index)
        return list(batch)

    def count(self, source_id: str) -> int:
        return len(self.arrivals[source_id])

    def end_source(self, source_id: str) -> list[Event]:
        return []

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def stream_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_rtsp_server()
    folder = tmp_path_factory.mktemp("rtsp")
    base = VTEST if VTEST.is_file() else write_video(folder / "base.mp4", 250, size=(480, 360), fps=10)
    return looped_video(base, folder / "looped.mp4", loops=8)  # minutes: longer than a slow run


def test_rtsp_never_answering_is_a_one_line_open_error() -> None:
    port = free_port()  # nothing listens there
    source = make_source(RtspSourceConfig(id="dead", uri=f"rtsp://user:pw@127.0.0.1:{port}/cam", open_timeout_s=2))
    with pytest.raises(SourceOpenError) as info:
        source.open()
    message = str(info.value)
    assert message.startswith(f"source 'dead': cannot open rtsp://***@127.0.0.1:{port}/cam: ")
    assert "pw" not in message and "\n" not in message


def test_rtsp_reconnects_through_three_server_restarts(stream_video: Path, tmp_path: Path) -> None:
    """Each kill is a stream_lost and each restart a stream_recovered with frames after it; the other
    camera never notices: every one of its frames arrives, in order, through all three outages.
    Every step waits for what it needs to see (no sleeps, no frame-rate bound)."""
    flaky, healthy = RtspServer(stream_video).start(), RtspServer(stream_video).start()
    config = load_config(None, replace={
        "sources": [{"id": "flaky", "uri": flaky.url, "reconnect_max_s": 1.0, "open_timeout_s": 5},
                    {"id": "healthy", "uri": healthy.url, "queue_size": 1024}],  # never drops, however slow
        "sinks": [{"type": "events"}], "output_dir": str(tmp_path), "runner": {"progress": False}})
    stage = ArrivalStage()
    runner = Pipeline(config, stages=[stage])
    seen: list[tuple[str, str]] = []
    subscription = runner.subscribe_events(maxlen=100_000)

    def listen() -> None:
        for event in subscription:
            seen.append((event.type, event.source_id))

    listener = threading.Thread(target=listen, daemon=True)
    thread = threading.Thread(target=runner.run)

    def frames_beyond(source_id: str, count: int, what: str) -> None:
        wait_until(lambda: stage.count(source_id) > count, what=what)

    def flaky_event(kind: str, count: int) -> None:
        wait_until(lambda: seen.count((kind, "flaky")) >= count, what=f"{kind} number {count}")

    try:
        listener.start()
        thread.start()
        for outage in range(1, 4):
            frames_beyond("flaky", stage.count("flaky") + 9, "10 flaky frames before the kill")
            flaky.kill()
            healthy_at_kill = stage.count("healthy")
            flaky_event("stream_lost", outage)
            flaky.start()
            flaky_event("stream_recovered", outage)
            frames_beyond("flaky", stage.count("flaky"), f"flaky frames after restart {outage}")
            frames_beyond("healthy", healthy_at_kill, f"healthy frames through outage {outage}")
    finally:
        runner.stop()
        thread.join(timeout=60)
        flaky.kill()
        healthy.kill()
    assert not thread.is_alive()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    kinds = [(e["type"], e["source"]) for e in events if e["type"].startswith("stream_")]
    flaky_changes = [t for t, s in kinds if s == "flaky" and t in ("stream_lost", "stream_recovered")]
    assert flaky_changes == ["stream_lost", "stream_recovered"] * 3
    assert not any(t in ("stream_lost", "stream_error") for t, s in kinds if s == "healthy")
    gaps = [e["gap_s"] for e in events if e["type"] == "stream_recovered"]
    assert len(gaps) == 3 and all(g > 0 for g in gaps), gaps
    healthy_frames = stage.arrivals["healthy"]
    assert healthy_frames == list(range(len(healthy_frames)))  # not one frame lost, never restarted
