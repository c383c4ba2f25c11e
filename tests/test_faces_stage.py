"""The face stage in a full pipeline (pose -> track -> face) on a clip built from the shared photos:
an enrolled person panning across the frame is named on their track, once; a second person who is
not enrolled enters and stays unknown; an enrolment made while the pipeline runs is picked up."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import FACES_DATA, faces_marks

DATA = FACES_DATA
pytestmark = faces_marks()
FRAMES = 60


def _square(image: np.ndarray, side: int) -> np.ndarray:
    scale = side / min(image.shape[:2])
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    top, left = (h - side) // 2, (w - side) // 2
    return image[top:top + side, left:left + side]


def make_clip(out: Path, frames: int = FRAMES) -> Path:
    """960x540 frames at 10 FPS: obama pans left to right; from a third of the way a second person
    (alex_lacamoire, not enrolled) slides in from the right."""
    out.mkdir(parents=True, exist_ok=True)
    known = _square(cv2.imread(str(DATA / "test" / "obama1.jpg")), 300)
    stranger = _square(cv2.imread(str(DATA / "test" / "alex_lacamoire1.jpg")), 300)
    for i in range(frames):
        frame = np.full((540, 960, 3), 90, np.uint8)
        x = 40 + 3 * i
        frame[120:420, x:x + 300] = known
        if i >= frames // 3:
            xs = max(600, 960 - 6 * (i - frames // 3) - 60)
            frame[100:400, xs:xs + 300][:, : 960 - xs] = stranger[:, : 960 - xs]
        cv2.imwrite(str(out / f"{i:04d}.jpg"), frame)
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "frames")


@pytest.fixture(scope="module")
def recognizer():
    from stages.faces.recognizer import Recognizer

    r = Recognizer(backend="openvino", device="cpu")
    yield r
    r.close()


def _gallery(path: Path, recognizer, people: list[str]):
    from argus.tools.faces.evaluate import enrol_train

    return enrol_train(recognizer, path, DATA, people)


def _config(clip: Path, gallery: Path, out: Path, **face: object) -> dict:
    return {"sources": [{"id": "clip", "uri": str(clip), "fps": 10}],
            "stages": [{"type": "pose"}, {"type": "track"},
                       {"type": "face", "gallery": str(gallery), "every_n_frames": 3, "backend": "openvino", **face}],
            "sinks": [{"type": "detections", "path": "detections.jsonl"}, {"type": "events", "path": "events.jsonl"},
                      {"type": "video", "path": "{source_id}.mp4",
                       "annotate": [{"type": "blur", "what": "unknown_faces"}, {"type": "boxes"},
                                    {"type": "label", "text": "{track_id} {identity}"}]}],
            "output_dir": str(out), "runner": {"progress": False}}


def _tracks(out: Path) -> dict[int, dict[str, object]]:
    """Per track id: the box x of its first row, its identities in frame order."""
    tracks: dict[int, dict[str, object]] = {}
    for line in (out / "detections.jsonl").read_text().splitlines():
        for row in json.loads(line)["detections"]:
            if row["track_id"] < 0:
                continue
            t = tracks.setdefault(row["track_id"], {"x": row["box"][0], "ids": []})
            t["ids"].append(row.get("identity"))  # type: ignore[union-attr]
    return tracks


@pytest.mark.parametrize("region", ["head", "frame"])
def test_voted_identity_per_track_on_a_clip(tmp_path: Path, clip: Path, recognizer, region: str) -> None:
    from pipeline import Pipeline

    gallery = _gallery(tmp_path / "g.db", recognizer, ["obama", "kit_harington"])
    gallery.close()
    code = Pipeline.from_config(_config(clip, tmp_path / "g.db", tmp_path / "out", region=region)).run()
    assert code == 0
    tracks = _tracks(tmp_path / "out")
    known = [t for t in tracks.values() if float(t["x"]) < 480]  # type: ignore[arg-type]
    strangers = [t for t in tracks.values() if float(t["x"]) >= 480]  # type: ignore[arg-type]
    assert len(known) == 1 and strangers
    ids = known[0]["ids"]
    assert ids[-1] == "obama" and ids.count("obama") >= len(ids) - 10  # type: ignore[union-attr]
    assert set(ids) <= {None, "obama"}  # type: ignore[arg-type]
    for t in strangers:
        assert "obama" not in t["ids"] and "kit_harington" not in t["ids"]  # type: ignore[operator]
        assert t["ids"][-1] == "unknown"  # type: ignore[index]
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    recognized = [e for e in events if e["type"] == "face_recognized"]
    assert len(recognized) == 1
    assert recognized[0]["name"] == "obama" and recognized[0]["faces"] >= 2 and 0 < recognized[0]["confidence"] <= 1
    assert (tmp_path / "out" / "clip.mp4").stat().st_size > 0


def test_an_enrolment_made_while_running_is_picked_up(tmp_path: Path, clip: Path, recognizer) -> None:
    from argus.tools.faces.enrol import check_faces, image_files
    from pipeline import Pipeline

    gallery = _gallery(tmp_path / "g.db", recognizer, ["kit_harington"])
    accepted, problems = check_faces(recognizer, image_files([str(DATA / "train" / "obama")]), largest=True)
    assert not problems
    seen: list[str | None] = []
    pipeline = Pipeline.from_config(_config(clip, tmp_path / "g.db", tmp_path / "out", reload_s=0.1))
    for packet in pipeline.packets():
        if packet.frame.index == 15:  # obama's track is unknown by now; enrol him from another connection
            gallery.add("obama", np.stack([a.face.embedding for a in accepted]), ["a", "b"], [200, 200])
        identity = packet.detections.column("identity")
        if packet.frame.index < 15 and identity is not None:
            seen.extend(identity.tolist())
        last = identity
    gallery.close()
    assert "obama" not in seen and "unknown" in seen
    assert last is not None and "obama" in last.tolist()


class _NoNetworks:
    """Stands in for the detector + embedder where a test needs the stage's logic only."""

    gates = None

    def close(self) -> None:
        pass


def test_thresholds_change_in_place_networks_need_a_rebuild(tmp_path: Path) -> None:
    from stages.faces.gallery import Gallery
    from stages.faces.stage import FaceConfig, FaceStage

    Gallery(tmp_path / "g.db", "facenet512", "vggface2-pb1", create=True).close()
    config = FaceConfig(gallery=str(tmp_path / "g.db"))
    stage = FaceStage(config, recognizer=_NoNetworks())  # type: ignore[arg-type]
    assert stage.reconfigure(config.model_copy(update={"threshold": 0.8, "every_n_frames": 2}))
    assert stage.rules.threshold == 0.8 and stage.config.every_n_frames == 2
    assert not stage.reconfigure(config.model_copy(update={"backend": "onnxruntime"}))
    assert stage.rules.threshold == 0.8
    Gallery(tmp_path / "g2.db", "facenet512", "vggface2-pb1", create=True).close()
    assert stage.reconfigure(stage.config.model_copy(update={"gallery": str(tmp_path / "g2.db")}))
    assert stage.gallery.path == tmp_path / "g2.db"
    stage.close()
