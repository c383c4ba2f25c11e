"""`track tune`: cross-validated hyper-parameter search for a tracker against MOT ground truth.

Units: every sequence of DATA_DIR with its real detections (`public`, det/det.txt) and with each
simulated detector of `simulate.DEFAULT_DETECTORS`. Every trial (a parameter set) tracks every unit
once and TrackEval scores each unit; the objective of a unit is (HOTA + IDF1) / 2.

Cross-validation by sequence and by detector: sequences are dealt into K folds and detectors into K
groups (round robin, sorted by name). A unit (sequence s, detector d) is scored with the trial that
has the best mean objective over the units that share neither s's fold nor d's group, so every
held-out figure comes from parameters chosen without that sequence and without that detector.
Peers (Roboflow ByteTrack, OC-SORT, SORT) and the tracker's defaults run untuned on every unit.

Search method: seeded random search over `SPACE` (trial 0 = the defaults, trials 1-4 = the old
absolute thresholds read in each score mode, 5 = the defaults before the frame-rate-aware gates,
6-7 = the defaults with 2 and 3 score height bands). Besides the CV row over the whole space, CV rows
restricted to one score mode or to one side of a design choice (`RESTRICTIONS`: score bands or not,
frame-rate-scaled gates or not) give held-out evidence for that choice.
Random search rather than TPE/Bayesian optimisation:
the space has a few parameters whose effects are broad and interact little, the budget is tens of
trials (where TPE has no edge over random), every trial can be shared by all folds (selection is
then a cheap arg-max per fold), results are reproducible from `--seed`, and it needs no extra
dependency (Optuna is not installed).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from argus.tools.tracking.evaluate import LOST_SECONDS, score, tracker_for
from argus.tools.tracking.mot import MotSequence, list_sequences, load_sequence, read_mot_rows, write_results
from argus.tools.tracking.peers import PEERS
from argus.tools.tracking.simulate import DEFAULT_DETECTORS, DetectorSpec, simulate
from pipeline.atomic_file import write_text_atomic
from stages.tracking import make_tracker
from stages.tracking.scores import SCORE_MODES

PUBLIC = "public"
# the parameters searched, all fields of the track stage config (see `sample_params`)
SPACE: dict[str, str] = {
    "score_mode": f"one of {list(SCORE_MODES)}",  # see scores.py
    "high_score": "uniform 0.3-0.8",
    "new_track_score": "high_score + uniform 0-0.25 (at most 0.95)",
    "low_score": "uniform 0-0.6 x high_score",
    "match_iou": "one of 0.1, 0.2, 0.3",
    "min_hits": "one of 1, 2, 3",
    "low_match_iou": "uniform 0.1-0.6",
    "low_lost_frames": "one of 0, 2, 5, 10",
    "score_bands": "one of 1, 1, 2, 3 (height bands of the score distribution, see scores.py)",
    "rate_exponent": "one of 0.5, 1, 1.5 (Kalman velocity noise x (30 / fps) ** it)",
    "iou_rate_exponent": "one of 0, 0.5, 1, 1.5 (low_match_iou x (fps / 30) ** it below 30 fps)",
}
OLD_DEFAULTS: dict[str, Any] = {"score_mode": "absolute", "high_score": 0.6, "new_track_score": 0.7,
                                "low_score": 0.1, "match_iou": 0.1, "min_hits": 2, "low_match_iou": 0.5,
                                "low_lost_frames": 0, "score_bands": 1, "rate_exponent": 0.5,
                                "iou_rate_exponent": 0.0}
# the argus defaults before the frame-rate-aware ones (`iou_rate_exponent`, `rate_exponent` 1)
PREVIOUS_DEFAULTS: dict[str, Any] = {"rate_exponent": 0.5, "iou_rate_exponent": 0.0}
PEER_ROWS = ("bytetrack-rf", "ocsort-rf", "sort-rf")


@dataclass
class Unit:
    """One sequence with one detector's detections."""

    name: str
    seq: MotSequence
    detector: str


def build_units(data_dir: Path, detectors: tuple[DetectorSpec, ...] = DEFAULT_DETECTORS, seed: int = 0,
                public: bool = True) -> list[Unit]:
    """Every sequence with ground truth x (the public detections and each simulated detector)."""
    seqs = [load_sequence(p) for p in list_sequences(Path(data_dir))]
    seqs = [s for s in seqs if s.gt_path is not None]
    if not seqs:
        raise ValueError(f"{data_dir}: no sequence has gt/gt.txt")
    units = []
    for seq in seqs:
        if public:
            units.append(Unit(f"{seq.name}+{PUBLIC}", seq, PUBLIC))
        units += [Unit(f"{seq.name}+{d.name}", simulate(seq, d, seed), d.name) for d in detectors]
    return units


def sample_params(rng: np.random.Generator) -> dict[str, Any]:
    """One random point of `SPACE`."""
    high = float(rng.uniform(0.3, 0.8))
    return {"score_mode": str(rng.choice(SCORE_MODES)), "high_score": round(high, 3),
            "new_track_score": round(min(0.95, high + float(rng.uniform(0, 0.25))), 3),
            "low_score": round(float(rng.uniform(0, 0.6)) * high, 3),
            "match_iou": float(rng.choice([0.1, 0.2, 0.3])), "min_hits": int(rng.choice([1, 2, 3])),
            "low_match_iou": round(float(rng.uniform(0.1, 0.6)), 3),
            "low_lost_frames": int(rng.choice([0, 2, 5, 10])),
            "score_bands": int(rng.choice([1, 1, 2, 3])), "rate_exponent": float(rng.choice([0.5, 1.0, 1.5])),
            "iou_rate_exponent": float(rng.choice([0.0, 0.5, 1.0, 1.5]))}


def trial_params(trials: int, seed: int) -> list[dict[str, Any]]:
    """Trial 0: the defaults ({}); 1-4: the old defaults (before issue 17) in each score mode; 5: the
    previous defaults (`PREVIOUS_DEFAULTS`); 6-7: the defaults with 2 and 3 score bands; then random."""
    fixed: list[dict[str, Any]] = ([{}] + [{**OLD_DEFAULTS, "score_mode": m} for m in SCORE_MODES]
                                   + [dict(PREVIOUS_DEFAULTS), {"score_bands": 2}, {"score_bands": 3}])
    rng = np.random.default_rng(seed)
    return (fixed + [sample_params(rng) for _ in range(max(0, trials - len(fixed)))])[:max(trials, 1)]


def _make(tracker: str, params: dict[str, Any]) -> Callable[[MotSequence], Any]:
    def build(seq: MotSequence) -> Any:
        if tracker in PEERS:
            return tracker_for(tracker, seq.frame_rate)
        lost = max(1, round(LOST_SECONDS * seq.frame_rate))
        return make_tracker(tracker, lost_frames=lost, frame_rate=seq.frame_rate, **params)
    return build


def track_units(units: list[Unit], build: Callable[[MotSequence], Any], out_dir: Path) -> None:
    """Track every unit with a fresh tracker from `build`; write `out_dir/<unit>.txt`."""
    for unit in units:
        tracker = build(unit.seq)
        frames = [(f + 1, tracker.update(det, f, 1.0)) for f, det in enumerate(unit.seq.detections)]
        write_results(out_dir / f"{unit.name}.txt", frames)


def write_gt(units: list[Unit], gt_root: Path) -> dict[str, int]:
    """Ground truth per unit (LF endings) under `gt_root`; returns {unit: length} for `score`."""
    for unit in units:
        folder = gt_root / unit.name / "gt"
        folder.mkdir(parents=True, exist_ok=True)
        assert unit.seq.gt_path is not None
        read_mot_rows(unit.seq.gt_path)  # validates with file:line errors
        text = unit.seq.gt_path.read_text(encoding="utf-8").replace("\r\n", "\n")
        (folder / "gt.txt").write_text(text, encoding="utf-8")
    return {u.name: u.seq.length for u in units}


def objective(metrics: dict[str, float]) -> float:
    """What the search maximises per unit: (HOTA + IDF1) / 2."""
    return (metrics["HOTA"] + metrics["IDF1"]) / 2


def fold_of(units: list[Unit], folds: int) -> tuple[dict[str, int], dict[str, int]]:
    """(sequence -> fold, detector -> group), both round robin over sorted names."""
    seqs = sorted({u.seq.name for u in units})
    dets = sorted({u.detector for u in units})
    return {s: i % folds for i, s in enumerate(seqs)}, {d: i % folds for i, d in enumerate(dets)}


def select(units: list[Unit], table: np.ndarray, folds: int, allowed: np.ndarray) -> dict[str, int]:
    """Per unit, the allowed trial with the best mean objective over its training units.

    Args:
        table: (trials, units) objective per trial and unit.
        allowed: (trials,) bool, the trials the search may pick.
    """
    seq_fold, det_group = fold_of(units, folds)
    chosen: dict[str, int] = {}
    for unit in units:
        train = np.array([seq_fold[u.seq.name] != seq_fold[unit.seq.name]
                          and det_group[u.detector] != det_group[unit.detector] for u in units])
        if not train.any():
            raise ValueError(f"--folds {folds}: unit {unit.name} has no training units; use more folds")
        mean = np.where(allowed, table[:, train].mean(axis=1), -np.inf)
        chosen[unit.name] = int(np.argmax(mean))
    return chosen


def tune(data_dir: Path, tracker: str = "argus", folds: int = 2, trials: int = 24, seed: int = 0,
         progress: bool = True, detectors: tuple[DetectorSpec, ...] = DEFAULT_DETECTORS,
         peers: tuple[str, ...] = PEER_ROWS) -> dict[str, Any]:
    """Cross-validated search (module docstring). Returns the report `track tune --json` prints:
    held-out table rows per sequence / detector / combined, the chosen parameters (on all units:
    in-sample, for the snippet), and the settings used."""
    if tracker not in ("argus", "bytetrack"):
        raise ValueError(f"--tracker must be argus or bytetrack (the search space is theirs), got {tracker!r}")
    if folds < 2:
        raise ValueError(f"--folds must be >= 2, got {folds}")
    units = build_units(data_dir, detectors, seed)
    n_seqs = len({u.seq.name for u in units})
    if folds > n_seqs:
        raise ValueError(f"--folds {folds} is more than the {n_seqs} sequences with ground truth")
    params = trial_params(trials, seed)
    tmp = Path(tempfile.mkdtemp(prefix="argus-tune-"))
    try:
        lengths = write_gt(units, tmp / "gt")
        table = np.zeros((len(params), len(units)))
        from tqdm import tqdm

        bar = tqdm(total=len(params) + 1, desc=f"tune {tracker}", unit="trial", disable=not progress or None)
        with bar:
            for i, p in enumerate(params):
                track_units(units, _make(tracker, p), tmp / "res" / f"t{i}")
                per_unit = score(tmp / "gt", tmp / "res", [f"t{i}"], lengths)[f"t{i}"]
                table[i] = [objective(per_unit[u.name]) for u in units]
                bar.update()
            rows = _final_rows(units, params, table, folds, tracker, peers, tmp, lengths)
            bar.update()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = int(np.argmax(table.mean(axis=1)))
    return {"tracker": tracker, "folds": folds, "trials": len(params), "seed": seed,
            "units": [u.name for u in units], "space": SPACE, "method": "seeded random search",
            "detectors": [PUBLIC + " (det/det.txt)"] + [_describe(d) for d in detectors],
            "held_out": rows, "cv_choices": _choices(units, params, table, folds),
            "chosen": {**params[best]} or "defaults",
            "chosen_in_sample_objective": round(float(table[best].mean()), 2),
            "defaults_in_sample_objective": round(float(table[0].mean()), 2)}


def _final_rows(units: list[Unit], params: list[dict[str, Any]], table: np.ndarray, folds: int, tracker: str,
                peers: tuple[str, ...], tmp: Path, lengths: dict[str, int]) -> dict[str, Any]:
    """Score the cross-validated choices (all modes, and each score mode alone), the defaults and the
    peers on every unit in one TrackEval call; combine per sequence, per detector and overall."""
    res = tmp / "res"
    labels = {f"{tracker} tuned (CV)": np.ones(len(params), bool)}
    eff = [_effective(tracker, p) for p in params]
    for mode in SCORE_MODES:
        labels[f"{tracker} tuned, {mode} only (CV)"] = np.array([e["score_mode"] == mode for e in eff])
    for label, keep in RESTRICTIONS.items():
        labels[f"{tracker} tuned, {label} (CV)"] = np.array([keep(e) for e in eff])
    names = {f"{tracker} defaults": "t0"}
    if len(params) > 5:
        names[f"{tracker} previous defaults"] = "t5"
    for label, allowed in labels.items():
        if not allowed.any():
            continue
        chosen = select(units, table, folds, allowed)
        folder = res / _slug(label)
        folder.mkdir(parents=True)
        for unit in units:
            shutil.copy(res / f"t{chosen[unit.name]}" / f"{unit.name}.txt", folder / f"{unit.name}.txt")
        names[label] = _slug(label)
    for peer in peers:
        track_units(units, _make(peer, {}), res / peer)
        names[peer] = peer
    scores = score(tmp / "gt", res, list(names.values()), lengths)
    out: dict[str, Any] = {}
    for label, key in names.items():
        per_unit = scores[key]
        out[label] = {"combined": per_unit["COMBINED"],
                      "per_sequence": _group(units, per_unit, lambda u: u.seq.name),
                      "per_detector": _group(units, per_unit, lambda u: u.detector),
                      "per_unit": {u.name: per_unit[u.name] for u in units}}
    return out


def _choices(units: list[Unit], params: list[dict[str, Any]], table: np.ndarray, folds: int) -> dict:
    """{unit: the parameters cross-validation chose for it (from its training units only)}."""
    chosen = select(units, table, folds, np.ones(len(params), bool))
    return {u: params[i] or "defaults" for u, i in chosen.items()}


def _group(units: list[Unit], per_unit: dict[str, dict[str, float]], key: Callable[[Unit], str]) -> dict:
    """Mean of HOTA / IDF1 / MOTA / DetA / AssA over the units of each group."""
    groups: dict[str, list[dict[str, float]]] = {}
    for u in units:
        groups.setdefault(key(u), []).append(per_unit[u.name])
    return {g: {m: round(float(np.mean([r[m] for r in rows])), 2) for m in ("HOTA", "IDF1", "MOTA", "DetA", "AssA")}
            for g, rows in sorted(groups.items())}


# CV rows restricted to part of the search space: held-out evidence for one design choice
RESTRICTIONS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "one score band only": lambda e: e["score_bands"] == 1,
    "2-3 score bands only": lambda e: e["score_bands"] > 1,
    "no frame-rate scaling of gates": lambda e: e["iou_rate_exponent"] == 0,
    "frame-rate-scaled gates only": lambda e: e["iou_rate_exponent"] > 0,
    "one band, frame-rate-scaled gates": lambda e: e["score_bands"] == 1 and e["iou_rate_exponent"] > 0,
}


def _effective(tracker: str, params: dict[str, Any]) -> dict[str, Any]:
    """The settings a trial runs with, defaults filled in (for `RESTRICTIONS` and the mode rows)."""
    t: Any = make_tracker(tracker, **params)
    return {"score_mode": t.score_mode, "score_bands": t.score_bands, "rate_exponent": t.rate_exponent,
            "iou_rate_exponent": t.iou_rate_exponent}


def _slug(label: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in label)


def _describe(spec: DetectorSpec) -> str:
    return (f"{spec.name}: scores {spec.score}, recall {spec.recall} (half at {spec.half_height:g} px tall, "
            f"x(1 - {spec.occlusion} occluded fraction)), jitter {spec.jitter}, {spec.fp_per_frame} FP/frame, "
            f"difficulty AR(1) {spec.persistence}")


def snippet(tracker: str, params: dict[str, Any]) -> str:
    """A YAML `stages:` entry for the track stage with `params` (loads through `TrackConfig`)."""
    fields = {"type": "track", "tracker": tracker, **params}
    body = ", ".join(f"{k}: {v}" for k, v in fields.items())
    return f"# from `run.py track tune`: paste under `stages:`\n- {{{body}}}\n"


def write_snippet(path: Path, report: dict[str, Any]) -> Path:
    """Write the chosen parameters of `report` as a track stage snippet; returns the path."""
    chosen = report["chosen"] if isinstance(report["chosen"], dict) else {}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, snippet(report["tracker"], chosen))
    return path


def print_report(report: dict[str, Any]) -> str:
    """Markdown tables of the held-out rows: HOTA / IDF1 per sequence, per detector and combined."""
    rows = report["held_out"]
    first = next(iter(rows.values()))
    lines = [f"held-out ({report['folds']} folds by sequence and detector, {report['trials']} trials, "
             f"seed {report['seed']}); HOTA / IDF1"]
    for part in ("per_sequence", "per_detector"):
        cols = list(first[part])
        lines += ["", "| tracker | " + " | ".join(cols) + " | combined |", "|---" * (len(cols) + 2) + "|"]
        for label, r in rows.items():
            cells = [f"{r[part][c]['HOTA']:.2f} / {r[part][c]['IDF1']:.2f}" for c in cols]
            lines.append(f"| {label} | " + " | ".join(cells)
                         + f" | {r['combined']['HOTA']:.2f} / {r['combined']['IDF1']:.2f} |")
    lines += ["", "held-out rows: `tuned (CV)`; the defaults and peers are untuned, but the argus defaults were "
              "chosen on shared/data/mot (public + simulated detectors): on that data their row is in-sample.",
              f"chosen on all units (in-sample, for the snippet): {report['chosen']}"]
    return "\n".join(lines)
