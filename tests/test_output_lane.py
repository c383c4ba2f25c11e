"""The output lane: sinks run on their own thread, overlapping the stages, in the worker's order;
commands (hot reload) and shutdown find the sinks idle; `runner.pipelined: false` keeps one thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from pipeline import Pipeline
from pipeline.output_lane import OutputLane
from pipeline.sink_set import SinkSlot
from pipeline.types import Event, Packet
from tests.conftest import write_video
from tests.test_pipeline_api import SlowStage


class RecordingSink:
    """Records every call with the thread it ran on; writes take `delay_s`."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls: list[tuple[str, str, object]] = []

    def start_source(self, start: object) -> None:
        self.calls.append(("start", threading.current_thread().name, getattr(start, "source_id", None)))

    def write(self, packet: Packet) -> None:
        time.sleep(self.delay_s)
        self.calls.append(("write", threading.current_thread().name, (packet.frame.source_id, packet.frame.index)))

    def write_events(self, events: Sequence[Event]) -> None:
        for event in events:
            self.calls.append(("event", threading.current_thread().name, (event.source_id, event.type.value)))

    def end_source(self, source_id: str) -> None:
        self.calls.append(("end", threading.current_thread().name, source_id))

    def close(self) -> None:
        self.calls.append(("close", threading.current_thread().name, None))


class ThreadStage(SlowStage):
    """SlowStage that notes the thread it runs on."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(delay_s)
        self.threads: set[str] = set()

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        self.threads.add(threading.current_thread().name)
        return super().process(batch)


def _run(tmp_path, pipelined: bool, frames: int = 30) -> tuple[RecordingSink, ThreadStage]:
    video = write_video(tmp_path / "v.mp4", frames)
    stage = ThreadStage(0.005)
    pipeline = Pipeline.from_config({"sources": [{"id": "a", "uri": str(video)}, {"id": "b", "uri": str(video)}],
                                     "sinks": [], "output_dir": str(tmp_path / "out"),
                                     "runner": {"progress": False, "pipelined": pipelined}}, stages=[stage])
    sink = RecordingSink(0.002)
    pipeline.worker.sinks.slots.append(SinkSlot("recording", sink, "recording"))
    assert pipeline.run() == 0
    return sink, stage


@pytest.mark.parametrize("pipelined", [True, False])
def test_sinks_see_every_frame_in_order_between_start_and_end(tmp_path, pipelined: bool) -> None:
    sink, stage = _run(tmp_path, pipelined)
    sink_threads = {thread for kind, thread, _ in sink.calls if kind == "write"}
    assert (sink_threads == {"argus-output"}) is pipelined
    assert not sink_threads & stage.threads if pipelined else sink_threads == stage.threads
    for source in ("a", "b"):
        mine = [(kind, what) for kind, _, what in sink.calls
                if what == source or (isinstance(what, tuple) and what[0] == source)]
        kinds = [kind for kind, _ in mine]
        assert kinds[0] == "start" and kinds[-1] == "end"
        assert [what[1] for kind, what in mine if kind == "write"] == list(range(30))
        types = [what[1] for kind, what in mine if kind == "event"]
        assert types[0] == "stream_opened" and types[-1] == "stream_ended"
        first_write = kinds.index("write")
        ended = max(i for i, (kind, what) in enumerate(mine) if kind == "event" and what[1] == "stream_ended")
        assert first_write < ended < kinds.index("end")  # the end event follows every frame
    assert sink.calls[-1][0] == "close"


def test_lane_runs_in_order_and_hold_drains_then_runs_inline() -> None:
    lane = OutputLane(depth=2)
    lane.start()
    seen: list[tuple[int, str]] = []
    for i in range(20):
        lane.submit(lambda i=i: (time.sleep(0.001), seen.append((i, threading.current_thread().name))))
    with lane.hold():
        assert [i for i, _ in seen] == list(range(20))  # drained before the block
        lane.submit(lambda: seen.append((99, threading.current_thread().name)))
        assert seen[-1] == (99, threading.current_thread().name)  # inline while held
    lane.submit(lambda: 1 / 0)
    lane.stop()
    assert isinstance(lane.error, ZeroDivisionError)
    lane.submit(lambda: seen.append((100, threading.current_thread().name)))  # after stop: inline
    assert seen[-1] == (100, threading.current_thread().name)
    assert {name for i, name in seen if i < 20} == {"argus-output"}
