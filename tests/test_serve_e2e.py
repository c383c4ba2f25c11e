"""End to end in real headless Chromium: `run.py serve` on two looping sources with the pose model.

Misspell a key (error at its line, Apply refused), fix it and raise `score_min` (Apply: the stats
and the preview change while both sources keep counting frames), add a camera from the form (its
preview appears), revert (the previous version is back), then SIGTERM with the page's preview and
event streams still open: the server ends within seconds and every output is intact.
A screenshot is saved under out/test-screenshots/ when a step fails.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("pytest_playwright")
httpx = pytest.importorskip("httpx")

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser import CHROMIUM_MARKS, ROOT, browser_type_launch_args, screenshot_on_failure  # noqa: E402, F401
from tests.live_servers import free_port  # noqa: E402

pytestmark = CHROMIUM_MARKS



CONFIG = """# two looping cameras (the shared pedestrian video)
sources:
  - {{id: cam1, uri: "{video}", loop: true, realtime: true}}
  - {{id: cam2, uri: "{video}", loop: true, realtime: true}}
stages:
  - type: pose
    imgsz: 416
    score_min: 0.1
  - {{type: track, tracker: argus}}
sinks:
  - {{type: events}}
  - {{type: detections}}
output_dir: "{out}"
runner: {{progress: false, max_batch: 2}}
"""


class Server:
    """`python run.py serve CONFIG` in a subprocess."""

    def __init__(self, config: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = config.with_suffix(".log").open("w+")
        self.process = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "serve", str(config), "--port",
                                         str(self.port), "--grace", "3600"],  # open streams would hold it an hour
                                        cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(f"{self.url}/api/stats", timeout=2).json()["state"] == "running":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve did not start:\n" + self.output()
            time.sleep(0.3)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def stats(self) -> dict:
        return httpx.get(f"{self.url}/api/stats", timeout=10).json()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


@pytest.fixture
def server(tmp_path: Path, vtest: Path) -> Iterator[Server]:
    config = tmp_path / "cameras.yaml"
    config.write_text(CONFIG.format(video=vtest, out=tmp_path / "out"))
    served = Server(config)
    yield served
    served.close()


def _replace_line(page: Page, containing: str, new_text: str) -> None:
    """Select the editor line holding `containing` (after its indentation) and type `new_text`."""
    page.locator(".cm-line", has_text=containing).first.click()
    page.keyboard.press("End")
    page.keyboard.press("Shift+Home")
    page.keyboard.type(new_text)
    page.keyboard.press("Escape")  # close a completion popup, if any


def _frames(page: Page, source_id: str) -> int:
    value = page.locator(f'.source[data-id="{source_id}"]').get_attribute("data-frames")
    return int(value or 0)


def _wait_rising(page: Page, ids: list[str], before: dict[str, int], timeout: float = 90.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        now = {i: _frames(page, i) for i in ids}
        if all(now[i] > before.get(i, 0) for i in ids):
            return now
        assert time.monotonic() < deadline, f"frame counts stopped rising: {before} -> {now}"
        page.wait_for_timeout(200)


def _preview_loaded(page: Page, source_id: str) -> None:
    image = page.locator(f'.source[data-id="{source_id}"] img.preview')
    page.wait_for_function("img => img.naturalWidth > 0", arg=image.element_handle(), timeout=30_000)


def test_edit_apply_preview_add_revert_and_sigterm(server: Server, page: Page, tmp_path: Path) -> None:
    with screenshot_on_failure(page, "serve-e2e", lambda: f"server output:\n{server.output()}"):
        _scenario(server, page, tmp_path)


def _scenario(server: Server, page: Page, tmp_path: Path) -> None:
    page.goto(server.url + "/")
    expect(page.locator(".cm-content")).to_contain_text("score_min: 0.1")
    expect(page.locator("#status")).to_have_text("valid", timeout=15_000)
    expect(page.locator(".source")).to_have_count(2, timeout=15_000)
    start = _wait_rising(page, ["cam1", "cam2"], {})
    _preview_loaded(page, "cam1")
    _preview_loaded(page, "cam2")
    page.wait_for_function("() => Number(document.querySelector('.source[data-id=cam1]').dataset.detections) > 0",
                           timeout=30_000)

    # 1. a misspelt key: the error shows at its line, Apply is refused
    _replace_line(page, "score_min: 0.1", "score_mn: 0.1")
    expect(page.locator("#status")).to_contain_text("error", timeout=10_000)
    expect(page.locator("#apply")).to_be_disabled()
    expect(page.locator("#errors li").first).to_contain_text("line 8: stages.0.score_mn: unknown key 'score_mn'")
    expect(page.locator(".cm-line", has=page.locator(".cm-lintRange-error"))).to_contain_text("score_mn")
    expect(page.locator(".cm-gutterElement .cm-lint-marker-error")).to_have_count(1)
    assert server.stats()["version"] == 1

    # 2. fix it and raise score_min: Apply hot-reloads, the stats and the preview change
    _replace_line(page, "score_mn: 0.1", "score_min: 0.97")
    expect(page.locator("#status")).to_have_text("valid", timeout=10_000)
    expect(page.locator("#changes")).to_contain_text('"changed":["pose"]')
    expect(page.locator("#diff")).to_contain_text("+    score_min: 0.97")
    page.locator("#apply").click()
    expect(page.locator("#message")).to_contain_text("applied version 2", timeout=30_000)
    expect(page.locator("#version")).to_have_text("2")
    page.wait_for_function("() => ['cam1', 'cam2'].every(id => document.querySelector("
                           "`.source[data-id=${id}]`).dataset.detections === '0')", timeout=30_000)
    after_apply = _wait_rising(page, ["cam1", "cam2"], start)
    assert server.stats()["preview"]["detections"] == {"cam1": 0, "cam2": 0}
    expect(page.locator("#history li")).to_have_count(2)

    # 3. add a camera from the form (refused while the editor holds unapplied edits): its preview appears
    page.fill("#source-id", "cam3")
    page.fill("#source-uri", str(Path(_source_uri(page))))
    page.check("#source-loop")
    _replace_line(page, "max_batch: 2", "runner: {progress: false, max_batch: 1}")
    page.click("#add-source-button")
    expect(page.locator("#message")).to_contain_text("unapplied edits")
    page.click("#discard")
    expect(page.locator(".cm-content")).to_contain_text("max_batch: 2")
    page.click("#add-source-button")
    expect(page.locator("#message")).to_contain_text("added cam3", timeout=30_000)
    expect(page.locator(".source")).to_have_count(3, timeout=15_000)
    expect(page.locator(".cm-content")).to_contain_text("id: cam3")
    _wait_rising(page, ["cam3"], {})
    _preview_loaded(page, "cam3")
    after_add = _wait_rising(page, ["cam1", "cam2"], after_apply)

    # 4. revert to version 1: score_min 0.25 again, cam3 gone, cam1/cam2 never stopped
    page.locator('#history button.revert[data-version="1"]').click()
    expect(page.locator("#message")).to_contain_text("reverted to version 1: now version 4", timeout=30_000)
    expect(page.locator(".cm-content")).to_contain_text("score_min: 0.1")
    expect(page.locator(".cm-content")).not_to_contain_text("cam3")
    expect(page.locator(".source")).to_have_count(2, timeout=15_000)
    page.wait_for_function("() => Number(document.querySelector('.source[data-id=cam1]').dataset.detections) > 0",
                           timeout=30_000)
    _wait_rising(page, ["cam1", "cam2"], after_add)
    expect(page.locator("#events li", has_text="config_applied").first).to_be_visible()
    stats = server.stats()
    assert stats["version"] == 4 and stats["sources"]["cam1"]["state"] == "running"
    assert stats["sources"]["cam1"]["reconnects"] == 0

    # a script changes the config through the API: the page follows (its editor had no unapplied edits)
    text = httpx.get(server.url + "/api/config").json()["yaml"].replace("max_batch: 2", "max_batch: 3")
    assert httpx.put(server.url + "/api/config", json={"yaml": text}, timeout=30).status_code == 200
    expect(page.locator("#version")).to_have_text("5", timeout=10_000)
    expect(page.locator(".cm-content")).to_contain_text("max_batch: 3", timeout=10_000)

    # hover docs and completion come from the config's JSON Schema
    for key, doc in (("output_dir", "Folder for every sink"), ("score_min", "Drop detections scoring below")):
        x, y = page.evaluate("key => { const v = window.argusView; const c = v.coordsAtPos("
                             "v.state.doc.toString().indexOf(key) + 3); return [c.left, (c.top + c.bottom) / 2]; }",
                             key)
        page.mouse.move(0, 0)
        page.mouse.move(x, y)
        expect(page.locator(".cm-tooltip-hover")).to_contain_text(doc, timeout=10_000)
    page.locator(".cm-line", has_text="output_dir").click()
    page.keyboard.press("Control+End")  # the empty last line
    page.keyboard.type("metr")
    expect(page.locator(".cm-tooltip-autocomplete")).to_contain_text("metrics", timeout=10_000)
    page.keyboard.press("Escape")

    # 5. SIGTERM while the page still streams previews and events: quick (the server ends the streams
    # itself: its grace period is an hour), orderly, outputs intact
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(60)
    assert code == 0, server.output()
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    ended = {e["source"] for e in events if e["type"] == "stream_ended"}
    assert {"cam1", "cam2", "cam3"} <= ended
    applied = [e for e in events if e["type"] == "config_applied"]
    assert len(applied) == 4
    for line in (tmp_path / "out" / "detections.jsonl").read_text().splitlines():
        json.loads(line)


def _source_uri(page: Page) -> str:
    """The video of cam1, read back from the editor text."""
    text = page.locator(".cm-content").inner_text()
    return text.split('uri: "', 1)[1].split('"', 1)[0]


def test_page_opens_on_an_invalid_config_and_apply_starts_the_pipeline(page: Page, tmp_path: Path) -> None:
    from tests.test_serve_api import Served, pipeline_yaml

    good = pipeline_yaml(tmp_path)
    path = tmp_path / "broken.yaml"
    path.write_text(good.replace("max_batch: 2", "max_bach: 2"))
    server = Served(path)
    try:
        with screenshot_on_failure(page, "serve-invalid"):
            page.goto(server.url + "/")
            expect(page.locator("#state")).to_have_text("stopped", timeout=10_000)
            line = good.splitlines().index("runner: {progress: false, max_batch: 2}") + 1
            expect(page.locator("#errors li").first).to_contain_text(f"line {line}: runner.max_bach: unknown key")
            expect(page.locator("#message")).to_contain_text("the pipeline is stopped")
            expect(page.locator(".source")).to_have_count(0)
            _replace_line(page, "max_bach", "runner: {progress: false, max_batch: 2}")
            expect(page.locator("#status")).to_have_text("valid", timeout=10_000)
            expect(page.locator("#changes")).to_contain_text('"pipeline":["start"]')
            page.locator("#save").click()
            expect(page.locator("#message")).to_contain_text("applied version 1 and saved", timeout=30_000)
            expect(page.locator("#state")).to_have_text("running", timeout=10_000)
            expect(page.locator(".source")).to_have_count(2, timeout=10_000)
            _wait_rising(page, ["a", "b"], {})
            assert path.read_text() == good
    finally:
        server.close()


def test_page_works_with_a_token_from_its_url(page: Page, tmp_path: Path) -> None:
    from tests.test_serve_api import Served, pipeline_yaml

    server = Served(None, pipeline_yaml(tmp_path), token="page-token-123")
    try:
        assert page.goto(server.url + "/").status == 401
        page.goto(server.url + "/?token=page-token-123")  # sets the HttpOnly cookie for the rest
        expect(page.locator(".cm-content")).to_contain_text("two looping sources", timeout=10_000)
        expect(page.locator("#state")).to_have_text("running", timeout=10_000)
        _wait_rising(page, ["a", "b"], {})
        _preview_loaded(page, "a")
        assert page.evaluate("document.cookie") == ""  # not readable by scripts
    finally:
        server.close()
