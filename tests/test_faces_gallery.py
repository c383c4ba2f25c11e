"""`run.py faces ...` on the shared face photos: enrolment refuses what would poison the gallery
(one line naming the file, nothing written), identify names test photos, evaluation figures."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest

from argus.cli.main import main
from tests.conftest import FACES_DATA, faces_marks

DATA = FACES_DATA
pytestmark = faces_marks()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["faces", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _count(gallery: Path) -> int:
    return sqlite3.connect(gallery).execute("SELECT count(*) FROM faces").fetchone()[0]


@pytest.fixture(scope="module")
def bad_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    obama = cv2.imread(str(DATA / "train" / "obama" / "obama.jpg"))  # face about 240 px wide
    paths = {"text": folder / "notes.jpg", "empty": folder / "wall.png", "small": folder / "small.jpg",
             "blurred": folder / "blurred.jpg", "two": DATA / "variants" / "two_people.jpg"}
    paths["text"].write_text("not an image")
    cv2.imwrite(str(paths["empty"]), np.full((400, 400, 3), 128, np.uint8))
    cv2.imwrite(str(paths["small"]), cv2.resize(obama, None, fx=0.15, fy=0.15, interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(paths["blurred"]), cv2.GaussianBlur(obama, (0, 0), 10))
    return paths


def test_enrol_refuses_bad_images_one_line_each_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bad_images: dict[str, Path]) -> None:
    gallery = tmp_path / "g.db"
    code, _, _ = _run(capsys, "enroll", "--gallery", str(gallery), "obama", str(DATA / "train" / "obama"))
    assert code == 0 and _count(gallery) == 2
    expected = {"text": "not an image", "empty": "no face found", "small": "face too small",
                "blurred": "face too blurred", "two": "2 faces found (use --largest"}
    for key, message in expected.items():
        code, _, err = _run(capsys, "enroll", "--gallery", str(gallery), "someone", str(bad_images[key]))
        lines = [line for line in err.splitlines() if str(bad_images[key]) in line]
        assert code == 2 and len(lines) == 1 and message in lines[0], (key, err)
    # one bad file among good ones: nothing of the batch is written
    code, _, err = _run(capsys, "enroll", "--gallery", str(gallery), "obama",
                        str(DATA / "test" / "obama1.jpg"), str(bad_images["empty"]))
    assert code == 2 and "nothing enrolled" in err
    assert _count(gallery) == 2


def test_enrol_refuses_a_wrong_person_under_a_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gallery = tmp_path / "g.db"
    assert _run(capsys, "enroll", "--gallery", str(gallery), "obama", str(DATA / "train" / "obama"))[0] == 0
    assert _run(capsys, "enroll", "--gallery", str(gallery), "biden", str(DATA / "train" / "biden"),
                "--largest")[0] == 0
    code, _, err = _run(capsys, "enroll", "--gallery", str(gallery), "biden", str(DATA / "test" / "obama1.jpg"))
    assert code == 2 and "looks like the enrolled obama" in err
    code, _, err = _run(capsys, "enroll", "--gallery", str(gallery), "obama",
                        str(DATA / "test" / "alex_lacamoire1.jpg"))
    assert code == 2 and "does not look like the enrolled obama" in err
    assert _count(gallery) == 4
    code, out, _ = _run(capsys, "list", "--gallery", str(gallery), "--json")
    assert code == 0 and sorted(json.loads(out)["people"]) == ["biden", "obama"]
    assert _run(capsys, "remove", "--gallery", str(gallery), "biden")[0] == 0
    assert _count(gallery) == 2


def test_identify_names_enrolled_people_and_leaves_strangers_unknown(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gallery = tmp_path / "g.db"
    for person in ("obama", "kit_harington"):  # biden and rose_leslie are strangers here
        assert _run(capsys, "enroll", "--gallery", str(gallery), person, str(DATA / "train" / person))[0] == 0
    code, out, _ = _run(capsys, "identify", "--gallery", str(gallery), "--json",
                        str(DATA / "test" / "obama_and_biden.jpg"), str(DATA / "test" / "kit_with_rose.jpg"))
    assert code == 0
    result = {Path(r["file"]).name: sorted(f["name"] for f in r["faces"]) for r in json.loads(out)}
    assert result["obama_and_biden.jpg"] == ["obama", "unknown", "unknown"]
    assert result["kit_with_rose.jpg"] == ["kit_harington", "unknown"]
    face = json.loads(out)[0]["faces"][0]
    assert {"box", "landmarks", "name", "distance", "runner_up", "runner_up_distance"} <= set(face)


def test_a_gallery_of_another_embedder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gallery = tmp_path / "g.db"
    assert _run(capsys, "enroll", "--gallery", str(gallery), "obama", str(DATA / "train" / "obama"))[0] == 0
    other = tmp_path / "other.db"
    shutil.copy(gallery, other)
    db = sqlite3.connect(other)
    db.execute("UPDATE meta SET value='dlib-v1' WHERE key='version'")
    db.commit()
    db.close()
    code, _, err = _run(capsys, "identify", "--gallery", str(other), str(DATA / "test" / "obama1.jpg"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "built with embedder facenet512 dlib-v1" in err


def test_evaluation_on_the_shared_photos() -> None:
    from argus.tools.faces.evaluate import evaluate

    result = evaluate(DATA, sizes=(32, 12))
    assert result["test"]["precision"] == 1.0 and result["test"]["recall"] == 1.0, result["test"]
    assert result["variants"]["fp"] == 0
    assert result["test_distances"]["match_max"] < result["threshold"] < result["test_distances"]["non_match_min"]
    assert result["test_by_face_width"][32]["recall"] == 1.0
    assert result["test_by_face_width"][12]["fp"] == 0  # tiny faces may be missed, never misnamed
