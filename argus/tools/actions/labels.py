"""Training / evaluation data folders: clips with time-ranged labels, and who is in them.

Two layouts:
  - `labels.csv` (`file,start_s,end_s,label,source,note`, the shared data's format): time ranges per
    clip; `source` picks the annotator (`eye` by default, `official` for the GMDCSA24 ones);
  - one folder per class holding clips: the whole clip has that label.

Persons (for leave-one-person-out): a `persons.csv` (`file,person`) when present, else the
built-in table of the shared data's clips, else the clip name's prefix before the first `_`. An optional
third column, `subject` ("x y": fractions of the frame), says where the labelled person is on average
when someone else is in view too (a bystander, a picture-in-picture view): the tools then score that
person, not the one tracked longest (`extract.main_person`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import ArgusError


class DataError(ArgusError):
    """A training/evaluation folder problem (missing clip, bad labels.csv line, no usable person): exit 2."""

    exit_code = 2


VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")

# Eye labels -> the classes Argus predicts. Labels not listed (bending, jumping, transitions) stay
# in the data as "other": never a training target, but a frame where a wrong class is a false positive.
CLASS_OF = {"standing": "standing", "walking": "walking", "running": "running", "sitting": "sitting",
            "lying": "lying", "falling": "falling", "raising_hands": "hands_up", "hands_up": "hands_up"}
NO_PERSON = "no_person"
# A person is there, doing something whose postures were not labelled frame by frame (a whole
# non-fall clip of the extended set, argus/tools/actions/sources.py): scored for false fall alarms,
# never for per-frame posture, never a training target.
UNSCORED = "adl"

# The shared data's people (its README): GMDCSA24 subjects by file name; the ASSIST reference videos by
# the recording date burned into the frames (09/02/2023: one man, 07/02/2023: one woman).
SHARED_PERSONS = {
    "assist_fall/adl_03_jogging_slowly.mp4": "assist_0902", "assist_fall/adl_04_jogging_quickly.mp4": "assist_0902",
    "assist_fall/adl_09_low_chair_sitting_quickly.mp4": "assist_0902",
    "assist_fall/adl_10_collapsing_onto_chair.mp4": "assist_0902",
    "assist_fall/adl_16_jumping_reaching.mp4": "assist_0902",
    "assist_fall/fall_05_vertical_fall_faint.mp4": "assist_0902",
    "assist_fall/adl_12_sitting_laying_down_quickly.mp4": "assist_0702",
    "assist_fall/adl_19_raising_hands.mp4": "assist_0702",
}


@dataclass
class Clip:
    """One labelled clip: `segments` are (start_s, end_s, raw label) in time order."""

    path: Path
    name: str  # path relative to the data folder
    person: str
    segments: list[tuple[float, float, str]] = field(default_factory=list)
    subject: tuple[float, float] | None = None  # where the labelled person is (frame fractions), see above

    def label_at(self, t: float) -> str | None:
        """The raw label at time t (the last segment covering t), or None."""
        found = None
        for start, end, label in self.segments:
            if start <= t < end or (t == end and end == self.segments[-1][1]):
                found = label
        return found

    def near_boundary(self, t: float, margin: float) -> bool:
        """Whether t lies within `margin` seconds of a change of label."""
        edges = [s for s, _, _ in self.segments[1:]]
        return any(abs(t - e) <= margin for e in edges)


def _person(name: str, persons: dict[str, str]) -> str:
    if name in persons:
        return persons[name]
    if name in SHARED_PERSONS:
        return SHARED_PERSONS[name]
    stem = Path(name).stem
    return stem.split("_")[0] if "_" in stem else Path(name).parent.name or stem


def _read_persons_csv(root: Path) -> dict[str, tuple[str, tuple[float, float] | None]]:
    """persons.csv: file -> (person, subject or None); empty when there is no such file."""
    path = root / "persons.csv"
    if not path.is_file():
        return {}
    out: dict[str, tuple[str, tuple[float, float] | None]] = {}
    with path.open(newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            if not row.get("file") or not row.get("person"):
                raise DataError(f"{path}:{line}: expected columns file,person")
            subject = None
            if (row.get("subject") or "").strip():
                try:
                    x, y = (float(v) for v in row["subject"].split())
                except ValueError:
                    x = y = -1.0
                if not (0 <= x <= 1 and 0 <= y <= 1):
                    raise DataError(f"{path}:{line}: subject must be 'x y', fractions of the frame, "
                                    f"got {row['subject']!r}")
                subject = (x, y)
            out[row["file"]] = (row["person"], subject)
    return out


def read_clips(root: Path, source: str = "eye") -> list[Clip]:
    """The labelled clips of `root` (see the module doc); errors name the file and line."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    table = _read_persons_csv(root)
    persons = {name: person for name, (person, _) in table.items()}
    labels = root / "labels.csv"
    clips = _from_csv(root, labels, source, persons) if labels.is_file() else _from_folders(root, persons)
    for clip in clips:
        clip.subject = table[clip.name][1] if clip.name in table else None
    return clips


def _from_folders(root: Path, persons: dict[str, str]) -> list[Clip]:
    clips = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise DataError(f"{folder}: class folder holds no clip ({', '.join(VIDEO_SUFFIXES)})")
        for video in videos:
            name = str(video.relative_to(root))
            clips.append(Clip(video, name, _person(name, persons), [(0.0, float("inf"), folder.name)]))
    if not clips:
        raise DataError(f"{root}: no labels.csv and no class folders with clips")
    return clips


def _from_csv(root: Path, labels: Path, source: str, persons: dict[str, str]) -> list[Clip]:
    clips: dict[str, Clip] = {}
    with labels.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:4]] != ["file", "start_s", "end_s", "label"]:
            raise DataError(f"{labels}:1: expected a header starting file,start_s,end_s,label")
        has_source = len(header) > 4 and header[4].strip() == "source"
        for line, row in enumerate(reader, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) < 4:
                raise DataError(f"{labels}:{line}: expected at least 4 columns, got {len(row)}")
            if has_source and len(row) > 4 and row[4].strip() and row[4].strip() != source:
                continue
            name, start_s, end_s, label = (cell.strip() for cell in row[:4])
            try:
                start, end = float(start_s), float(end_s)
            except ValueError:
                raise DataError(f"{labels}:{line}: start_s/end_s must be numbers, got "
                                 f"{start_s!r}, {end_s!r}") from None
            if not end > start >= 0:
                raise DataError(f"{labels}:{line}: need 0 <= start_s < end_s, got {start}, {end}")
            if not label:
                raise DataError(f"{labels}:{line}: empty label")
            path = root / name
            if not path.is_file():
                raise DataError(f"{labels}:{line}: clip not found: {path}")
            clip = clips.setdefault(name, Clip(path, name, _person(name, persons)))
            clip.segments.append((start, end, label))
    if not clips:
        raise DataError(f"{labels}: no rows with source '{source}'")
    for clip in clips.values():
        clip.segments.sort(key=lambda s: s[0])
    return list(clips.values())
