"""Sources: kinds as plugins (a config model per kind, chosen by `kind:` or the URI), image folders,
file lists, the demo clip, clear open errors."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline.config import SourceConfig, load_config
from pipeline.errors import ConfigError, SourceOpenError
from pipeline.pipeline import _source_config
from pipeline.registry import default_registry
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


@pytest.mark.parametrize(("entry", "model", "kind"), [
    ({"uri": "demo"}, "DemoSourceConfig", "demo"),
    ({"uri": "rtsp://u:p@cam/1", "transport": "udp", "open_timeout_s": 2, "reconnect": False,
      "reconnect_max_s": 3}, "RtspSourceConfig", "rtsp"),
    ({"uri": "https://cam/stream.m3u8"}, "RtspSourceConfig", "rtsp"),
    ({"uri": "0"}, "WebcamSourceConfig", "webcam"),
    ({"uri": "clips/*.mp4", "max_frames": 5}, "FilesSourceConfig", "files"),
    ({"uri": "a.mp4", "loop": True, "realtime": True, "queue_size": 4}, "VideoSourceConfig", "video"),
    ({"uri": "a.mp4", "kind": "auto", "frame_interval": 2}, "VideoSourceConfig", "video"),
    ({"uri": "anything", "kind": "rtsp", "transport": "tcp"}, "RtspSourceConfig", "rtsp"),
])
def test_each_kind_has_its_own_config_model(entry: dict, model: str, kind: str) -> None:
    """Today's entries (`{id, uri}` plus their kind's keys) still validate, now as their kind's model."""
    config = load_config(text="", replace={"sources": [{"id": "s", **entry}]})
    source = config.sources[0]
    assert (type(source).__name__, source.kind) == (model, kind)
    assert source.model_dump(exclude_unset=True).items() >= {k: v for k, v in entry.items() if k != "kind"}.items()


def test_image_folder_kind_and_fps(tmp_path: Path) -> None:
    config = load_config(text="", replace={"sources": [{"id": "s", "uri": str(tmp_path), "fps": 5}]})
    assert config.sources[0].kind == "images" and config.sources[0].fps == 5


def test_core_source_config_holds_only_the_common_keys() -> None:
    assert set(SourceConfig.model_fields) == {"id", "uri", "kind", "max_frames", "frame_interval", "queue_size",
                                               "motion"}
    assert list(default_registry().sources) == ["demo", "rtsp", "webcam", "files", "images", "video"]


@pytest.mark.parametrize(("entry", "message"), [
    ("{id: a, uri: 'rtsp://cam/1', loop: true}",
     "cfg.yaml:2: sources.0.loop: unknown key 'loop' for a source of kind 'rtsp' (from its uri); "
     "'loop' belongs to kind video"),
    ("{id: a, uri: a.mp4, kind: camera}",
     "cfg.yaml:2: sources.0.kind: unknown source kind 'camera'; valid kinds: auto, demo, rtsp, webcam, files, "
     "images, video"),
    ("{id: a, uri: cam, kind: webcam}", "cfg.yaml:2: sources.0.uri: a webcam's uri is its index, e.g. '0'"),
    ("{id: a, uri: 'rtsp://cam/1', transprt: udp}",
     "cfg.yaml:2: sources.0.transprt: unknown key 'transprt' (did you mean 'transport'?)"),
])
def test_source_errors_are_one_line_naming_file_line_and_key(entry: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(Path("cfg.yaml"), text=f"sources:\n  - {entry}\n")
    assert str(info.value).splitlines() == [message]


def test_added_source_is_validated_as_its_kind() -> None:
    assert type(_source_config({"id": "c", "uri": "rtsp://cam/1", "transport": "udp"})).__name__ == "RtspSourceConfig"
    assert _source_config(SourceConfig(id="d", uri="demo")).kind == "demo"
    with pytest.raises(ConfigError) as info:
        _source_config({"id": "c", "uri": "rtsp://cam/1", "fps": 3})
    assert str(info.value) == "source: fps: unknown key 'fps'"


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


def test_bgr_frames_give_pyav_own_pixels_through_one_reused_context() -> None:
    from stages.sources.video import BgrFrames

    rng = np.random.default_rng(3)
    bgr = BgrFrames()
    for width, height in ((64, 48), (32, 24), (64, 48)):  # a size change (an RTSP reconnect) mid-stream
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
        out = bgr(frame)
        assert out.shape == (height, width, 3) and np.array_equal(out, frame.to_ndarray(format="bgr24"))
