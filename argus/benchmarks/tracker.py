"""`run.py bench tracker`: tracker speed on MOTChallenge detections, ms per frame of `update` only.

Detections are parsed (and, for a peer, converted to supervision Detections) before timing; each
repeat runs every sequence with a fresh tracker; the best repeat counts (least disturbed by the OS).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from argus.tools.tracking.evaluate import tracker_for
from argus.tools.tracking.mot import MotSequence, list_sequences, load_sequence
from argus.tools.tracking.peers import PeerTracker


def _time_once(seqs: list[MotSequence], name: str) -> float:
    total = 0.0
    for seq in seqs:
        tracker = tracker_for(name, seq.frame_rate)
        if isinstance(tracker, PeerTracker):
            inputs: list[Any] = [tracker.to_input(d) for d in seq.detections]
            start = time.perf_counter()
            for sv_det in inputs:
                tracker.update_raw(sv_det)
        else:
            start = time.perf_counter()
            for f, det in enumerate(seq.detections):
                tracker.update(det, f, 1.0)
        total += time.perf_counter() - start
    return total


def bench_tracker(data_dir: Path, tracker: str = "argus", compare: str | None = None,
                  repeats: int = 5) -> dict:
    """ms per frame of `tracker.update` over every sequence in `data_dir` (and `compare`'s, same run).

    Returns:
        {"tracker", "argus_ms_per_frame", "frames", "repeats"} plus "compare", "peer_ms_per_frame"
        and "ratio" (argus / peer) when `compare` is given.
    """
    seqs = [load_sequence(p) for p in list_sequences(Path(data_dir))]
    frames = sum(s.length for s in seqs)
    names = [tracker] + ([compare] if compare else [])
    best = {n: float("inf") for n in names}
    for n in names:
        _time_once(seqs, n)  # warm-up (imports, caches)
    for _ in range(max(1, repeats)):
        for n in names:  # interleaved so both see the same machine load
            best[n] = min(best[n], _time_once(seqs, n))
    out: dict[str, Any] = {"tracker": tracker, "argus_ms_per_frame": round(1000 * best[tracker] / frames, 4),
                           "frames": frames, "repeats": repeats}
    if compare:
        out["compare"] = compare
        out["peer_ms_per_frame"] = round(1000 * best[compare] / frames, 4)
        out["ratio"] = round(best[tracker] / best[compare], 3)
    return out
