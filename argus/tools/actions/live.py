"""Fall events as a live pipeline raises them: every track of a clip through the real `action` stage.

Two ways: `evaluate_all_tracks` replays the rows the extraction cached (the action tools' finder) through
an `ActionStage`; `evaluate_pipeline` runs a whole pipeline config (any finder: the default detector
with top-down pose, say) on each clip and reads its `action_started` events.

`actions eval` scores one person per clip (the main person), which hides what a camera's other tracks
do: a bystander, a short-lived track of a person on the floor, a track that breaks during the fall
and starts again. Here every tracked row the extraction cached (the documented finder's pose and
tracker output, carried rows left out as the stage leaves them out) goes frame by frame through an
`ActionStage`, and every `falling` start of any track counts: a labelled fall is caught when some
track's start matches it (`evaluate.fall_events`' rule), every other fall start is a false alarm.
The clips' main persons and frame labels are not used, so no per-frame macro-F1 here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from argus.tools.actions.dataset import ClipData
from argus.tools.actions.evaluate import ClipResult, fall_events, source_of
from argus.tools.actions.extract import Sequence, TrackedClip, extract, lazy_pose
from argus.tools.actions.labels import Clip
from pipeline.types import Detections, Frame, Packet
from stages.actions.hysteresis import Transition
from stages.actions.stage import ActionConfig, ActionStage


def clip_fall_starts(tracked: TrackedClip, stage: ActionStage, source_id: str) -> list[tuple[float, Transition]]:
    """(pts of the frame it was emitted on, transition) of every `falling` start of every track."""
    image = np.zeros((*tracked.size, 3), np.uint8)
    image.flags.writeable = False
    out: list[tuple[float, Transition]] = []
    for f, pts in enumerate(tracked.pts):
        rows = np.flatnonzero(tracked.frame == f)
        det = Detections(xyxy=tracked.xyxy[rows].astype(np.float32), score=np.ones(len(rows), np.float32),
                         class_id=np.zeros(len(rows), np.int32), track_id=tracked.track_id[rows].astype(np.int64),
                         keypoints=tracked.keypoints[rows].astype(np.float32))
        out += _fall_starts_of(stage.process([Packet(Frame(source_id, int(tracked.index[f]), float(pts), image), det)]))
    stage.end_source(source_id)
    return out


def _frames_only(pts: np.ndarray) -> Sequence:
    """A clip's frame times with nobody in them: what the fall scoring reads of a clip besides its labels."""
    return Sequence(pts, np.zeros((len(pts), 17, 3), np.float32), np.full((len(pts), 4), np.nan))


def _fall_starts_of(packets) -> list[tuple[float, Transition]]:
    out = []
    for packet in packets:
        for event in packet.events:
            if event.type == "action_started" and event.payload.get("label") == "falling":
                p = event.payload
                out.append((float(event.pts_s), Transition("started", "falling", float(p["confidence"]),
                                                           float(p["start_pts_s"]), event.frame_index or 0)))
    return out


def evaluate_pipeline(clips: list[Clip], config: dict, progress: Callable[[str], None] | None = None) -> dict:
    """Fall figures of pipeline `config` (a config mapping with an `action` stage; its sources and
    sinks are replaced: each clip is the only source, nothing is written) over every track of every clip."""
    import tempfile

    from pipeline import Pipeline
    from pipeline.errors import ArgusError, ConfigError

    if not any(isinstance(st, dict) and st.get("type") == "action" for st in config.get("stages") or []):
        raise ConfigError(["the pipeline config has no `action` stage to score"])
    results: list[ClipResult] = []
    with tempfile.TemporaryDirectory(prefix="argus-falls-") as out_dir:
        for clip in clips:
            if progress:
                progress(clip.name)
            run = {**config, "sources": [{"id": "clip", "uri": str(clip.path)}], "sinks": [],
                   "output_dir": out_dir, "runner": {**(config.get("runner") or {}), "progress": False}}
            pipe = Pipeline.from_config(run)
            pts: list[float] = []
            starts: list[tuple[float, Transition]] = []
            for packet in pipe.packets():
                pts.append(packet.frame.pts_s)
                starts += _fall_starts_of([packet])
            if pipe.exit_code() or not pts:
                raise ArgusError(f"{clip.path}: the pipeline read no frames or failed (exit code {pipe.exit_code()})")
            results.append(ClipResult(ClipData(clip, _frames_only(np.asarray(pts))), [], starts))
    return _summary(results, f"pipeline ({', '.join(st.get('type', '?') for st in config['stages'])})", None)


def _summary(results: list[ClipResult], model: str, tracks: int | None) -> dict:
    by_source: dict[str, list[ClipResult]] = {}
    for r in results:
        by_source.setdefault(source_of(r.data.clip.name), []).append(r)
    per_source = {}
    for name, group in sorted(by_source.items()):
        g = fall_events(group)
        per_source[name] = {k: g[k] for k in ("labelled", "caught", "false_alarms", "non_fall_s")}
    return {"model": model, "scope": "every track (a live action stage)", "clips": len(results),
            "tracks": tracks, "falls": fall_events(results), "per_source": per_source}


def evaluate_all_tracks(clips: list[Clip], config: ActionConfig,
                        progress: Callable[[str], None] | None = None) -> dict:
    """Fall figures of `config`'s action stage over every track of every clip (see the module doc),
    with the same figures per source."""
    stage = ActionStage(config)
    results: list[ClipResult] = []
    tracks = 0
    try:
        with lazy_pose() as pose:
            for clip in clips:
                if progress:
                    progress(clip.name)
                tracked = extract(clip.path, pose)
                tracks += len(np.unique(tracked.track_id))
                results.append(ClipResult(ClipData(clip, _frames_only(tracked.pts)), [],
                                          clip_fall_starts(tracked, stage, clip.name)))
    finally:
        stage.close()
    return _summary(results, config.model, tracks)
