"""Detector + aligner + quality gates + embedder together: faces in whole images (enrolment,
`faces identify`, evaluation) or in head crops of tracked people (the face stage), batched."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engines.select import Choice
from stages.faces import aligner, detector, quality
from stages.faces.embedder import EMBEDDERS, FaceEmbedder
from stages.faces.loading import networks, runtime_settings
from stages.model_stage import ModelRuntime, load_recipe

HEAD_INPUT = 160  # head crops are resized to this square for the detector (small heads are upscaled)
HEAD_CONTEXT = 1.25  # crop side = this x the head square (the keypoint head estimate can be off)


@dataclass
class FoundFace:
    box: np.ndarray  # (4,) xyxy, image px
    score: float
    landmarks: np.ndarray  # (5, 2)
    aligned: np.ndarray  # BGR crop for the embedder
    problem: str | None  # failed quality gate, or None
    weight: float  # vote weight from quality
    embedding: np.ndarray | None = None

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])


class Recognizer:
    """Loads the detector and the embedder through the shared model-stage path (backend, precision,
    device as the pose stage: auto = TensorRT on a GPU, else OpenVINO, else ONNX Runtime)."""

    def __init__(self, *, detector_name: str = "retinaface", embedder_name: str = "facenet512",
                 runtime: ModelRuntime | None = None, backend: str = "auto", precision: str = "auto",
                 device: str = "auto", threads: int = 0, gates: quality.Gates | None = None,
                 detector_score: float = 0.5) -> None:
        """`runtime`: the face stage's settings; without it, `backend`, `precision`, `device` and
        `threads` (tools and benchmarks)."""
        (det_what, det_recipe), (emb_what, emb_recipe) = networks(detector_name, embedder_name).items()
        self.info = EMBEDDERS[embedder_name]
        self.gates = gates or quality.Gates()
        runtime = runtime or runtime_settings(backend, precision, device, threads)
        self.det_choice, det_engine = load_recipe(det_recipe, runtime, det_what)
        try:
            self.emb_choice, emb_engine = load_recipe(emb_recipe, runtime, emb_what)
        except Exception:
            det_engine.close()
            raise
        self.detector = detector.FaceDetector(det_engine, score_min=detector_score)
        # whole images: up to 1280 px on CPU runtimes; TensorRT's profile (one for head crops and
        # frames) stops at 640 px a side, so faces under about 1/30 of the frame are missed there
        self.max_side = detector.TENSORRT_MAX_SIDE if self.det_choice.backend == "tensorrt" else detector.MAX_SIDE
        self.embedder = FaceEmbedder(emb_engine, self.info)

    @property
    def choices(self) -> tuple[Choice, Choice]:
        return self.det_choice, self.emb_choice

    def _found(self, image: np.ndarray, faces: detector.Faces) -> list[FoundFace]:
        out = []
        for box, score, marks in zip(faces.boxes, faces.scores, faces.landmarks, strict=True):
            crop = aligner.align(image, marks, self.info.size)
            problem = quality.problem(self.gates, box, float(score), marks, crop)
            out.append(FoundFace(box, float(score), marks, crop, problem,
                                 quality.weight(self.gates, box, float(score), marks)))
        return out

    def faces_in_images(self, images: list[np.ndarray], max_side: int | None = None,
                        embed_all: bool = False) -> list[list[FoundFace]]:
        """Every face of each image (one detector call per distinct input size, one embedder call);
        faces that fail a gate get no embedding unless `embed_all`."""
        groups: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):  # one detector call per distinct image size
            groups.setdefault(image.shape[:2], []).append(i)
        found: list[list[FoundFace]] = [[] for _ in images]
        for (h, w), members in groups.items():
            size = detector.input_size(h, w, max_side or self.max_side)
            detected = self.detector.detect([images[i] for i in members], size)
            for i, faces in zip(members, detected, strict=True):
                found[i] = self._found(images[i], faces)
        self.embed([f for fs in found for f in fs if embed_all or f.problem is None])
        return found

    def faces_in_regions(self, items: list[tuple[np.ndarray, np.ndarray]]) -> list[FoundFace | None]:
        """The most central face of each (image, head square xyxy) region, or None; one detector call.
        Faces are not embedded here (`embed` the ones worth it)."""
        crops, offsets = [], []
        for image, square in items:
            crop, offset, scale = _square_crop(image, square, HEAD_CONTEXT, HEAD_INPUT)
            crops.append(crop)
            offsets.append((offset, scale))
        results = self.detector.detect(crops, (HEAD_INPUT, HEAD_INPUT)) if crops else []
        out: list[FoundFace | None] = []
        for (image, _), faces, (offset, scale) in zip(items, results, offsets, strict=True):
            if not len(faces):
                out.append(None)
                continue
            centre = HEAD_INPUT / 2
            cx = (faces.boxes[:, 0] + faces.boxes[:, 2]) / 2 - centre
            cy = (faces.boxes[:, 1] + faces.boxes[:, 3]) / 2 - centre
            # a face centred in the added context belongs to a neighbour, not to this person
            inside = np.maximum(np.abs(cx), np.abs(cy)) <= centre / HEAD_CONTEXT
            if not inside.any():
                out.append(None)
                continue
            best = int(np.argmax(np.where(inside, faces.scores - np.hypot(cx, cy) / HEAD_INPUT, -np.inf)))
            pick = faces.take([best])
            mapped = detector.Faces(pick.boxes / scale + np.tile(offset, 2), pick.scores,
                                    pick.landmarks / scale + offset)
            out.append(self._found(image, mapped)[0])
        return out

    def embed(self, faces: list[FoundFace]) -> None:
        """Fill `embedding` of each face, in one batched embedder call."""
        if not faces:
            return
        vectors = self.embedder.embed([f.aligned for f in faces])
        for face, vector in zip(faces, vectors, strict=True):
            face.embedding = vector

    def warm_up(self) -> None:
        """One call of each network on blank input, so the first frames do not pay for compilation."""
        for n in (1, 2):  # OpenVINO compiles a batch-1 (latency) and a batched (throughput) model
            self.detector.detect([np.zeros((HEAD_INPUT, HEAD_INPUT, 3), np.uint8)] * n, (HEAD_INPUT, HEAD_INPUT))
            self.embedder.embed([np.zeros((self.info.size, self.info.size, 3), np.uint8)] * n)

    def close(self) -> None:
        self.detector.close()
        self.embedder.close()


def _square_crop(image: np.ndarray, square: np.ndarray, context: float, size: int
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    """The size x size crop of a square region widened by `context` (zero outside the image), its
    top-left corner in the image and its scale (crop px per image px)."""
    x1, y1, x2, y2 = (float(v) for v in square)
    side = max(x2 - x1, y2 - y1, 4.0) * context
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = cx - side / 2, cy - side / 2
    scale = size / side
    m = np.array([[scale, 0.0, -left * scale], [0.0, scale, -top * scale]])
    inter = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, m, (size, size), flags=inter, borderMode=cv2.BORDER_CONSTANT)
    return crop, np.array([left, top], np.float32), scale
