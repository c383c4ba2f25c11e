"""Enrolment: what may enter the gallery. Every image is checked before anything is written (all or
nothing), and each refusal is one line naming the file:

- not an image, no face, several faces (without `largest`);
- the quality gates of the stage (too small, too uncertain, turned, blurred) with enrolment's own
  stricter minimum size (`ENROL_MIN_PX`): a gallery face is compared with every face ever seen,
  so it must be better than the faces it is compared with;
- consistency, against poisoning: a face closer to *another* enrolled person than the threshold
  (a wrong photo filed under this name), or farther than the threshold from every face already
  enrolled under this name (someone else), is refused unless `force`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stages.faces.gallery import Gallery
from stages.faces.quality import Gates
from stages.faces.recognizer import FoundFace, Recognizer

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
ENROL_MIN_PX = 48
SURE_FACE = 0.9  # detector score of a face that counts as "another face in the photo"
ENROL_GATES = Gates(min_face_px=ENROL_MIN_PX, min_score=0.95, max_yaw=0.35, min_sharpness=150.0)


class EnrolError(Exception):
    """One or more files refused: `lines` has one line per file."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


@dataclass
class Accepted:
    path: Path
    face: FoundFace


def image_files(items: list[str]) -> list[Path]:
    """Files named, and the image files of folders named (sorted)."""
    out: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(path)
    return out


def read_image(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    data = np.fromfile(str(path), dtype=np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None


def check_faces(recognizer: Recognizer, paths: list[Path], *, largest: bool,
                gates: Gates = ENROL_GATES) -> tuple[list[Accepted], list[str]]:
    """(accepted faces with embeddings, refusal lines)."""
    accepted: list[Accepted] = []
    problems: list[str] = []
    old = recognizer.gates
    recognizer.gates = gates
    try:
        for path in paths:
            image = read_image(path)
            if image is None:
                problems.append(f"{path}: not an image" if path.is_file() else f"{path}: no such file")
                continue
            faces = recognizer.faces_in_images([image], embed_all=True)[0]
            if not faces:
                problems.append(f"{path}: no face found")
                continue
            sure = [f for f in faces if f.score >= SURE_FACE] or [max(faces, key=lambda f: f.score)]
            if len(sure) > 1 and not largest:
                problems.append(f"{path}: {len(sure)} faces found (use --largest to enrol the largest)")
                continue
            face = max(sure, key=lambda f: f.width)
            if face.problem:
                problems.append(f"{path}: {face.problem}")
                continue
            accepted.append(Accepted(path, face))
    finally:
        recognizer.gates = old
    return accepted, problems


def consistency(gallery: Gallery, name: str, accepted: list[Accepted], threshold: float) -> list[str]:
    """Refusal lines for faces that look like another enrolled person, or unlike this person's faces
    (the ones already enrolled, or the others of this batch when the name is new)."""
    problems: list[str] = []
    if not accepted:
        return problems
    vectors = np.stack([a.face.embedding for a in accepted])  # type: ignore[misc]
    for a, match in zip(accepted, gallery.match(vectors), strict=True):
        others = [(match.name, match.distance), (match.runner_up, match.runner_up_distance)]
        rival = next(((n, d) for n, d in others if n is not None and n != name), None)
        if rival is not None and rival[1] <= threshold:
            problems.append(f"{a.path}: looks like the enrolled {rival[0]} (distance {rival[1]:.2f}), not {name}")
    if name in gallery.names():
        own = gallery.match_person(vectors, name)
        for a, d in zip(accepted, own, strict=True):
            if d > threshold:
                problems.append(f"{a.path}: does not look like the enrolled {name} (distance {d:.2f})")
    elif len(accepted) > 1:
        d = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
        np.fill_diagonal(d, np.inf)
        for a, nearest in zip(accepted, d.min(axis=1), strict=True):
            if nearest > threshold:
                problems.append(f"{a.path}: does not look like the other photos of {name} (distance "
                                f"{nearest:.2f})")
    return problems


def enrol(gallery: Gallery, recognizer: Recognizer, name: str, items: list[str], *, largest: bool = False,
          force: bool = False, threshold: float = 0.95) -> list[Accepted]:
    """Check every image, then enrol all of them in one transaction; EnrolError (nothing written)
    when any is refused."""
    paths = image_files(items)
    if not paths:
        raise EnrolError([f"{' '.join(items)}: no image files"])
    accepted, problems = check_faces(recognizer, paths, largest=largest)
    if not problems and not force:
        problems = consistency(gallery, name, accepted, threshold)
    if problems:
        raise EnrolError(problems)
    gallery.add(name, np.stack([a.face.embedding for a in accepted]),  # type: ignore[misc]
                [str(a.path) for a in accepted], [round(a.face.width) for a in accepted])
    return accepted
