"""`python -m argus.tools.tracking.pets`: a dctracking-style PETS clip becomes a sequence `bench detection` reads."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from argus.benchmarks.detection import frame_sequences, ground_truth
from argus.tools.tracking.pets import NAME, main


def _checkout(root, frames: int = 3):
    source = root / "data" / "PETS" / "S3-MF1"
    (source / "img").mkdir(parents=True)
    (source / "gt").mkdir()
    for n in range(1, frames + 1):
        cv2.imwrite(str(source / "img" / f"frame_{n:04d}.jpg"), np.full((576, 768, 3), 40 * n, np.uint8))
    rows = [f"{f},1,{100 + f},200,34,100,-1,-1,-1,0" for f in range(1, frames + 1)]
    rows += ["2,2,400,250,30,90,-1,-1,-1,0"]
    (source / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    return root


def test_lays_out_frames_and_ground_truth_as_a_mot_sequence(tmp_path, capsys) -> None:
    checkout = _checkout(tmp_path / "dctracking")
    assert main([str(checkout), str(tmp_path / "out")]) == 0
    assert "bench detection" in capsys.readouterr().out
    [seq] = frame_sequences(tmp_path / "out")
    assert seq.name == NAME
    assert sorted(p.name for p in (seq / "img1").iterdir()) == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert cv2.imread(str(seq / "img1" / "000002.jpg"))[0, 0, 0] == pytest.approx(80, abs=2)  # frame 2 is frame 2
    gt = ground_truth(seq)
    assert [len(gt[f]) for f in (1, 2, 3)] == [1, 2, 1]
    assert gt[2][1].tolist() == [400, 250, 430, 340]


def test_a_folder_that_is_not_a_checkout_is_one_line_naming_it(tmp_path, capsys) -> None:
    assert main([str(tmp_path), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "S3-MF1" in err and "gt/gt.txt" in err


def test_a_gap_in_the_frame_numbers_is_refused(tmp_path, capsys) -> None:
    checkout = _checkout(tmp_path / "dctracking")
    (checkout / "data" / "PETS" / "S3-MF1" / "img" / "frame_0002.jpg").unlink()
    assert main([str(checkout), str(tmp_path / "out")]) == 2
    assert "without gaps" in capsys.readouterr().err
