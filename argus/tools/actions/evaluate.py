"""Scoring an action classifier on labelled clips, and leave-one-person-out (LOPO) training.

Every clip's main person runs through the same windows and hysteresis as the stage (one update
per frame). Figures:
  - frames: per class precision / recall and macro-F1 over POSTURES, on frames whose label is not
    `no_person` and more than BOUNDARY_S from a change of label; a frame whose label is not a class
    (bending, jumping, transitions) counts where a class is predicted on it (false positive), a
    frame with no label yet (track younger than the window) is predicted "none";
  - fall events: a predicted `falling` start counts when it begins within FALL_MATCH_S of a
    labelled fall start, at most one per fall; recall with its Wilson 95 % interval; the delay from
    the labelled start to the event (the frame it is emitted on); false alarms as raw counts,
    separately on clips without a fall (hard negatives) and extra starts on fall clips;
  - a fall is *caught* when it also alerts in time: the event is emitted at most FALL_ALERT_S after
    the labelled end of the `falling` range (the held-out check's rule); `caught` has its own
    recall and Wilson interval, and the delay from the labelled end to the alert;
  - false alarms per hour of non-fall video: every predicted fall start that matches no fall, over
    the clips' time outside `falling` ranges and the `lying` that follows them;
  - `breakdown` gives the same figures per person and per source (the clip's top folder).

Frames labelled `adl` (labels.UNSCORED: a person doing unlabelled everyday things) are not scored
per frame; their clips count for false alarms and non-fall time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from argus.tools.actions.dataset import ClipData, sequence_windows
from argus.tools.actions.labels import CLASS_OF, NO_PERSON, UNSCORED
from stages.actions.hysteresis import ActionState, Transition

POSTURES = ("standing", "sitting", "lying", "walking", "falling")
BOUNDARY_S = 0.2
FALL_MATCH_S = 1.0
FALL_ALERT_S = 1.5


@dataclass
class ClipResult:
    data: ClipData
    labels: list[str | None]  # displayed label per frame
    events: list[tuple[float, Transition]]  # (pts of the frame it was emitted on, transition)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of k successes in n trials."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


Scores = np.ndarray | tuple[np.ndarray, np.ndarray]  # (N, classes), or with (N,) onsets (the rules')


def simulate(item: ClipData, score: Callable[[np.ndarray], Scores], classes: tuple[str, ...],
             window_s: float, steps: int, state: Callable[[], ActionState]) -> ClipResult:
    """Run one clip's main person through windows, `score` (N windows -> N x classes, or that and the
    N onsets of `rules.classify_with_onsets`) and hysteresis."""
    pts, wins = sequence_windows(item.sequence, window_s, steps)
    ready = [i for i, w in enumerate(wins) if w is not None]
    out = score(np.stack([wins[i] for i in ready])) if ready else np.zeros((0, len(classes)))
    scores, onsets = out if isinstance(out, tuple) else (out, None)
    return replay(item, pts, ready, scores, classes, state, onsets)


def replay(item: ClipData, pts: np.ndarray, ready: list[int], scores: np.ndarray, classes: tuple[str, ...],
           state: Callable[[], ActionState], onsets: np.ndarray | None = None) -> ClipResult:
    """Hysteresis over one clip's frames given the scores (and onsets, seconds; default 0) of its
    `ready` frames (those with a window)."""
    by_frame = dict(zip(ready, scores, strict=True))
    onset_of = dict(zip(ready, onsets, strict=True)) if onsets is not None else {}
    st = state()
    labels: list[str | None] = []
    events: list[tuple[float, Transition]] = []
    last_seen = None
    for i, t in enumerate(pts):
        if i in by_frame:
            events += [(float(t), tr) for tr in st.update(classes, by_frame[i], float(t), i,
                                                          float(onset_of.get(i, 0.0)))]
            last_seen = float(t)
        labels.append(st.display if i in by_frame else None)
    events += [(float(pts[-1]), tr) for tr in st.close(last_seen if last_seen is not None else float(pts[-1]))]
    return ClipResult(item, labels, events)


def score_results(results: list[ClipResult], classes: tuple[str, ...]) -> dict:
    truth_all, pred_all = [], []
    for r in results:
        clip = r.data.clip
        for t, pred in zip(r.data.sequence.pts, r.labels, strict=True):
            raw = clip.label_at(float(t))
            if raw is None or raw in (NO_PERSON, UNSCORED) or clip.near_boundary(float(t), BOUNDARY_S):
                continue
            truth_all.append(CLASS_OF.get(raw, raw))
            pred_all.append(pred or "none")
    truth, pred = np.asarray(truth_all, object), np.asarray(pred_all, object)
    per_class = {}
    for c in dict.fromkeys((*POSTURES, *classes)):
        tp = int(((pred == c) & (truth == c)).sum())
        fp = int(((pred == c) & (truth != c)).sum())
        fn = int(((pred != c) & (truth == c)).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class[c] = {"precision": round(prec, 3), "recall": round(rec, 3), "f1": round(f1, 3), "support": tp + fn}
    rows = sorted(set(truth_all))
    cols = [*classes, "none"]
    confusion = {t: {p: int(((truth == t) & (pred == p)).sum()) for p in cols} for t in rows}
    events = fall_events(results)
    return {
        "frames": len(truth_all),
        "posture_macro_f1": round(float(np.mean([per_class[c]["f1"] for c in POSTURES])), 3),
        "macro_f1": round(float(np.mean([per_class[c]["f1"] for c in classes if per_class[c]["support"]] or [0])), 3),
        "per_class": per_class,
        "confusion": confusion,
        "falls": events,
    }


def fall_spans(segments: list[tuple[float, float, str]]) -> list[tuple[float, float, float]]:
    """(start, end of the falling range, end of the lying that follows it) of each labelled fall."""
    out = []
    for i, (start, end, label) in enumerate(segments):
        if label != "falling":
            continue
        down = end
        for s2, e2, lab2 in segments[i + 1:]:
            if lab2 != "lying" or s2 > down + 1e-6:
                break
            down = e2
        out.append((start, end, down))
    return out


def fall_events(results: list[ClipResult]) -> dict:
    """The fall-event figures of `results` (see the module doc)."""
    falls = matched = caught = 0
    delays: list[float] = []
    alert_delays: list[float] = []
    start_errors: list[float] = []  # |start_pts_s - labelled start| of the matched falls
    hard_negatives = extra = 0
    non_fall_s = 0.0
    per_clip = {}
    for r in results:
        spans = fall_spans(r.data.clip.segments)
        pts = r.data.sequence.pts
        duration = float(pts[-1] - pts[0]) + (float(np.median(np.diff(pts))) if len(pts) > 1 else 0.0)
        clip_end = float(pts[0]) + duration
        non_fall_s += max(0.0, duration - sum(max(0.0, min(down, clip_end) - start) for start, _, down in spans))
        predicted = [(emit, tr) for emit, tr in r.events if tr.kind == "started" and tr.label == "falling"]
        used: set[int] = set()
        clip_caught = 0
        for start, end, _ in spans:
            falls += 1
            for j, (emit, tr) in enumerate(predicted):
                if j not in used and abs(tr.start_pts_s - start) <= FALL_MATCH_S:
                    used.add(j)
                    matched += 1
                    delays.append(emit - start)
                    start_errors.append(abs(tr.start_pts_s - start))
                    alert_delays.append(emit - end)
                    if emit <= end + FALL_ALERT_S:
                        caught += 1
                        clip_caught += 1
                    break
        unmatched = len(predicted) - len(used)
        if spans:
            extra += unmatched
        else:
            hard_negatives += unmatched
        per_clip[r.data.clip.name] = {"falls": len(spans), "fall_events": len(predicted), "matched": len(used),
                                      "caught": clip_caught,
                                      "starts": [round(tr.start_pts_s, 2) for _, tr in predicted],
                                      "alerts": [round(emit, 2) for emit, _ in predicted]}
    lo, hi = wilson(matched, falls)
    clo, chi = wilson(caught, falls)
    false_alarms = hard_negatives + extra
    return {"labelled": falls, "detected": matched, "recall": round(matched / falls, 3) if falls else None,
            "wilson95": [round(lo, 3), round(hi, 3)],
            "caught": caught, "caught_recall": round(caught / falls, 3) if falls else None,
            "caught_wilson95": [round(clo, 3), round(chi, 3)],
            "false_alarms_non_fall_clips": hard_negatives, "extra_events_on_fall_clips": extra,
            "false_alarms": false_alarms, "non_fall_s": round(non_fall_s, 1),
            "non_fall_hours": round(non_fall_s / 3600, 4),
            "false_alarms_per_hour": round(false_alarms / (non_fall_s / 3600), 1) if non_fall_s else None,
            "delay_s": {"median": round(float(np.median(delays)), 2) if delays else None,
                        "max": round(float(np.max(delays)), 2) if delays else None},
            "start_error_s": {"median": round(float(np.median(start_errors)), 2) if start_errors else None,
                              "max": round(float(np.max(start_errors)), 2) if start_errors else None},
            "alert_after_end_s": {"median": round(float(np.median(alert_delays)), 2) if alert_delays else None,
                                  "max": round(float(np.max(alert_delays)), 2) if alert_delays else None},
            "per_clip": per_clip}


def source_of(name: str) -> str:
    """A clip's source: its top folder below the data folder (`shared/gmdcsa24/...` -> shared/gmdcsa24)."""
    parts = name.split("/")
    return "/".join(parts[:2]) if parts[0] == "shared" and len(parts) > 2 else parts[0]


def breakdown(results: list[ClipResult], classes: tuple[str, ...]) -> dict[str, dict[str, dict]]:
    """Per person and per source: macro-F1 over the classes labelled there and the fall figures."""
    out: dict[str, dict[str, dict]] = {"person": {}, "source": {}}
    for kind, key in (("person", lambda r: r.data.clip.person), ("source", lambda r: source_of(r.data.clip.name))):
        for group in sorted({key(r) for r in results}):
            part = [r for r in results if key(r) == group]
            scored = score_results(part, classes)
            f = scored["falls"]
            out[kind][group] = {"clips": len(part), "frames": scored["frames"], "macro_f1": scored["macro_f1"],
                                "falls": f["labelled"], "detected": f["detected"], "caught": f["caught"],
                                "false_alarms": f["false_alarms"], "non_fall_s": f["non_fall_s"],
                                "delay_median_s": f["delay_s"]["median"]}
    return out


def evaluate(data: list[ClipData], model: str, *, state: Callable[[], ActionState], window_s: float = 1.2,
             steps: int = 12, arch: str = "cnn", epochs: int = 25, inputs: str = "all", seed: int = 0,
             classes: tuple[str, ...] | None = None,
             progress: Callable[[str], None] | None = None) -> dict:
    """Score `model` on every clip of `data`: rules, builtin, an ONNX path, or `train` (leave one person
    out: a network trained for each held-out person on the others). `tune-rules` is in tune.py."""
    from stages.actions import rules

    results: list[ClipResult] = []
    if model == "rules":
        classes = rules.CLASSES
        results = [simulate(d, lambda x: rules.classify_with_onsets(x, window_s), classes, window_s, steps, state)
                   for d in data]
    elif model == "train":
        from argus.tools.actions.dataset import training_windows
        from argus.tools.actions.train import predict, train

        classes = classes or rules.CLASSES
        persons = sorted({d.clip.person for d in data})
        for person in persons:
            if progress:
                progress(f"leave out {person}")
            rest = [d for d in data if d.clip.person != person]
            x, y = training_windows(rest, classes, window_s, steps)
            net = train(x, y, classes, arch=arch, epochs=epochs, inputs=inputs, seed=seed)
            results += [simulate(d, lambda w, net=net: predict(net, w), classes, window_s, steps, state)
                        for d in data if d.clip.person == person]
    else:
        from stages.actions.model import ActionModel, model_path

        action_model = ActionModel(model_path(model))
        classes, window_s, steps = action_model.info.classes, action_model.info.window_s, action_model.info.steps
        try:
            results = [simulate(d, action_model, classes, window_s, steps, state) for d in data]
        finally:
            action_model.close()
    out = score_results(results, classes)
    out["breakdown"] = breakdown(results, classes)
    out["model"] = model if model != "train" else f"train ({arch}, inputs {inputs}, leave one person out)"
    out["persons"] = sorted({d.clip.person for d in data})
    return out
