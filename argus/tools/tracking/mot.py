"""MOTChallenge files: read `seqinfo.ini`, `det/det.txt`, `gt/gt.txt`; write tracker results.

Rows are `frame, id, x, y, w, h, score|flag, ...` with 1-based frames and top-left x/y boxes.
Malformed rows raise `ValueError` naming the file and the 1-based line number. CRLF is accepted.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.types import Detections


@dataclass
class MotSequence:
    """One MOTChallenge sequence, detections pre-parsed per frame.

    Attributes:
        name: sequence name (folder name).
        path: the sequence folder.
        frame_rate: frames per second from seqinfo.ini.
        length: number of frames (1-based frames 1..length).
        width / height: image size in pixels.
        detections: list of `length` Detections (index 0 = frame 1), xyxy pixels.
        gt_path: `gt/gt.txt` if present.
    """

    name: str
    path: Path
    frame_rate: float
    length: int
    width: int
    height: int
    detections: list[Detections] = field(default_factory=list)
    gt_path: Path | None = None


def read_seqinfo(path: Path) -> dict[str, str]:
    """The `[Sequence]` section of a seqinfo.ini as a dict (keys as written)."""
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    if not parser.read(path):
        raise FileNotFoundError(f"{path}: not found")
    if "Sequence" not in parser:
        raise ValueError(f"{path}: no [Sequence] section")
    return dict(parser["Sequence"])


def read_mot_rows(path: Path, min_cols: int = 7) -> np.ndarray:
    """(R, C) float64 array of a MOTChallenge txt file (det.txt, gt.txt or results).

    Raises:
        ValueError: "<path>:<line>: ..." for a row with too few columns, a non-number, a frame
            below 1, a non-integer frame, or a negative width/height.
    """
    rows: list[list[float]] = []
    width = None
    with open(path, encoding="utf-8", newline=None) as fh:
        for number, line in enumerate(fh, 1):
            text = line.strip()
            if not text:
                continue
            parts = [p.strip() for p in text.split(",")]
            if len(parts) < min_cols:
                raise ValueError(f"{path}:{number}: expected at least {min_cols} comma-separated "
                                 f"values, got {len(parts)}: {text!r}")
            try:
                values = [float(p) for p in parts]
            except ValueError:
                raise ValueError(f"{path}:{number}: not a number in {text!r}") from None
            if not np.all(np.isfinite(values[:7])):
                raise ValueError(f"{path}:{number}: non-finite value in {text!r}")
            if values[0] < 1 or values[0] != int(values[0]):
                raise ValueError(f"{path}:{number}: frame must be an integer >= 1, got {parts[0]!r}")
            if values[4] < 0 or values[5] < 0:
                raise ValueError(f"{path}:{number}: negative box width/height in {text!r}")
            width = width or len(values)
            rows.append((values + [-1.0] * width)[:width])
    return np.asarray(rows, dtype=np.float64).reshape(-1, width or min_cols)


def load_sequence(seq_dir: Path) -> MotSequence:
    """Parse `seq_dir/seqinfo.ini` and `det/det.txt` into a `MotSequence` (one Detections per frame)."""
    seq_dir = Path(seq_dir)
    info = read_seqinfo(seq_dir / "seqinfo.ini")
    ini = seq_dir / "seqinfo.ini"
    try:
        frame_rate = float(info["frameRate"])
        length = int(info["seqLength"])
        width, height = int(info.get("imWidth", 0)), int(info.get("imHeight", 0))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{ini}: missing or invalid frameRate/seqLength ({exc})") from None
    det_path = seq_dir / "det" / "det.txt"
    rows = read_mot_rows(det_path)
    frames = rows[:, 0].astype(np.int64)
    if len(frames) and frames.max() > length:
        line = int(np.argmax(frames > length)) + 1
        raise ValueError(f"{det_path}: frame {frames.max()} beyond seqLength {length} (row {line})")
    xyxy = np.column_stack([rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]]).astype(np.float32)
    scores = rows[:, 6].astype(np.float32)
    order = np.argsort(frames, kind="stable")
    bounds = np.searchsorted(frames[order], np.arange(1, length + 2))
    dets = []
    for f in range(length):
        idx = order[bounds[f]:bounds[f + 1]]
        dets.append(Detections(xyxy=xyxy[idx], score=scores[idx], class_id=np.zeros(len(idx), np.int32)))
    gt = seq_dir / "gt" / "gt.txt"
    return MotSequence(seq_dir.name, seq_dir, frame_rate, length, width, height, dets,
                       gt if gt.is_file() else None)


def list_sequences(data_dir: Path) -> list[Path]:
    """Sequence folders (those holding `det/det.txt`) directly under `data_dir`, sorted by name."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: not a directory")
    seqs = sorted(p for p in data_dir.iterdir() if (p / "det" / "det.txt").is_file())
    if not seqs:
        raise ValueError(f"{data_dir}: no sequence folders with det/det.txt")
    return seqs


def write_results(path: Path, frames: list[tuple[int, Detections]]) -> None:
    """Write tracked rows (track_id >= 0) as MOTChallenge results: frame,id,x,y,w,h,score,-1,-1,-1.

    Args:
        frames: (1-based frame number, tracked Detections) pairs.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for frame, det in frames:
        if det.track_id is None:
            continue
        for i in np.flatnonzero(det.track_id >= 0):
            x1, y1, x2, y2 = (float(v) for v in det.xyxy[i])
            lines.append(f"{frame},{int(det.track_id[i])},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                         f"{float(det.score[i]):.4f},-1,-1,-1\n")
    path.write_text("".join(lines), encoding="utf-8")
