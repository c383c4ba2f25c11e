"""MOTChallenge evaluation of Argus trackers (and optionally a Roboflow peer) with TrackEval.

`eval_mot` tracks every sequence's public detections, writes MOTChallenge result files and
scores them with TrackEval's MotChallenge2DBox (MOT15 benchmark preprocessing: gt rows flagged 0
are dropped; IoU 0.5): HOTA, DetA, AssA, MOTA, IDF1, IDSW per sequence and combined.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from argus.tools.tracking.mot import MotSequence, list_sequences, load_sequence, read_mot_rows, write_results
from argus.tools.tracking.peers import PEERS, PeerTracker
from pipeline.detection_sets import tag
from pipeline.types import Detections, Frame, Packet
from stages.detect import carry_set
from stages.track import TrackConfig, TrackStage
from stages.tracking import make_tracker

METRICS = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW")
LOST_SECONDS = 1.0  # how long a lost track is kept, converted to frames with each sequence's rate
SET = "objects"  # the detection set the track stage reads with every_frames > 1
_PIXEL = np.zeros((1, 1, 3), np.uint8)  # frames carry no pixels here


def tracker_for(name: str, frame_rate: float) -> Any:
    """A fresh tracker for one sequence: an Argus table name or a peer name (`bytetrack-rf`, ...)."""
    if name in PEERS:
        return PeerTracker(name, frame_rate)
    return make_tracker(name, lost_frames=max(1, round(LOST_SECONDS * frame_rate)), frame_rate=frame_rate)


def run_sequence(seq: MotSequence, name: str, every_frames: int = 1) -> list[tuple[int, Detections]]:
    """Track one sequence frame by frame; returns (1-based frame, tracked Detections) pairs.

    every_frames > 1: the track stage sees the detections of every N-th frame only, as after a detect stage
    with `every_frames: N`; the frames between carry the last boxes, moved by their tracks (Argus trackers
    only: a peer cannot move them)."""
    if every_frames < 1:
        raise ValueError(f"every_frames must be 1 or more, got {every_frames}")
    if every_frames == 1:
        tracker = tracker_for(name, seq.frame_rate)
        return [(f + 1, tracker.update(det, f, 1.0)) for f, det in enumerate(seq.detections)]
    if name in PEERS:
        raise ValueError(f"every_frames needs an Argus tracker (sort, bytetrack, argus), not the peer {name}")
    stage = TrackStage(TrackConfig(tracker=name, lost_frames=max(1, round(LOST_SECONDS * seq.frame_rate)),
                                   frame_rate=seq.frame_rate, input=SET, appearance=False))
    out: list[tuple[int, Detections]] = []
    last = Detections.empty()
    for f, det in enumerate(seq.detections):
        packet = Packet(Frame(seq.name, f, f / seq.frame_rate, _PIXEL))
        if f % every_frames == 0:
            last = det.with_columns(carried=np.zeros(len(det), bool))
            packet.detections = tag(last, SET)
        else:
            carry_set(packet, SET, last)
        stage.process([packet])
        out.append((f + 1, packet.detections))
    return out


def _trackeval() -> Any:
    # trackeval 1.3 still uses the aliases numpy 1.24 removed
    for alias, value in (("float", float), ("int", int), ("bool", bool)):
        if not hasattr(np, alias):
            setattr(np, alias, value)
    import trackeval

    return trackeval


def score(gt_root: Path, results_root: Path, names: list[str], seq_lengths: dict[str, int]) -> dict:
    """TrackEval scores: {name: {seq | "COMBINED": {metric: value}}} (percent, 2 decimals).

    Args:
        gt_root: folder with `<SEQ>/gt/gt.txt` (LF line endings) for every sequence scored.
        results_root: folder with `<name>/<SEQ>.txt` results.
    """
    te = _trackeval()
    eval_cfg = te.Evaluator.get_default_eval_config()
    eval_cfg.update(PRINT_RESULTS=False, PRINT_CONFIG=False, TIME_PROGRESS=False, OUTPUT_SUMMARY=False,
                    OUTPUT_DETAILED=False, PLOT_CURVES=False, DISPLAY_LESS_PROGRESS=True,
                    LOG_ON_ERROR=None)
    with tempfile.TemporaryDirectory() as out:
        ds_cfg = te.datasets.MotChallenge2DBox.get_default_dataset_config()
        ds_cfg.update(GT_FOLDER=str(gt_root), TRACKERS_FOLDER=str(results_root), OUTPUT_FOLDER=out,
                      TRACKERS_TO_EVAL=names, BENCHMARK="MOT15", SPLIT_TO_EVAL="train",
                      SEQ_INFO=dict(seq_lengths), SKIP_SPLIT_FOL=True, TRACKER_SUB_FOLDER="",
                      PRINT_CONFIG=False, DO_PREPROC=True)
        metrics = [te.metrics.HOTA(), te.metrics.CLEAR({"PRINT_CONFIG": False, "THRESHOLD": 0.5}),
                   te.metrics.Identity({"PRINT_CONFIG": False, "THRESHOLD": 0.5})]
        stdout = sys.stdout
        try:
            sys.stdout = open(Path(out) / "trackeval.log", "w")  # noqa: SIM115 (TrackEval prints a lot)
            res, msg = te.Evaluator(eval_cfg).evaluate([te.datasets.MotChallenge2DBox(ds_cfg)], metrics)
        finally:
            sys.stdout.close()
            sys.stdout = stdout
    dataset = res["MotChallenge2DBox"]
    out_scores: dict[str, dict] = {}
    for name in names:
        if msg["MotChallenge2DBox"][name] != "Success":
            raise RuntimeError(f"TrackEval failed for {name}: {msg['MotChallenge2DBox'][name]}")
        out_scores[name] = {("COMBINED" if seq == "COMBINED_SEQ" else seq): _flatten(r["pedestrian"])
                            for seq, r in dataset[name].items()}
    return out_scores


def _flatten(r: dict) -> dict[str, float]:
    hota, clear, ident = r["HOTA"], r["CLEAR"], r["Identity"]
    return {"HOTA": round(100 * float(np.mean(hota["HOTA"])), 2),
            "DetA": round(100 * float(np.mean(hota["DetA"])), 2),
            "AssA": round(100 * float(np.mean(hota["AssA"])), 2),
            "MOTA": round(100 * float(clear["MOTA"]), 2),
            "IDF1": round(100 * float(ident["IDF1"]), 2),
            "IDSW": int(clear["IDSW"])}


def eval_mot(data_dir: Path, tracker: str = "argus", compare: str | None = None,
             out_dir: Path | None = None, progress: bool = True, every_frames: int = 1) -> dict:
    """Track every sequence of `data_dir` with `tracker` (and `compare`, a peer), score with TrackEval
    (`every_frames`: see `run_sequence`).

    Returns:
        {"argus": {metric: value}, "peer": {...} (with compare), "sequences": {SEQ: {"argus": {...},
        "peer": {...}} or {"argus": "no ground truth", ...}}, "tracker": name, "compare": name}.
        The "argus" key holds the evaluated tracker's figures whatever its name.
    """
    data_dir = Path(data_dir)
    names = {"argus": tracker, **({"peer": compare} if compare else {})}
    tmp = Path(tempfile.mkdtemp(prefix="argus-mot-"))
    results_root = Path(out_dir) if out_dir is not None else tmp / "results"
    gt_root = tmp / "gt"
    lengths: dict[str, int] = {}
    all_seqs: list[str] = []
    try:
        for seq_dir in list_sequences(data_dir):
            seq = load_sequence(seq_dir)
            all_seqs.append(seq.name)
            for role, name in names.items():
                start = time.perf_counter()
                write_results(results_root / role / f"{seq.name}.txt", run_sequence(seq, name, every_frames))
                if progress:
                    print(f"{seq.name}: {name} {1000 * (time.perf_counter() - start) / seq.length:.2f} "
                          "ms/frame", file=sys.stderr)
            if seq.gt_path is not None:
                read_mot_rows(seq.gt_path)  # validates, with file:line errors
                (gt_root / seq.name / "gt").mkdir(parents=True)
                text = seq.gt_path.read_text(encoding="utf-8")
                gt_file = gt_root / seq.name / "gt" / "gt.txt"
                gt_file.write_text(text.replace("\r\n", "\n"), encoding="utf-8")
                shutil.copy(seq.path / "seqinfo.ini", gt_root / seq.name / "seqinfo.ini")
                lengths[seq.name] = seq.length
        scores = score(gt_root, results_root, list(names), lengths) if lengths else {}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report: dict[str, Any] = {"tracker": tracker, **({"every_frames": every_frames} if every_frames > 1 else {})}
    if compare:
        report["compare"] = compare
    for role in names:
        if lengths:
            report[role] = scores[role]["COMBINED"] if len(lengths) > 1 else scores[role][next(iter(lengths))]
    no_gt = dict.fromkeys(names, "no ground truth")
    report["sequences"] = {s: {role: scores[role][s] for role in names} if s in lengths else no_gt
                           for s in all_seqs}
    return report
