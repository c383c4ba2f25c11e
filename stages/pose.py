"""Detection / pose stage: runs a YOLO model on batches of frames from one or several sources."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from engines.artefacts import Request, calib_from, int8_available, model_file
from engines.base import Engine
from engines.loader import load_engine
from engines.select import Choice, resolve
from pipeline.errors import ModelError
from pipeline.stage import StageConfig
from pipeline.types import Event, FeatureMap, Packet
from stages.models.appearance import pool_embeddings
from stages.models.feature_taps import TORCH_TAPS, feature_stride
from stages.models.ultralytics import check_model_reference
from stages.models.yolo import Letterbox, YoloAdapter
from stages.models.yolo_recipe import yolo_recipe

log = logging.getLogger(__name__)
# Settings a running stage takes in place (`reconfigure`); any other change needs a new model or engine.
IN_PLACE = frozenset({"score_min", "iou_max", "max_det", "classes", "embeddings", "feature_maps"})


class PoseConfig(StageConfig):
    """A YOLO detection or pose model (ultralytics .pt or exported .onnx)."""

    type: Literal["pose", "detect"] = "pose"
    model: str = Field("yolo11n-pose", description="Built-in model name (yolo11n-pose) or a path to an "
                       "ultralytics .pt or .onnx file.")
    imgsz: int = Field(640, ge=32, le=4096, multiple_of=32, description="Long side of the network input; "
                       "the short side follows the frame's aspect ratio.")
    score_min: float = Field(0.25, ge=0.0, le=1.0, description="Drop detections scoring below this.")
    iou_max: float = Field(0.7, gt=0.0, le=1.0, description="NMS: suppress boxes overlapping a better one "
                           "by more than this IoU.")
    max_det: int = Field(300, ge=1, description="Most detections kept per frame.")
    classes: list[int] | None = Field(None, description="Class ids to keep (None = all).")
    backend: Literal["auto", "tensorrt", "openvino", "onnxruntime", "torch"] = Field(
        "auto", description="Inference runtime; auto: TensorRT with a usable GPU, else PyTorch on CUDA, else "
        "the fastest CPU runtime installed (OpenVINO, else ONNX Runtime). The choice is logged.")
    precision: Literal["auto", "fp32", "fp16", "bf16", "int8"] = Field(
        "auto", description="auto: fp16 on a GPU; int8 on a CPU, calibrated automatically on first use "
        "(once per model and imgsz, cached: on the stage's calib:, else on frames built into Argus; "
        "`run.py build --calib VIDEO` calibrates on your own video). fp32 skips INT8, as does "
        "ARGUS_AUTO_INT8=0 when no INT8 model is built yet.")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto, cpu or cuda:N.")
    calib: str | None = Field(None, description="Video file or image folder to calibrate INT8 on (else "
                              "run.py build's, else frames built into Argus).")
    threads: int = Field(0, ge=0, description="CPU threads for the runtime (0 = all cores).")
    embeddings: bool = Field(True, description="Give every detection an appearance embedding pooled "
                             "from the model's own early feature map (the tracker uses it to tell "
                             "people apart and re-identify them); about 0.1 ms per person.")
    feature_maps: bool = Field(False, description="Attach each frame's feature map to the packet for "
                               "later stages (the track stage's single_object tracker needs it).")
    cuda_graph: bool = Field(False, description="TensorRT: replay inference as a CUDA graph, re-captured "
                             "when the input shape changes (fewer kernel launches for small batches).")

    @field_validator("model")
    @classmethod
    def _model_exists(cls, model: str) -> str:
        problem = check_model_reference(model)
        if problem:
            raise ValueError(problem)
        return model


def load_model(config: PoseConfig, what: str) -> tuple[Choice, Engine]:
    """Resolve the stage's backend and precision, make (or find) its model file and load it."""
    try:
        recipe = yolo_recipe(config.model, config.imgsz)
    except ModelError as exc:
        raise ModelError(f"{what}: {exc}") from None
    choice = resolve(config.backend, config.precision, config.device, what=what,
                     int8_built=lambda b: int8_available(Request(recipe, b, "int8")))
    calib = calib_from([Path(config.calib)], recipe.preprocess) if config.calib else None
    try:
        path = model_file(Request(recipe, choice.backend, choice.precision, choice.device), calib)
        engine = load_engine(path, backend=choice.backend, device=choice.device, threads=config.threads,
                             precision=choice.precision, cuda_graph=config.cuda_graph, taps=TORCH_TAPS,
                             pixel_input=True)
    except ModelError as exc:
        raise ModelError(f"{what}: {exc}") from None
    return choice, engine


class PoseStage:
    """Runs the model on a batch, one call per group of same-shaped frames (frames of one camera
    share a shape, so a batch from several cameras usually needs one call per camera size).

    On an engine with `submit`/`result` (OpenVINO) each frame is letterboxed and submitted as soon as
    it is ready, and decoded as soon as its own request is done, so the next frame's letterbox and the
    previous frame's decoding and pooling overlap inference instead of waiting for the whole batch.
    At imgsz 960 on vtest.mp4 (INT8, 2-core AMD EPYC, `bench pipeline --compare none`, 2 rounds
    alternated) that ran 49.9 FPS against 47.4 for one call per batch of 4, and 51.2 against 51.9
    for batches of 8: the gain is the barrier at the end of each batch, which larger batches also hide.
    """

    def __init__(self, config: PoseConfig) -> None:
        self.name = config.type
        self.config = config
        self._what = f"stage '{config.type}' model {config.model}"
        self.choice, engine = load_model(config, self._what)
        self.adapter = YoloAdapter(engine, imgsz=config.imgsz, score_min=config.score_min,
                                   iou_max=config.iou_max, max_det=config.max_det, classes=config.classes,
                                   name=self._what)
        self.detector = Path(config.model).stem if config.model.endswith((".pt", ".onnx")) else config.model
        self._input_name = self.adapter.input.name
        self._output_name = self.adapter.output.name
        self._feature_name = self._features_used(config)
        self._buffers: dict[tuple[int, int], np.ndarray] = {}

    def _features_used(self, config: PoseConfig) -> str | None:
        """The feature-map output to read, or None when neither embeddings nor feature maps are wanted."""
        feature_name = next(iter(self.adapter.feature_outputs), None)
        wanted = config.embeddings or config.feature_maps
        if feature_name is None and wanted:
            log.warning("%s has no feature-map output (an ONNX file not exported by Argus): no appearance "
                        "embeddings, tracking uses motion only", self._what)
        return feature_name if wanted else None

    def reconfigure(self, config: PoseConfig) -> bool:
        """Take `config` in place when only `IN_PLACE` settings changed (thresholds, classes, embeddings,
        feature maps) and return True; return False, changing nothing, when it needs another model or
        engine (model, imgsz, backend, precision, device, threads, calib, cuda_graph, type)."""
        if not isinstance(config, PoseConfig) or (
                config.model_dump(exclude=IN_PLACE) != self.config.model_dump(exclude=IN_PLACE)):
            return False
        self.adapter.set_filters(score_min=config.score_min, iou_max=config.iou_max, max_det=config.max_det,
                                 classes=config.classes)
        self._feature_name = self._features_used(config)
        self.config = config
        return True

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        groups: dict[tuple[int, int], list[Packet]] = defaultdict(list)
        for packet in batch:
            frame = packet.frame
            groups[self.adapter.input_shape(frame.height, frame.width)].append(packet)
        submit = getattr(self.adapter.engine, "submit", None)
        for hw, packets in groups.items():
            if submit is not None and len(packets) > 1:  # one frame: the all-cores LATENCY call is faster
                self._run_streamed(submit, packets, hw)
                continue
            images = [p.frame.image for p in packets]
            tensor, boxes = self.adapter.preprocess(images, hw)
            outputs = self.adapter.engine({self._input_name: tensor})
            self._finish(packets, outputs, boxes)
        return list(batch)

    def _run_streamed(self, submit: Callable[[dict[str, np.ndarray]], Any], packets: list[Packet],
                      hw: tuple[int, int]) -> None:
        """One request per frame: submit each as soon as it is letterboxed, decode each as it finishes."""
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
        """Decode the model's outputs for `packets` into detections (and embeddings, feature maps)."""
        sizes = [(p.frame.height, p.frame.width) for p in packets]
        decoded = self.adapter.postprocess(outputs[self._output_name], boxes, sizes)
        for i, (packet, detections) in enumerate(zip(packets, decoded, strict=True)):
            packet.detections, packet.detector = detections, self.detector
            if self._feature_name is not None:
                self._attach_features(packet, self._feature_name, outputs[self._feature_name][i], boxes[i])

    def _attach_features(self, packet: Packet, name: str, data: np.ndarray, box: Letterbox) -> None:
        fmap = FeatureMap(data, feature_stride(name), box.scale, box.pad_x, box.pad_y)
        if self.config.embeddings:
            packet.detections = packet.detections.with_columns(
                embedding=pool_embeddings(fmap, packet.detections.xyxy))
        if self.config.feature_maps:  # kept past this batch: a copy, never a view of the engine's output
            packet.feature_map = FeatureMap(np.array(data), fmap.stride, fmap.scale, fmap.pad_x, fmap.pad_y)

    def end_source(self, source_id: str) -> list[Event]:
        return []

    def close(self) -> None:
        self.adapter.engine.close()
