"""Annotators: today's look by default, blur, labels from any column, config errors, through the video sink."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.source import StreamStart
from pipeline.types import Detections, Frame, Packet
from stages.annotate import (
    BlurAnnotator,
    BlurConfig,
    BoxAnnotator,
    LabelAnnotator,
    LabelConfig,
    annotate_frame,
    annotate_key,
    annotate_packet,
    build_annotators,
    track_color,
)
from stages.annotate.template import Template
from stages.sinks.video import VideoSink, VideoSinkConfig

# --- the drawing Argus had before annotators (stages/annotate.py at 100014f), kept as the reference ---

_SKELETON = ((0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10),
             (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16))


def legacy_draw_detections(image: np.ndarray, detections: Detections) -> np.ndarray:
    thickness = max(1, round(min(image.shape[:2]) / 360))
    for i in range(len(detections)):
        track_id = int(detections.track_id[i]) if detections.track_id is not None else -1
        color = track_color(track_id) if track_id >= 0 else (160, 160, 160)
        x1, y1, x2, y2 = (round(v) for v in detections.xyxy[i])
        cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        if detections.keypoints is not None:
            keypoints = detections.keypoints[i]
            visible = keypoints[:, 2] >= 0.5
            points = keypoints[:, :2].round().astype(np.int32)
            for a, b in _SKELETON:
                if visible[a] and visible[b]:
                    cv2.line(image, tuple(points[a]), tuple(points[b]), color, thickness, cv2.LINE_AA)
            for (x, y), ok in zip(points, visible, strict=True):
                if ok:
                    cv2.circle(image, (int(x), int(y)), thickness + 2, (255, 255, 255), -1, cv2.LINE_AA)
        label = f"{track_id} {detections.score[i]:.2f}" if track_id >= 0 else f"{detections.score[i]:.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thickness, thickness)
        top = max(y1, th + 4)
        cv2.rectangle(image, (x1, top - th - 4), (x1 + tw + 4, top), color, -1)
        cv2.putText(image, label, (x1 + 2, top - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thickness, (0, 0, 0),
                    thickness, cv2.LINE_AA)
    return image


# --- helpers ---

def people(width: int, height: int, track_ids: list[int] | None, extra: dict | None = None) -> Detections:
    """Side-by-side, non-overlapping people with COCO-17 keypoints (a few below 0.5 confidence)."""
    rng = np.random.default_rng(0)
    n = 3
    w = width / (n + 1)
    boxes, keypoints = [], []
    for i in range(n):
        x1, y1, x2, y2 = w * i + 5.3, height * 0.1 + i, w * (i + 1) - 5.6, height * 0.9 - 0.4
        boxes.append([x1, y1, x2, y2])
        kx = rng.uniform(x1 + 4, x2 - 4, 17)
        ky = rng.uniform(y1 + 30, y2 - 4, 17)
        keypoints.append(np.stack([kx, ky, rng.uniform(0.2, 1.0, 17)], axis=1))
    return Detections(xyxy=np.array(boxes), score=np.array([0.91, 0.456, 0.3]), class_id=np.zeros(n, np.int32),
                      track_id=None if track_ids is None else np.array(track_ids),
                      keypoints=np.array(keypoints), extra=extra)


def scene(width: int, height: int) -> np.ndarray:
    """A frame with fine detail everywhere: a 4-pixel checkerboard over a gradient."""
    y, x = np.mgrid[:height, :width]
    board = (((x // 4) + (y // 4)) % 2 * 160).astype(np.uint8)
    image = np.stack([board, board // 2 + (x % 90).astype(np.uint8), 255 - board], axis=2)
    return np.ascontiguousarray(image)


def detail(region: np.ndarray) -> float:
    """Fine detail in a region: variance of its Laplacian (edges, texture, facial features)."""
    return float(cv2.Laplacian(cv2.cvtColor(region, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def colours(region: np.ndarray) -> int:
    """How many distinct BGR colours a region has."""
    return len(np.unique(region.reshape(-1, 3), axis=0))


# --- the default list is today's look ---

@pytest.mark.parametrize("size", [(320, 240), (1280, 720), (1920, 1080)])  # thickness 1, 2, 3
@pytest.mark.parametrize("track_ids", [[3, -1, 12], None])
def test_default_annotators_draw_exactly_what_draw_detections_drew(size, track_ids) -> None:
    image = np.full((size[1], size[0], 3), 70, np.uint8)
    detections = people(*size, track_ids)
    expected = legacy_draw_detections(image.copy(), detections)
    drawn = annotate_frame(image, detections, build_annotators(True))
    assert (expected != image).any()  # the reference does draw
    np.testing.assert_array_equal(drawn, expected)
    assert (image == 70).all()  # annotate_frame draws on a copy


def test_false_or_empty_list_draws_nothing_and_empty_detections_are_fine() -> None:
    image = scene(160, 120)
    assert build_annotators(False) == [] and build_annotators([]) == []
    out = annotate_frame(image, people(160, 120, [1, 2, 3]), [])
    assert out is not image and np.array_equal(out, image)
    everything = build_annotators([{"type": "blur"}, {"type": "boxes"}, {"type": "skeleton"},
                                   {"type": "label", "text": "{identity} {track_id}"}])
    for empty in (Detections.empty(), Detections.empty(num_keypoints=17, with_track_id=True)):
        np.testing.assert_array_equal(annotate_frame(image, empty, everything), image)


# --- blur ---

@pytest.mark.parametrize("style", ["blur", "pixelate"])
def test_blur_removes_detail_inside_person_boxes_and_nothing_outside(style) -> None:
    image = scene(320, 240)
    detections = Detections(xyxy=np.array([[40.4, 30.2, 120.7, 200.9], [200, 40, 300, 140]]),
                            score=np.array([0.9, 0.9]), class_id=np.array([0, 2]))  # a person, a car
    out = BlurAnnotator(BlurConfig(style=style)).annotate(image.copy(), detections)
    inside = np.zeros(image.shape[:2], bool)
    inside[30:202, 40:121] = True  # the person's box, every partly covered pixel included
    np.testing.assert_array_equal(out[~inside], image[~inside])  # the car and the background untouched
    region, original = out[30:202, 40:121], image[30:202, 40:121]
    if style == "blur":
        assert detail(region) < 0.02 * detail(original), (detail(original), detail(region))
    else:  # 8 blocks across the 81-pixel width, 17 down: at most 136 colours are left
        assert colours(region) <= 8 * 17 < colours(original)
    # a face-sized patch (a third of the person's width) is one smooth ramp or a few blocks, not a checkerboard
    face = out[40:67, 67:94]
    assert colours(face) <= 9 if style == "pixelate" else np.ptp(face[..., 0].astype(int)) < 60


def test_fewer_cells_blur_more() -> None:
    image = scene(320, 240)
    person = Detections(xyxy=np.array([[10.0, 10.0, 310.0, 230.0]]), score=np.array([0.9]), class_id=np.array([0]))
    strong = BlurAnnotator(BlurConfig(cells=4)).annotate(image.copy(), person)
    mild = BlurAnnotator(BlurConfig(cells=40)).annotate(image.copy(), person)
    assert detail(strong[10:230, 10:310]) < detail(mild[10:230, 10:310]) < detail(image[10:230, 10:310])


def test_blur_before_boxes_keeps_the_boxes_sharp() -> None:
    image = scene(320, 240)
    detections = people(320, 240, [1, 2, 3])
    out = annotate_frame(image, detections, build_annotators([{"type": "blur"}, {"type": "boxes"}]))
    blurred = annotate_frame(image, detections, build_annotators([{"type": "blur"}]))
    np.testing.assert_array_equal(out, BoxAnnotator().annotate(blurred, detections))  # drawn in list order
    x1, y1, _, y2 = (round(v) for v in detections.xyxy[0])
    edge = np.abs(out[y1 + 2:y2 - 2, x1].astype(int) - track_color(1)).sum(axis=1)  # the left edge (anti-aliased)
    assert (edge < 60).all()


# --- labels ---

def test_label_template_fields() -> None:
    template = Template("{track_id} {score:.2f}")
    assert template.render({"track_id": np.int64(4), "score": np.float32(0.456)}) == "4 0.46"
    assert template.render({"track_id": np.int64(-1), "score": np.float32(0.456)}) == "0.46"  # untracked
    named = Template("{identity} ({action})")
    assert named.render({"identity": "ann", "action": None}) == "ann ()"
    assert named.render({"identity": None, "action": " "}) is None  # every field empty: no label
    assert Template("{identity} {track_id} {action}").render(
        {"identity": "ann", "track_id": None, "action": "waving"}) == "ann waving"
    assert Template("person").render({}) == "person"  # no fields: always drawn
    assert Template("{score:.0%}").render({"score": np.float32(np.nan)}) is None


@pytest.mark.skipif(not hasattr(Detections, "column"), reason="needs the extra columns of the data model")
def test_label_reads_a_text_column() -> None:
    image = np.full((240, 320, 3), 70, np.uint8)
    identity = np.array(["ann", None, "bob"], object)
    detections = people(320, 240, [1, 2, 3], extra={"identity": identity})
    out = LabelAnnotator(LabelConfig(text="{identity}")).annotate(image.copy(), detections)
    for i, name in enumerate(["ann", None, "bob"]):
        # the same row drawn with its name as literal text gives the same pixels; the unnamed row has none
        x1, y1, x2, _ = (round(v) for v in detections.xyxy[i])
        strip = np.s_[max(0, y1 - 20):y1 + 2, x1:x2]
        if name is None:
            assert (out[strip] == 70).all()
        else:
            alone = LabelAnnotator(LabelConfig(text=name)).annotate(image.copy(), detections[i])
            np.testing.assert_array_equal(out[strip], alone[strip])
            assert (out[strip] != 70).any()
    # an absent column is an empty field, not an error
    np.testing.assert_array_equal(
        LabelAnnotator(LabelConfig(text="{action}")).annotate(image.copy(), detections), image)


# --- config ---

def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(Path("cfg.yaml"), text=text)
    return info.value.lines


def sink_yaml(annotate: str) -> str:
    return f"sinks:\n  - type: video\n    annotate:\n{annotate}"


def test_config_accepts_true_false_and_a_list() -> None:
    config = load_config(Path("cfg.yaml"), text=sink_yaml(
        "      - {type: blur, what: persons, style: pixelate, cells: 6}\n"
        "      - {type: boxes}\n      - {type: label, text: '{identity}'}\n"))
    kinds = [(a.type, getattr(a, "text", None)) for a in config.sinks[0].annotate]
    assert kinds == [("blur", None), ("boxes", None), ("label", "{identity}")]
    assert config.sinks[0].annotate[0].cells == 6
    assert [a.type for a in VideoSinkConfig().annotate] == ["zones", "boxes", "skeleton", "label"]
    assert VideoSinkConfig(annotate=False).annotate == []
    assert VideoSinkConfig(annotate=True) == VideoSinkConfig.model_validate(VideoSinkConfig().model_dump())


def test_config_errors_name_line_key_and_fix() -> None:
    lines = errors_of(sink_yaml("      - {type: boxes}\n      - {type: blurr}\n"))
    assert lines == ["cfg.yaml:5: sinks.0.annotate.1.type: unknown annotator type 'blurr' (did you mean 'blur'?); "
                     "valid types: boxes, skeleton, label, blur, zones"]
    lines = errors_of(sink_yaml("      - type: label\n        text: '{identty} {score:.2f}'\n"))
    assert lines == ["cfg.yaml:5: sinks.0.annotate.0.text: unknown label field 'identty' (did you mean "
                     "'identity'?); known fields: track_id, score, class_id, class_name, set, identity, action"]
    lines = errors_of(sink_yaml("      - {type: blur, what: face, cell: 4}\n"))
    assert len(lines) == 2
    assert lines[0].startswith("cfg.yaml:4: sinks.0.annotate.0.what: ") and "'persons'" in lines[0]
    assert lines[1] == ("cfg.yaml:4: sinks.0.annotate.0.cell: unknown key 'cell' (did you mean 'cells'?); "
                        "'blur' takes: sets, what, style, cells")
    assert "format ':.2f' does not fit field 'identity' (text)" in errors_of(
        sink_yaml("      - {type: label, text: '{identity:.2f}'}\n"))[0]
    assert errors_of(sink_yaml("      - {text: '{score}'}\n"))[0].startswith(
        "cfg.yaml:4: sinks.0.annotate.0: missing 'type'; valid types: boxes")
    assert errors_of("sinks:\n  - {type: video, annotate: boxes}\n") == [
        "cfg.yaml:2: sinks.0.annotate: expected true, false or a list of annotators, e.g. "
        "[{type: blur, what: persons}, {type: boxes}, {type: label, text: '{track_id}'}]"]


def test_config_schema_offers_every_annotator() -> None:
    schema = VideoSinkConfig.model_json_schema()
    items = next(s for s in schema["properties"]["annotate"]["anyOf"] if s.get("type") == "array")["items"]
    assert set(items["discriminator"]["mapping"]) == {"boxes", "skeleton", "label", "blur", "zones"}
    for name in ("BlurConfig", "LabelConfig", "SkeletonConfig"):
        fields = schema["$defs"][name]["properties"]
        assert all("description" in f for key, f in fields.items() if key != "type"), name
        assert schema["$defs"][name]["additionalProperties"] is False


# --- end to end through the video sink ---

def test_video_sink_writes_blurred_people(tmp_path: Path) -> None:
    width, height, frames = 320, 240, 6
    config = VideoSinkConfig(path="{source_id}.mp4", annotate=[{"type": "blur", "what": "persons"}, {"type": "boxes"}])
    sink = VideoSink(config, tmp_path)
    sink.start_source(StreamStart("cam", "test", width, height, 25.0, frames))
    box = np.array([[60.0, 40.0, 140.0, 220.0]])
    detections = Detections(xyxy=box, score=np.array([0.9]), class_id=np.array([0]), track_id=np.array([5]))
    image = scene(width, height)
    for i in range(frames):
        sink.write(Packet(frame=Frame("cam", i, i / 25, image), detections=detections))
    sink.end_source("cam")
    sink.close()
    assert (image == scene(width, height)).all()  # the frame shared with other sinks is untouched
    with av.open(str(tmp_path / "cam.mp4")) as container:
        decoded = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(decoded) == frames
    last = decoded[-1]
    inside, outside = np.s_[50:210, 70:130], np.s_[50:210, 200:260]  # within the box (clear of its edges), beside it
    assert detail(last[inside]) < 0.05 * detail(last[outside]), (detail(last[inside]), detail(last[outside]))
    assert detail(last[outside]) > 0.5 * detail(image[outside])  # the encoder kept the detail elsewhere
    edge = last[130, 58:63].astype(int)  # the box's left edge, drawn after the blur in the track colour
    assert np.abs(edge - np.array(track_color(5))).sum(axis=1).min() < 60


def test_video_sink_takes_a_new_annotate_list_in_place(tmp_path: Path) -> None:
    sink = VideoSink(VideoSinkConfig(), tmp_path)
    assert sink.reconfigure(VideoSinkConfig(annotate=[{"type": "blur"}]))
    assert [type(a) for a in sink.annotators] == [BlurAnnotator]
    assert not sink.reconfigure(VideoSinkConfig(path="other.mp4", annotate=False))
    assert [type(a) for a in sink.annotators] == [BlurAnnotator]
    sink.close()


def test_outputs_with_the_same_annotate_value_draw_each_packet_once(tmp_path: Path) -> None:
    """Two video sinks with the default look (and the live preview's look) share one drawing per packet;
    another look draws its own; the shared drawing is read-only, so no output can spoil another's."""
    from argus.cli.serve.preview import annotated

    width, height = 320, 240
    a, b = VideoSink(VideoSinkConfig(path="a.mp4"), tmp_path), VideoSink(VideoSinkConfig(path="b.mp4"), tmp_path)
    blurred = VideoSink(VideoSinkConfig(path="c.mp4", annotate=[{"type": "blur"}]), tmp_path)
    sinks = (a, b, blurred)
    for sink in sinks:
        sink.start_source(StreamStart("cam", "test", width, height, 25.0, 3))
    image = scene(width, height)
    rows = people(width, height, [3, 7, -1])
    packets = [Packet(frame=Frame("cam", i, i / 25, image), detections=rows) for i in range(3)]
    for packet in packets:
        for sink in sinks:
            sink.write(packet)
        assert len(packet.drawn) == 2  # the default look once, the blur once
        shared = packet.drawn[annotate_key(True)]
        assert not shared.flags.writeable
        assert (shared == annotate_frame(image, packet.detections, build_annotators(True))).all()
        assert annotate_packet(packet, build_annotators(True), annotate_key(True)) is shared
        assert annotated(packet, max_width=width, overlays=True) is shared  # the live view reuses it
        assert annotated(packet, max_width=width) is shared  # and the preview (without overlays: none here)
    for sink in sinks:
        sink.close()
    assert (image == scene(width, height)).all()
    for name in ("a", "b"):
        with av.open(str(tmp_path / f"{name}.mp4")) as container:
            assert len(list(container.decode(video=0))) == 3
