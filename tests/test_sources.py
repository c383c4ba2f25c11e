"""Sources: kind inference, image folders, file lists, the demo clip, clear open errors."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.config import SourceConfig
from pipeline.errors import SourceOpenError
from pipeline.source import StreamEnd, StreamStart
from pipeline.types import Frame
from stages.sources import infer_kind, make_source
from tests.conftest import write_video


def items_of(source) -> list:
    source.open()
    try:
        return list(source.items(threading.Event()))
    finally:
        source.close()


@pytest.mark.parametrize(("uri", "kind"), [
    ("demo", "demo"), ("rtsp://cam/1", "rtsp"), ("0", "webcam"), ("clips/*.mp4", "files"), ("a.mp4", "video"),
])
def test_infer_kind(uri: str, kind: str) -> None:
    assert infer_kind(uri) == kind


def test_image_folder_source(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((40, 60, 3), i * 50, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    items = items_of(make_source(SourceConfig(id="imgs", uri=str(tmp_path))))
    assert isinstance(items[0], StreamStart) and (items[0].width, items[0].height) == (60, 40)
    frames = [i for i in items if isinstance(i, Frame)]
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 50, 100]
    assert items[-1] == StreamEnd("imgs")


def test_glob_plays_each_file_as_its_own_stream(tmp_path: Path) -> None:
    write_video(tmp_path / "b.mp4", 5)
    write_video(tmp_path / "a.mp4", 7)
    source = make_source(SourceConfig(id="clips", uri=str(tmp_path / "*.mp4")))
    items = items_of(source)
    starts = [i.source_id for i in items if isinstance(i, StreamStart)]
    assert starts == ["clips/a", "clips/b"]
    assert sum(isinstance(i, Frame) for i in items) == 12 and source.total_frames() == 12


@pytest.mark.parametrize(("uri", "reason"), [("missing.mp4", "no such file"), ("*.nothing", "no files matched")])
def test_open_errors_name_source_and_path(tmp_path: Path, uri: str, reason: str) -> None:
    source = make_source(SourceConfig(id="s", uri=str(tmp_path / uri)))
    with pytest.raises(SourceOpenError, match=f"^source 's': cannot open .*: {reason}$"):
        source.open()


def test_not_a_video_file_is_an_open_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.mp4"
    path.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SourceOpenError, match=r"^source 'f': cannot open .*fake\.mp4: "):
        make_source(SourceConfig(id="f", uri=str(path))).open()


def test_demo_clip_is_ten_seconds_of_moving_photos() -> None:
    pytest.importorskip("ultralytics", reason="the demo is made from ultralytics' sample images")
    items = items_of(make_source(SourceConfig(id="demo", uri="demo")))
    frames = [i for i in items if isinstance(i, Frame)]
    assert len(frames) == 250 and frames[-1].pts_s == pytest.approx(9.96)
    assert frames[0].image.shape == (720, 960, 3)
    assert not np.array_equal(frames[0].image, frames[60].image)  # it moves
