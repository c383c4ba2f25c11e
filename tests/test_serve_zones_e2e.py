"""In real headless Chromium: draw a counting line and a zone on the live preview, name them, move
a corner of an existing zone, and Apply. The editor's YAML then holds both (its comments still there), and the
running pipeline has them. The 960x540 camera is previewed 640 px wide, so the drawn screen
positions are converted to frame pixels.
A screenshot is saved under out/test-screenshots/ when a step fails.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("pytest_playwright")

from playwright.sync_api import Page, expect

from tests.browser import CHROMIUM_MARKS, browser_type_launch_args, screenshot_on_failure  # noqa: F401
from tests.conftest import write_video

pytestmark = CHROMIUM_MARKS

CONFIG = """# the shop camera
sources:
  - {{id: shop, uri: "{video}", loop: true, realtime: true}}
stages:
  - {{type: detect, model: yolov8n, imgsz: 320}}   # people
  - {{type: track}}
  - type: zones
    anchor: bottom_center
    zones:
      - {{id: lawn, polygon: [[20, 20], [250, 20], [250, 500], [20, 500]], loiter_s: 30}}  # the lawn
sinks: [{{type: events}}]
output_dir: "{out}"
runner: {{progress: false}}
"""


def test_draw_a_line_and_a_zone_move_a_corner_and_apply(page: Page, tmp_path: Path) -> None:
    from tests.test_serve_api import Served

    video = write_video(tmp_path / "wide.mp4", 50, size=(960, 540))
    path = tmp_path / "shop.yaml"
    path.write_text(CONFIG.format(video=video, out=tmp_path / "out"))
    server = Served(path)
    try:
        with screenshot_on_failure(page, "serve-zones"):
            _scenario(server, page)
    finally:
        server.close()


def _scenario(server, page: Page) -> None:
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(server.url + "/")
    expect(page.locator("#status")).to_have_text("valid", timeout=30_000)
    expect(page.locator("#state")).to_have_text("running", timeout=30_000)
    # the existing zone is listed and drawn over the preview; the frame size comes from the stats
    expect(page.locator('#shapes li[data-id="lawn"]')).to_have_count(1, timeout=10_000)
    expect(page.locator("#zone-view")).to_have_attribute("data-size", "960x540", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#zone-image').naturalWidth === 640", timeout=30_000)
    box = page.locator("#zone-canvas").bounding_box()
    assert box is not None
    scale = 960 / box["width"]
    assert abs(box["height"] * scale - 540) < 2
    screen = lambda x, y: (box["x"] + x / scale, box["y"] + y / scale)  # noqa: E731

    # draw a line with the mouse, then name it (its name field has the focus)
    page.click("#draw-line")
    start, end = screen(600, 100), screen(600, 520)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()
    expect(page.locator('#shapes li[data-kind="line"]')).to_have_count(1)
    page.keyboard.press("Control+A")
    page.keyboard.type("door")
    expect(page.locator('#shapes li[data-id="door"]')).to_have_count(1)
    expect(page.locator("#zones-apply")).to_be_enabled()

    # draw a zone corner by corner (a click on the first corner closes it) and name it
    page.click("#draw-zone")
    corners = [(700, 300), (900, 300), (900, 500), (700, 500)]
    for x, y in [*corners, corners[0]]:
        page.mouse.click(*screen(x, y))
    expect(page.locator('#shapes li[data-kind="zone"]')).to_have_count(2)
    page.keyboard.press("Control+A")
    page.keyboard.type("queue")

    # drag the lawn's top-right corner
    page.mouse.move(*screen(250, 20))
    page.mouse.down()
    page.mouse.move(*screen(400, 60), steps=8)
    page.mouse.up()
    expect(page.locator('#shapes li[data-id="lawn"]')).to_contain_text("(400, 60)")

    page.locator("#zones-apply").click()
    expect(page.locator("#message")).to_contain_text("applied version 2", timeout=30_000)
    text = page.evaluate("() => ArgusEditor.getText(window.argusView)")
    for comment in ("# the shop camera", "# people", "# the lawn"):
        assert comment in text, text
    assert "  - {id: lawn, polygon: [[20, 20], [400, 60], [250, 500], [20, 500]], loiter_s: 30}  # the lawn" in text
    stage = yaml.safe_load(text)["stages"][2]
    assert stage["anchor"] == "bottom_center" and [line["id"] for line in stage["lines"]] == ["door"]
    assert [z["id"] for z in stage["zones"]] == ["lawn", "queue"]
    for got, want in zip(stage["zones"][1]["polygon"], corners, strict=True):
        assert abs(got[0] - want[0]) <= 1 and abs(got[1] - want[1]) <= 1, stage["zones"]
    for got, want in zip(stage["lines"][0]["points"], [[600, 100], [600, 520]], strict=True):
        assert abs(got[0] - want[0]) <= 1 and abs(got[1] - want[1]) <= 1, stage["lines"]

    # the running config has it: the applied text, and the pipeline's own zones stage
    assert server.client.get("/api/config").json()["yaml"] == text
    running = next(s for s in server.controller.pipeline.config.stages if s.type == "zones")
    assert [line.id for line in running.lines] == ["door"] and [z.id for z in running.zones] == ["lawn", "queue"]
    assert running.zones[0].polygon[1] == (400, 60)
    frames = server.client.get("/api/stats").json()["stages"]["zones"]["frames"]
    deadline = time.monotonic() + 30
    while server.client.get("/api/stats").json()["stages"]["zones"]["frames"] <= frames:
        assert time.monotonic() < deadline, "the zones stage stopped running after Apply"
        time.sleep(0.2)
    # the overlay now shows the applied shapes again, with nothing pending
    expect(page.locator("#zones-apply")).to_be_disabled()
    expect(page.locator('#shapes li[data-id="door"]')).to_have_count(1)
