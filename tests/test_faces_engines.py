"""Face networks through engines/: FaceNet-512 moved from the frozen graph into facenet-pytorch and
exported to ONNX gives the frozen graph's embeddings on every CPU backend; RetinaFace decodes like
its package and agrees across backends. A GPU test runs where TensorRT and a GPU are present."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from tests.conftest import FACES_DATA, faces_marks

pytestmark = faces_marks(data=False)

DATA = FACES_DATA
needs_data = faces_marks()[-1]


def _photos() -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted((DATA / "train").rglob("*.jp*g"))]


@pytest.fixture(scope="module")
def detector_ov():
    from stages.faces import detector
    from stages.faces.loading import load_network

    det = detector.FaceDetector(load_network(detector.recipe(), backend="openvino", precision="fp32",
                                             device="cpu")[1], score_min=0.5)
    yield det
    det.close()


@pytest.fixture(scope="module")
def aligned(detector_ov) -> list[np.ndarray]:
    from stages.faces.aligner import align

    if not DATA.is_dir():
        pytest.skip(f"{DATA} not present (shared face photos)")
    crops = []
    for image in _photos():
        faces = detector_ov.detect_one(image)
        crops.extend(align(image, marks) for marks in faces.landmarks)
    return crops


@needs_data
@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_facenet_onnx_matches_the_frozen_graph(backend: str, aligned: list[np.ndarray]) -> None:
    import openvino as ov

    from stages.faces import facenet
    from stages.faces.embedder import FaceEmbedder
    from stages.faces.loading import load_network

    embedder = FaceEmbedder(load_network(facenet.recipe(), backend=backend, precision="fp32", device="cpu")[1])
    ours = embedder.embed(aligned)
    embedder.close()
    graph = ov.Core().compile_model(str(facenet.frozen_graph()), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    rgb = [cv2.cvtColor(c, cv2.COLOR_BGR2RGB) for c in aligned]
    ref = np.concatenate([graph([(x[None].astype(np.float32) - 127.5) / 128.0])[0] for x in rgb])
    assert ours.shape == ref.shape == (len(aligned), 512)
    assert np.abs(ours - ref).max() < 1e-3
    assert (ours * ref).sum(axis=1).min() > 0.9999


@needs_data
def test_facenet_batch_gives_the_same_embeddings_as_one_by_one(aligned: list[np.ndarray]) -> None:
    from stages.faces import facenet
    from stages.faces.embedder import FaceEmbedder
    from stages.faces.loading import load_network

    embedder = FaceEmbedder(load_network(facenet.recipe(), backend="onnxruntime", precision="fp32", device="cpu")[1])
    batched = embedder.embed(aligned[:6])
    single = np.concatenate([embedder.embed([c]) for c in aligned[:6]])
    embedder.close()
    assert np.abs(batched - single).max() < 1e-4


@needs_data
def test_retinaface_decodes_like_its_package() -> None:
    """Our decoding (anchors, offsets, NMS) on the package's own input gives the package's faces
    (it truncates to whole pixels); our input differs only in padding to a multiple of 32."""
    import retinaface
    from retinaface.preprocess import preprocess

    from stages.faces import detector
    from stages.faces.loading import load_network

    engine = load_network(detector.recipe(), backend="onnxruntime", precision="fp32", device="cpu")[1]
    for image in _photos()[:5]:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        x = preprocess(rgb)
        out = engine({"input": x})
        ours = detector.decode(out["loc"][0], out["conf"][0], out["landmarks"][0], x.shape[2:], 1.0, 0.95)
        theirs = retinaface.detect_faces(rgb, score_threshold=0.95)
        assert len(ours) == len(theirs) >= 1
        for face in theirs:
            box = np.array([face.x, face.y, face.x + face.width, face.y + face.height], np.float32)
            assert np.abs(ours.boxes - box).max(axis=1).min() <= 1.5
    engine.close()


@needs_data
def test_retinaface_backends_agree(detector_ov) -> None:
    from stages.faces import detector
    from stages.faces.loading import load_network

    ort = detector.FaceDetector(load_network(detector.recipe(), backend="onnxruntime", precision="fp32",
                                             device="cpu")[1], score_min=0.5)
    heads = [cv2.resize(image, (160, 160)) for image in _photos()]
    a = detector_ov.detect(heads, (160, 160))
    b = ort.detect(heads, (160, 160))
    ort.close()
    for fa, fb in zip(a, b, strict=True):
        assert len(fa) == len(fb)
        if len(fa):
            assert np.abs(fa.boxes - fb.boxes).max() < 1.0
            assert np.abs(fa.landmarks - fb.landmarks).max() < 1.0


def _tensorrt_usable() -> bool:
    if importlib.util.find_spec("tensorrt") is None and importlib.util.find_spec("tensorrt_lean") is None:
        return False
    from engines.tensorrt import gpu_count

    return gpu_count()[0] > 0


@needs_data
@pytest.mark.skipif(not _tensorrt_usable(), reason="needs TensorRT and an NVIDIA GPU")
def test_facenet_and_retinaface_on_tensorrt_agree_with_the_cpu(aligned: list[np.ndarray], detector_ov) -> None:
    from stages.faces import detector, facenet
    from stages.faces.embedder import FaceEmbedder
    from stages.faces.loading import load_network

    cpu = FaceEmbedder(load_network(facenet.recipe(), backend="onnxruntime", precision="fp32", device="cpu")[1])
    for precision, cos_min in (("fp32", 0.9999), ("fp16", 0.999)):
        gpu = FaceEmbedder(load_network(facenet.recipe(), backend="tensorrt", precision=precision, device="cuda:0")[1])
        assert (gpu.embed(aligned) * cpu.embed(aligned)).sum(axis=1).min() > cos_min
        gpu.close()
    cpu.close()
    trt = detector.FaceDetector(load_network(detector.recipe(), backend="tensorrt", precision="fp16",
                                             device="cuda:0")[1], score_min=0.5)
    heads = [cv2.resize(image, (160, 160)) for image in _photos()]
    for fa, fb in zip(trt.detect(heads, (160, 160)), detector_ov.detect(heads, (160, 160)), strict=True):
        assert len(fa) == len(fb)
        if len(fa):
            assert np.abs(fa.boxes - fb.boxes).max() < 2.0
    trt.close()
