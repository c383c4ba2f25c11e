"""The built-in demo clip: 10 s at 25 FPS synthesised from the two photos shipped in ultralytics.

Seconds 0-5 zoom into `bus.jpg` (four pedestrians) and pan down it, so people grow and move;
seconds 5-10 pan across `zidane.jpg` and zoom in on it. People therefore move across the frame
like they would in front of a camera, with no video file, camera or download needed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from engines.export import package_dir
from pipeline.errors import SourceOpenError
from pipeline.source_config import SourceConfig
from pipeline.types import Frame
from stages.sources.base import SourceItem, StreamEnd, StreamStart

WIDTH, HEIGHT, FPS = 960, 720, 25.0
SEGMENT_FRAMES = 125  # 5 s per photo


def demo_assets() -> dict[str, Path]:
    """Paths of bus.jpg and zidane.jpg inside the installed ultralytics package."""
    folder = package_dir("ultralytics")
    if folder is None:
        raise FileNotFoundError("the demo clip is made from ultralytics' sample images: "
                                "pip install 'argus-pipeline[export]'")
    return {name: folder / "assets" / f"{name}.jpg" for name in ("bus", "zidane")}


def _smooth(t: float) -> float:
    """Ease in/out on 0..1 so motion starts and stops gently."""
    return t * t * (3 - 2 * t)


def bus_placement(t: float, photo_height: int, photo_width: int) -> tuple[float, int, int]:
    """Where the bus photo sits at time t in 0..1 of its segment: (scale, x, y) of its top-left corner.

    Photo pixel (u, v) appears at frame pixel (x + u * scale, y + v * scale). The photo stays on the
    frame's left edge (its leftmost pedestrian is cut by the photo's border, as in the original),
    grows from the frame height to 1.4x, and its visible band moves from the upper to the lower part.
    """
    zoom = 1.0 + 0.4 * _smooth(t)
    h = round(HEIGHT * zoom)
    return h / photo_height, 0, -round((h - HEIGHT) * (0.25 + 0.5 * t))


def _bus_frame(bus: np.ndarray, t: float, canvas: np.ndarray) -> np.ndarray:
    """The bus photo at `bus_placement(t)`, on the background canvas."""
    scale, x, y = bus_placement(t, *bus.shape[:2])
    h, w = round(scale * bus.shape[0]), round(bus.shape[1] * scale)
    photo = cv2.resize(bus, (w, h), interpolation=cv2.INTER_AREA)
    frame = canvas.copy()
    frame[:, x:x + min(w, WIDTH - x)] = photo[-y:-y + HEIGHT, : WIDTH - x]
    return frame


def _zidane_frame(zidane: np.ndarray, t: float) -> np.ndarray:
    """A 4:3 window that pans across zidane.jpg, then narrows (zooms in) on its right half."""
    src_h, src_w = zidane.shape[:2]
    zoom = 1.0 + 0.45 * _smooth(max(0.0, (t - 0.4) / 0.6))
    win_h = src_h / zoom
    win_w = win_h * WIDTH / HEIGHT
    cx = win_w / 2 + _smooth(min(1.0, t / 0.6)) * (src_w - win_w) * 0.85
    cy = src_h / 2
    x0 = float(np.clip(cx - win_w / 2, 0, src_w - win_w))
    y0 = float(np.clip(cy - win_h / 2, 0, src_h - win_h))
    scale = WIDTH / win_w
    affine = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float64)
    return cv2.warpAffine(zidane, affine, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)


class DemoSourceConfig(SourceConfig):
    """`uri: demo`: the built-in 10 s clip (made from ultralytics' sample photos)."""

    kind: Literal["demo"] = "demo"


class DemoSource:
    """Frames of the demo clip, generated on the fly (deterministic)."""

    live = False

    def __init__(self, source_id: str = "demo") -> None:
        self.id = source_id
        self.images: dict[str, np.ndarray] = {}

    @classmethod
    def from_config(cls, config: DemoSourceConfig) -> DemoSource:
        return cls(config.id)

    def open(self) -> None:
        try:
            paths = demo_assets()
        except FileNotFoundError as exc:
            raise SourceOpenError(self.id, "demo", str(exc)) from None
        for name, path in paths.items():
            image = cv2.imread(str(path))
            if image is None:
                raise SourceOpenError(self.id, "demo", f"cannot read {path}")
            self.images[name] = image

    def total_frames(self) -> int:
        return 2 * SEGMENT_FRAMES

    def items(self, stop: threading.Event) -> Iterator[SourceItem]:
        if not self.images:
            self.open()
        yield StreamStart(self.id, "demo", WIDTH, HEIGHT, FPS, self.total_frames())
        gradient = np.linspace(70, 30, HEIGHT, dtype=np.uint8)[:, None, None]
        canvas = np.broadcast_to(gradient, (HEIGHT, WIDTH, 3)).copy()
        for index in range(self.total_frames()):
            if stop.is_set():
                break
            t = (index % SEGMENT_FRAMES) / (SEGMENT_FRAMES - 1)
            if index < SEGMENT_FRAMES:
                image = _bus_frame(self.images["bus"], t, canvas)
            else:
                image = _zidane_frame(self.images["zidane"], t)
            yield Frame(self.id, index, index / FPS, image)
        yield StreamEnd(self.id)

    def close(self) -> None:
        pass


def segment_of(index: int) -> str:
    """Which photo frame `index` of the demo shows ("bus" or "zidane")."""
    return "bus" if index < SEGMENT_FRAMES else "zidane"
