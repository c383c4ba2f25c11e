"""The Python API over Ray (`RayPipeline`, what `serve --ray` drives): new sources go to the
least-loaded actor (a new actor when all are full; GPU actors fall back to CPUs where the cluster has
no GPU left), `stats()` names actor and node per stream,
remove_source ends a stream in order, events arrive once each."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.errors import ArgusError
from tests.waiting import wait_until

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="ray is not installed (pip install 'argus-pipeline[ray]')")

CONFIG = """
sources: [{{id: a, uri: '{video}', loop: true}}]
stages:
  - {{type: pose, model: yolo11n-pose, imgsz: 320, threads: 1, backend: onnxruntime}}
  - {{type: track}}
sinks: [{{type: mot}}, {{type: events}}]
output_dir: {out}
runner: {{progress: false, ray: {{streams_per_actor: 2, num_cpus_per_actor: 0.5, num_gpus_per_actor: 1}}}}
"""


def test_add_remove_and_placement(vtest: Path, tmp_path: Path) -> None:
    from pipeline.ray.driver import RayPipeline

    config = load_config(text=CONFIG.format(video=vtest, out=tmp_path / "out"))
    pipeline = RayPipeline(config, "local", keep_alive=True)
    events = pipeline.subscribe_events(maxlen=100_000)
    pipeline.start()
    try:
        pipeline.add_source({"id": "b", "uri": str(vtest), "loop": True})  # actor 0 has room
        pipeline.add_source({"id": "c", "uri": str(vtest), "max_frames": 15})  # full: a new actor
        stats = pipeline.stats()
        assert stats["sources"]["a"]["actor_index"] == stats["sources"]["b"]["actor_index"] == 0
        assert stats["sources"]["c"]["actor_index"] == 1
        assert all(s["node"] and s["actor"] for s in stats["sources"].values())
        wait_until(lambda: pipeline.stats()["sources"]["c"]["state"] == "ended", 120, what="c to end")
        assert pipeline.stats()["sources"]["c"]["frames"] == 15
        pipeline.add_source({"id": "d", "uri": str(vtest), "loop": True})  # least loaded: actor 1 (c ended)
        assert pipeline.stats()["sources"]["d"]["actor_index"] == 1
        wait_until(lambda: all(s["frames"] > 5 for s in pipeline.stats()["sources"].values()), 120,
                   what="every source past frame 5")
        with pytest.raises(ArgusError, match="cannot open"):
            pipeline.add_source({"id": "bad", "uri": str(tmp_path / "missing.mp4")})
        assert "bad" not in pipeline.stats()["sources"] and len(pipeline.config.sources) == 4
        pipeline.remove_source("b")
        assert pipeline.stats()["sources"]["b"]["state"] == "removed"
    finally:
        pipeline.stop()
        assert pipeline.wait(120) == 0
    seen = list(events)
    assert not [i for i, n in Counter(e.id for e in seen).items() if n > 1]
    kinds = [(e.type.value, e.source_id) for e in seen]
    assert kinds.index(("stream_ended", "b")) < kinds.index(("source_removed", "b"))
    assert ("source_added", "c") in kinds and ("stream_ended", "c") in kinds
    assert (tmp_path / "out" / "d.txt").exists()
