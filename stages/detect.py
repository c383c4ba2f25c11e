"""The `detect` stage: a YOLO model (detection or pose) run on whole frames, in batches across sources.

It writes one named detection set (`output:`), whose rows carry `class_id` and `class_name`, and puts
the model's facts (task, class names, appearance head, score bands) on each packet for later stages.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from pipeline.detection_sets import replace_set
from pipeline.errors import ModelError
from pipeline.types import Detections, Event, FeatureMap, Packet
from stages.model_stage import RuntimeSettings, load_recipe
from stages.models.appearance import pool_embeddings
from stages.models.builtin import BUILTIN_MODELS
from stages.models.feature_taps import feature_stride
from stages.models.ultralytics import check_model_reference
from stages.models.yolo import AUTO_SIDES, Letterbox, YoloAdapter
from stages.models.yolo_recipe import model_facts, yolo_recipe

log = logging.getLogger(__name__)
# Settings a running stage takes in place (`reconfigure`); any other change needs a new model or engine.
IN_PLACE = frozenset({"score_min", "iou_max", "max_det", "classes", "embeddings", "feature_maps", "every_frames"})


class YoloConfig(RuntimeSettings):
    """A YOLO detection or pose model (ultralytics .pt or exported .onnx) run on whole frames."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"boxes", "classes", "embeddings"})

    model: str = Field("yolov8n", description="Built-in model name (yolov8n: COCO-80 detector; yolo11n-pose: "
                       "people with 17 keypoints) or a path to an ultralytics .pt or .onnx file.")
    imgsz: int | Literal["auto"] = Field(
        "auto", description="Long side of the network input (a multiple of 32; the short side follows the frame's "
        "aspect ratio); auto: 3/4 of the frame's long side, at least 640 and at most 1280, so far people keep most "
        "of the pixels the camera gave them (480x360 and 768x576 get 640, 720p 960, 1080p 1280: up to 4x the "
        "cost of 640; set 640 for speed).")
    score_min: float = Field(0.25, ge=0.0, le=1.0, description="Drop detections scoring below this.")
    iou_max: float = Field(0.7, gt=0.0, le=1.0, description="NMS: suppress boxes overlapping a better one "
                           "by more than this IoU.")
    max_det: int = Field(300, ge=1, description="Most detections kept per frame.")
    classes: list[int | str] | None = Field(None, description="Classes to keep, by name (`[person, car]`) "
                                            "or id (None = all).")
    output: str = Field("objects", pattern=r"^[A-Za-z0-9_.-]+$", description="Name of the detection set "
                        "this stage writes (later stages read it with `input:`).")
    embeddings: bool = Field(True, description="Give every detection an appearance embedding pooled "
                             "from the model's own early feature map (the tracker uses it to tell "
                             "people apart and re-identify them); about 0.1 ms per person.")
    feature_maps: bool = Field(False, description="Attach each frame's feature map to the packet for "
                               "later stages (the track stage's single_object tracker needs it).")
    every_frames: int = Field(1, ge=1, le=100, description="Run the model on every N-th frame of each stream "
                              "(1: every frame). On the frames between, the set keeps the rows of the last "
                              "frame it ran on, marked `carried`, and a track stage reading the set moves "
                              "them with their tracks' motion: about 1/N of the model's cost, for boxes that "
                              "lag new people and sudden turns by up to N-1 frames.")

    @field_validator("imgsz", mode="before")
    @classmethod
    def _imgsz_steps(cls, imgsz: object) -> int | str:
        """One message for any bad value ('auto' or a multiple of 32), not one per member of the union."""
        if imgsz == "auto":
            return "auto"
        try:
            value = int(imgsz)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            value = None
        if value is None or isinstance(imgsz, bool) or value != imgsz or not (32 <= value <= 4096 and value % 32 == 0):
            raise ValueError(f"imgsz must be 'auto' or a multiple of 32 from 32 to 4096, got {imgsz!r}")
        return value

    def recipe_imgsz(self) -> tuple[int, int]:
        """(the input size INT8 is calibrated at, the largest input side the engine must take): for auto,
        calibrated at 640 (the ranges hold at other sizes) and run up to 1280."""
        return (AUTO_SIDES[0], AUTO_SIDES[1]) if self.imgsz == "auto" else (self.imgsz, self.imgsz)

    @field_validator("model")
    @classmethod
    def _model_exists(cls, model: str) -> str:
        problem = check_model_reference(model)
        if problem:
            raise ValueError(problem)
        return model

    @model_validator(mode="after")
    def _known_classes(self) -> YoloConfig:
        builtin = BUILTIN_MODELS.get(self.model)
        if builtin is not None and self.classes is not None:
            class_ids(self.classes, dict(enumerate(builtin.class_names)), f"model {self.model}")
        return self

    def provides(self) -> tuple[str, frozenset[str]]:
        """The set this stage writes and what its rows carry."""
        builtin = BUILTIN_MODELS.get(self.model)
        keypoints = {"keypoints"} if builtin is None or builtin.task == "pose" else set()
        return self.output, self.capabilities | keypoints


class DetectConfig(YoloConfig):
    """`type: detect`: a YOLO model on whole frames (default: the built-in COCO-80 detector)."""

    type: Literal["detect"] = "detect"


def carry_set(packet: Packet, name: str, rows: Detections) -> None:
    """A frame the model of set `name` skipped (`every_frames`): `rows`, from the last frame it ran on,
    become the set, marked `carried`, and the packet lists the set in `skipped` (a track stage then moves
    them with their tracks)."""
    packet.detections = replace_set(packet.detections, name, rows.with_columns(carried=np.ones(len(rows), bool)))
    packet.skipped.add(name)


def class_ids(classes: Sequence[int | str], names: dict[int, str], what: str) -> list[int]:
    """Class ids for a `classes:` list of names or ids; ValueError naming the unknown one and listing
    the model's classes."""
    by_name = {name: i for i, name in names.items()}
    ids = []
    for item in classes:
        if isinstance(item, int) and item in names:
            ids.append(item)
        elif isinstance(item, str) and item in by_name:
            ids.append(by_name[item])
        else:
            listed = ", ".join(names.values())
            raise ValueError(f"unknown class {item!r} for {what} (its classes: {listed})")
    return ids


class YoloStage:
    """Runs the model on a batch, one call per group of same-shaped frames (frames of one camera
    share a shape, so a batch from several cameras usually needs one call per camera size).

    On an engine with `submit`/`result` (OpenVINO) each frame is letterboxed and submitted as soon as
    it is ready, and decoded as soon as its own request is done, so the next frame's letterbox and the
    previous frame's decoding and pooling overlap inference instead of waiting for the whole batch.
    At imgsz 960 on vtest.mp4 (INT8, 2-core AMD EPYC, `bench pipeline --compare none`, 2 rounds
    alternated) that ran 49.9 FPS against 47.4 for one call per batch of 4, and 51.2 against 51.9
    for batches of 8: the gain is the barrier at the end of each batch, which larger batches also hide.
    """

    motion_gated = True  # still frames keep the last rows (pipeline/motion.py)

    def __init__(self, config: YoloConfig) -> None:
        self.name = config.type
        self.config = config
        self._what = f"stage '{config.id or config.type}' model {config.model}"
        try:
            recipe = yolo_recipe(config.model, *config.recipe_imgsz())
        except ModelError as exc:
            raise ModelError(f"{self._what}: {exc}") from None
        self.choice, engine = load_recipe(recipe, config, self._what)
        try:
            imgsz = None if config.imgsz == "auto" else config.imgsz
            self.adapter = YoloAdapter(engine, imgsz=imgsz, score_min=config.score_min,
                                       iou_max=config.iou_max, max_det=config.max_det, name=self._what)
            self.facts = model_facts(config.model, self.adapter)
            self._set_filters(config)
        except (ModelError, ValueError) as exc:
            engine.close()
            raise ModelError(str(exc) if isinstance(exc, ModelError) else f"{self._what}: {exc}") from None
        self.detector = self.facts.name
        self._input_name = self.adapter.input.name
        self._output_name = self.adapter.output.name
        self._feature_name = self._features_used(config)
        self._buffers: dict[tuple[int, int], np.ndarray] = {}
        self._last: dict[str, Detections] = {}  # stream -> the set's rows on the last frame the model ran on
        self._waited: dict[str, int] = {}  # stream -> frames the model skipped since it last ran on it

    def _score_min(self, config: YoloConfig) -> float:
        """The score below which decoded boxes are dropped."""
        return config.score_min

    def _set_filters(self, config: YoloConfig) -> None:
        ids = None if config.classes is None else class_ids(config.classes, self.adapter.names, self._what)
        self.adapter.set_filters(score_min=self._score_min(config), iou_max=config.iou_max,
                                 max_det=config.max_det, classes=ids)
        self._names = np.array([self.adapter.names.get(i, str(i)) for i in range(max(self.adapter.names) + 1)],
                               dtype=object)

    def _features_used(self, config: YoloConfig) -> str | None:
        """The feature-map output to read, or None when neither embeddings nor feature maps are wanted."""
        feature_name = next(iter(self.adapter.feature_outputs), None)
        wanted = config.embeddings or config.feature_maps
        if feature_name is None and wanted:
            log.warning("%s has no feature-map output (an ONNX file not exported by Argus): no appearance "
                        "embeddings, tracking uses motion only", self._what)
        return feature_name if wanted else None

    def reconfigure(self, config: YoloConfig) -> bool:
        """Take `config` in place when only `IN_PLACE` settings changed (thresholds, classes, embeddings,
        feature maps) and return True; return False, changing nothing, when it needs another model or
        engine (model, imgsz, backend, precision, device, threads, calib, cuda_graph, type, output)."""
        keep = self._in_place(config)
        if keep is None or type(config) is not type(self.config) or (
                config.model_dump(exclude=keep) != self.config.model_dump(exclude=keep)):
            return False
        try:
            self._set_filters(config)
        except ValueError:
            self._set_filters(self.config)
            return False
        self._feature_name = self._features_used(config)
        self.config = config
        return True

    def _in_place(self, config: YoloConfig) -> frozenset[str] | None:
        """The settings `config` may change in place (None: none, it needs a rebuild)."""
        return IN_PLACE

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        for _ in self.stream(batch):
            pass
        return list(batch)

    def stream(self, packets: Iterable[Packet]) -> Iterator[Packet]:
        """`process`, yielding each packet as soon as its rows are decoded and every packet before it is
        out, so the pipeline hands it to the next stages while the model still runs on the rest of the
        batch (`pipeline/stage_chain.py`); packets come out in the order they came in."""
        batch = list(packets)
        skip = self._skipped(batch)
        groups: dict[tuple[int, int], list[Packet]] = defaultdict(list)
        for packet in batch:
            frame = packet.frame
            if id(packet) not in skip:
                groups[self.adapter.input_shape(frame.height, frame.width)].append(packet)
        submit = getattr(self.adapter.engine, "submit", None)
        done: set[int] = set()
        out = 0  # packets of `batch` yielded so far
        for hw, group in groups.items():
            if submit is not None and len(group) > 1:  # one frame: the all-cores LATENCY call is faster
                finished: Iterable[Packet] = self._run_streamed(submit, group, hw)
            else:
                tensor, boxes = self.adapter.preprocess([p.frame.image for p in group], hw)
                self._finish(group, self.adapter.engine({self._input_name: tensor}), boxes)
                finished = group
            for packet in finished:
                done.add(id(packet))
                while out < len(batch) and (id(batch[out]) in done or id(batch[out]) in skip):
                    # frame sizes may alternate within a batch; a skipped frame follows the frames before it
                    if id(batch[out]) in skip:
                        self._carry(batch[out])
                    yield batch[out]
                    out += 1
        for packet in batch[out:]:  # skipped frames after the last frame the model ran on
            self._carry(packet)
            yield packet

    def _skipped(self, batch: list[Packet]) -> set[int]:
        """The packets of `batch` the model skips (`every_frames`): it runs on each stream's first frame,
        then on every N-th."""
        every = self.config.every_frames
        skip: set[int] = set()
        if every == 1:
            self._waited.clear()
            return skip
        for packet in batch:
            source = packet.frame.source_id
            waited = self._waited.get(source)
            if waited is None or waited + 1 >= every:
                self._waited[source] = 0
            else:
                self._waited[source] = waited + 1
                skip.add(id(packet))
        return skip

    def _carry(self, packet: Packet) -> None:
        """A skipped frame takes the rows of the last frame of its stream the model ran on."""
        rows = self._last.get(packet.frame.source_id)
        if rows is None:  # the model failed on that frame: nothing to carry
            rows = Detections.empty()
        carry_set(packet, self.config.output, rows)
        packet.detector = self.facts

    def _run_streamed(self, submit: Callable[[dict[str, np.ndarray]], Any], packets: list[Packet],
                      hw: tuple[int, int]) -> Iterator[Packet]:
        """One request per frame: submit each as soon as it is letterboxed, decode each as it finishes
        and yield it."""
        pending = []
        inputs = self._input_buffers(hw, len(packets))
        for i, packet in enumerate(packets):
            out = None if inputs is None else inputs[i:i + 1]
            tensor, boxes = self.adapter.preprocess([packet.frame.image], hw, out=out)
            pending.append((submit({self._input_name: tensor}), boxes))
        results = iter(pending)
        try:
            for packet, (handle, boxes) in zip(packets, results, strict=True):
                # views of the request's outputs: decoded (and copied where kept) before any next submit
                self._finish([packet], self.adapter.engine.result(handle, copy=False), boxes)
                yield packet
        finally:
            for handle, _ in results:  # after an error: wait for the rest, so their requests go back idle
                with contextlib.suppress(Exception):  # the first error is the one raised
                    self.adapter.engine.result(handle)

    def _input_buffers(self, hw: tuple[int, int], count: int) -> np.ndarray | None:
        """Reused uint8 input buffers for `count` frames of size `hw` (pixel input only; None otherwise).
        Safe to reuse: every request reading them is waited for before `process` returns."""
        if not self.adapter.pixel_input:
            return None
        buffers = self._buffers.get(hw)
        if buffers is None or len(buffers) < count:
            buffers = self._buffers[hw] = np.empty((count, *hw, 3), np.uint8)
        return buffers

    def _finish(self, packets: list[Packet], outputs: dict[str, np.ndarray], boxes: list[Letterbox]) -> None:
        """Decode the model's outputs for `packets` into the stage's set (and embeddings, feature maps)."""
        sizes = [(p.frame.height, p.frame.width) for p in packets]
        decoded = self.adapter.postprocess(outputs[self._output_name], boxes, sizes)
        for i, (packet, found) in enumerate(zip(packets, decoded, strict=True)):
            if self._feature_name is not None:
                found = self._attach_features(packet, found, self._feature_name, outputs[self._feature_name][i],
                                              boxes[i])
            found = found.with_columns(class_name=self._names[found.class_id])
            if self.config.every_frames > 1:
                found = found.with_columns(carried=np.zeros(len(found), bool))
                self._last[packet.frame.source_id] = found
            packet.detections = replace_set(packet.detections, self.config.output, found)
            packet.detector = self.facts

    def _attach_features(self, packet: Packet, found: Detections, name: str, data: np.ndarray,
                         box: Letterbox) -> Detections:
        fmap = FeatureMap(data, feature_stride(name), box.scale, box.pad_x, box.pad_y)
        if self.config.feature_maps:  # kept past this batch: a copy, never a view of the engine's output
            packet.feature_map = FeatureMap(np.array(data), fmap.stride, fmap.scale, fmap.pad_x, fmap.pad_y)
        if self.config.embeddings:
            return found.with_columns(embedding=pool_embeddings(fmap, found.xyxy))
        return found

    def end_source(self, source_id: str) -> list[Event]:
        self._last.pop(source_id, None)
        self._waited.pop(source_id, None)
        return []

    def close(self) -> None:
        self.adapter.engine.close()

