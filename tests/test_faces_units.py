"""Face recognition pieces that need no model: alignment, voting, gallery, head regions, blur, config."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.types import Detections
from stages.annotate.blur import BlurAnnotator, BlurConfig
from stages.faces.aligner import similarity, template
from stages.faces.gallery import Gallery, GalleryError
from stages.faces.head import head_boxes
from stages.faces.voting import UNKNOWN, TrackVote, VoteRules

ROOT = Path(__file__).resolve().parents[1]
RULES = VoteRules(threshold=0.95, face_margin=0.1, min_votes=2, win_ratio=2.0)


def test_similarity_recovers_a_known_transform() -> None:
    src = template()
    angle, scale, shift = np.radians(17.0), 0.6, np.array([12.0, -5.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = (scale * (rot @ src.T)).T + shift
    m = similarity(src, dst)
    assert np.allclose(m[:, :2], scale * rot, atol=1e-6)
    assert np.allclose(m[:, 2], shift, atol=1e-4)


def test_one_face_never_names_a_track() -> None:
    vote = TrackVote()
    vote.add(RULES, "obama", 0.6, 1.3, 1.0)
    assert vote.identity is None
    vote.add(RULES, "obama", 0.65, 1.3, 1.0)
    assert vote.identity == "obama" and 0 < vote.score <= 1


def test_unknown_faces_never_vote_for_a_name_and_outvote_a_lucky_lookalike() -> None:
    vote = TrackVote()
    for distance in (1.2, 1.1, 1.3):  # a stranger: far from everyone ...
        assert vote.add(RULES, "obama", distance, 1.4, 1.0) is None
    assert vote.identity == UNKNOWN
    vote.add(RULES, "obama", 0.9, 1.3, 1.0)  # ... with two lucky look-alike frames
    vote.add(RULES, "obama", 0.92, 1.3, 1.0)
    assert vote.counts["obama"] == 2
    assert vote.identity == UNKNOWN  # 2 votes against 3 unknown attempts: not named


def test_an_ambiguous_face_votes_for_nobody() -> None:
    vote = TrackVote()
    for _ in range(3):  # within the threshold of obama, but biden is nearly as close
        assert vote.add(RULES, "obama", 0.7, 0.75, 1.0) is None
    assert vote.identity == UNKNOWN and not vote.counts


def test_a_name_needs_a_clear_margin_over_the_runner_up_name() -> None:
    vote = TrackVote()
    for name in ("obama", "biden", "obama", "biden"):
        vote.add(RULES, name, 0.6, 1.3, 1.0)
    assert vote.identity not in ("obama", "biden")
    for _ in range(4):
        vote.add(RULES, "obama", 0.6, 1.3, 1.0)
    assert vote.identity == "obama"


def test_settled_only_with_many_agreeing_faces() -> None:
    vote = TrackVote()
    for _ in range(3):
        vote.add(RULES, "obama", 0.6, 1.3, 1.0)
    assert not vote.settled(RULES)
    vote.add(RULES, "obama", 0.6, 1.3, 1.0)
    assert vote.settled(RULES)


def _unit(seed: int, dim: int = 512) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_gallery_matches_per_person_and_sees_other_writers(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    writer = Gallery(path, "facenet512", "vggface2-pb1", create=True)
    a, b = _unit(1), _unit(2)
    writer.add("alice", np.stack([a, _unit(3)]), ["a1.jpg", "a2.jpg"], [100, 90])
    reader = Gallery(path, "facenet512", "vggface2-pb1")
    assert reader.names() == ["alice"] and not reader.changed()
    writer.add("bob", b[None], ["b.jpg"], [80])
    assert reader.changed()
    reader.reload()
    (m,) = reader.match(a[None])
    assert m.name == "alice" and m.distance < 1e-5 and m.runner_up == "bob" and m.runner_up_distance > 1.0
    assert reader.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert writer.remove("alice") == 2 and writer.names() == ["bob"]


def test_gallery_of_another_embedder_or_not_a_gallery_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    Gallery(path, "facenet512", "vggface2-pb1", create=True).close()
    with pytest.raises(GalleryError, match="built with embedder facenet512 vggface2-pb1, not facenet512 other"):
        Gallery(path, "facenet512", "other")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(GalleryError, match="not an Argus face gallery"):
        Gallery(junk, "facenet512", "vggface2-pb1")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(GalleryError, match="not an Argus face gallery"):
        Gallery(other, "facenet512", "vggface2-pb1")
    with pytest.raises(GalleryError, match="no such gallery"):
        Gallery(tmp_path / "missing.db", "facenet512", "vggface2-pb1")


def _person(x1: float, y1: float, x2: float, y2: float, face: bool = True) -> tuple[np.ndarray, np.ndarray]:
    kps = np.zeros((17, 3), np.float32)
    if face:
        cx, top = (x1 + x2) / 2, y1 + 20
        kps[:5] = [[cx, top + 10, 0.9], [cx - 8, top, 0.9], [cx + 8, top, 0.9], [cx - 16, top + 2, 0.9],
                   [cx + 16, top + 2, 0.9]]
    return np.array([x1, y1, x2, y2], np.float32), kps


def _detections(rows: list[tuple[np.ndarray, np.ndarray]], identity: list[str | None] | None = None) -> Detections:
    det = Detections(np.stack([r[0] for r in rows]), np.full(len(rows), 0.9, np.float32),
                     np.zeros(len(rows), np.int32), np.arange(1, len(rows) + 1), np.stack([r[1] for r in rows]))
    if identity is not None:
        det = det.with_columns(identity=np.array(identity, dtype=object))
    return det


def test_head_regions_follow_face_keypoints_else_the_top_of_the_box() -> None:
    det = _detections([_person(100, 50, 180, 300), _person(300, 40, 400, 320, face=False)])
    heads = head_boxes(det)
    x1, y1, x2, y2 = heads[0]
    assert x1 < 124 and x2 > 156 and y1 < 70 and y2 > 80 and y2 < 150  # around the face points, not the legs
    x1, y1, x2, y2 = heads[1]
    assert y1 == pytest.approx(40) and x1 >= 300 and x2 <= 400 and y2 - y1 == pytest.approx(70)


def test_blur_unknown_faces_keeps_named_people_visible() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)
    det = _detections([_person(100, 50, 180, 300), _person(300, 40, 400, 320)], identity=["obama", UNKNOWN])
    out = BlurAnnotator(BlurConfig(what="unknown_faces")).annotate(image.copy(), det)
    named, stranger = head_boxes(det).astype(int)
    crop = (slice(named[1] + 2, named[3] - 2), slice(named[0] + 2, named[2] - 2))
    assert np.array_equal(out[crop], image[crop])
    crop = (slice(stranger[1] + 2, stranger[3] - 2), slice(stranger[0] + 2, stranger[2] - 2))
    assert out[crop].std() < image[crop].std() * 0.5
    everyone = BlurAnnotator(BlurConfig(what="faces")).annotate(image.copy(), det)
    crop = (slice(named[1] + 2, named[3] - 2), slice(named[0] + 2, named[2] - 2))
    assert everyone[crop].std() < image[crop].std() * 0.5
    assert np.array_equal(everyone[330:, :], image[330:, :])  # below the heads: untouched


def _check(tmp_path: Path, stages: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "c.yaml"
    config.write_text(f"sources:\n  - {{id: a, uri: demo}}\nstages:\n{stages}")
    return subprocess.run([sys.executable, "run.py", "check", str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_check_names_a_missing_gallery_and_a_missing_track_stage(tmp_path: Path) -> None:
    missing = _check(tmp_path, "  - {type: pose}\n  - {type: track}\n  - {type: face, gallery: nope.db}\n")
    assert missing.returncode == 2
    assert "stages.2.gallery" in missing.stderr and "no such gallery" in missing.stderr
    Gallery(tmp_path / "g.db", "facenet512", "vggface2-pb1", create=True).close()
    no_track = _check(tmp_path, f"  - {{type: pose}}\n  - {{type: face, gallery: {tmp_path / 'g.db'}}}\n")
    assert no_track.returncode == 2 and "stages.1 (face) needs track_ids" in no_track.stderr
    assert "stages.0 (pose)" in no_track.stderr and len(no_track.stderr.splitlines()) == 1, no_track.stderr
    gallery = tmp_path / "g.db"
    ok = _check(tmp_path, f"  - {{type: pose}}\n  - {{type: track}}\n  - {{type: face, gallery: {gallery}}}\n")
    assert ok.returncode == 0, ok.stderr
