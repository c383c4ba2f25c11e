"""In real headless Chromium: the editor's clips panel and live view.

Clips: two real clips (fragmented H.264) in the clips sink's folder are listed with their thumbnails;
a click plays one (the `<video>` fetches it with a range request: 206), Delete removes the other.
Live view: choosing a source plays its annotated output through Media Source Extensions; the frames
advance, the measured latency (browser clock minus the frame's wall time) stays low, and once the
view is switched off the server stops encoding. Chromium 156 also plays the HLS playlist natively, and
FFmpeg's HLS demuxer decodes it.
A screenshot is saved under out/test-screenshots/ when a step fails.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("pytest_playwright")

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser import CHROMIUM_MARKS, browser_type_launch_args, screenshot_on_failure  # noqa: F401
from tests.clip_files import make_clip
from tests.conftest import write_video
from tests.test_serve_api import Served
from tests.waiting import wait_until

pytestmark = CHROMIUM_MARKS

CONFIG = """sources:
  - {{id: cam1, uri: "{video}", loop: true, realtime: true}}
stages: []
sinks:
  - {{type: events}}
  - {{type: clips, dir: clips, trigger: [{{event: track_started}}]}}
output_dir: "{out}"
runner: {{progress: false}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("clips-e2e")
    video = write_video(tmp / "cam1.mp4", 100, size=(640, 360))
    served = Served(None, CONFIG.format(video=video, out=tmp / "out"))
    assert served.controller.pipeline is not None, served.controller.startup_errors
    now = time.time()
    make_clip(tmp / "out" / "clips", "cam1-old", "cam1", "zone_entered", now - 120, frames=75)
    make_clip(tmp / "out" / "clips", "cam1-new", "cam1", "action_started", now - 60, frames=75)
    served.clips = tmp / "out" / "clips"
    yield served
    served.close()


def test_clips_panel_lists_plays_and_deletes(server: Served, page: Page) -> None:
    ranges: list[int] = []
    page.on("response", lambda r: ranges.append(r.status) if r.url.endswith(".mp4") else None)
    page.on("dialog", lambda dialog: dialog.accept())
    with screenshot_on_failure(page, "serve-clips"):
        page.goto(server.url + "/")
        items = page.locator("#clips li.clip")
        expect(items).to_have_count(2, timeout=30_000)
        expect(items.first).to_have_attribute("data-id", "cam1-new")  # newest first
        page.wait_for_function("() => [...document.querySelectorAll('#clips img.thumb')]"
                               ".every((img) => img.complete && img.naturalWidth === 320)", timeout=15_000)

        items.first.locator(".label").click()
        page.wait_for_function("() => { const v = document.querySelector('#clip-video');"
                               " return v.readyState >= 2 && v.currentTime > 0.5 && !v.error; }", timeout=20_000)
        state = page.evaluate("() => { const v = document.querySelector('#clip-video');"
                              " return {w: v.videoWidth, d: v.duration, src: v.currentSrc}; }")
        assert state["w"] == 320 and abs(state["d"] - 3.0) < 0.1 and state["src"].endswith("/api/clips/cam1-new.mp4")
        assert 206 in ranges, ranges  # the player asked for byte ranges

        page.locator('#clips li[data-id="cam1-old"] button.delete').click()
        expect(items).to_have_count(1, timeout=10_000)
        expect(page.locator("#message")).to_contain_text("deleted clip cam1-old")
        assert not (server.clips / "cam1" / "cam1-old.mp4").exists()
        assert [c["id"] for c in server.client.get("/api/clips").json()["clips"]] == ["cam1-new"]


def test_live_view_plays_with_low_latency_and_stops_encoding(server: Served, page: Page) -> None:
    live = server.app.state.live
    with screenshot_on_failure(page, "serve-live", lambda: str(server.client.get("/api/stats").json()["live"])):
        page.goto(server.url + "/")
        expect(page.locator("#live-source option")).to_have_count(2, timeout=30_000)
        assert live.active is False  # nobody watches: nothing encoded
        page.select_option("#live-source", "cam1")
        page.wait_for_function("() => { const v = document.querySelector('#live-video');"
                               " return v.readyState >= 2 && v.videoWidth === 640 && !v.error; }", timeout=20_000)
        start = page.evaluate("document.querySelector('#live-video').currentTime")
        page.wait_for_timeout(2500)
        end = page.evaluate("document.querySelector('#live-video').currentTime")
        assert end - start > 1.5, (start, end)  # playing, near real time
        latency = float(page.locator("#live-video").get_attribute("data-latency") or "nan")
        print(f"live view latency (pipeline output -> shown in Chromium): {latency:.3f} s; "
              f"encoding {live.stats()['ms_per_frame']} ms/frame")
        assert 0 < latency < 1.5
        expect(page.locator("#live-latency")).to_contain_text("latency")

        if page.evaluate("document.createElement('video').canPlayType('application/vnd.apple.mpegurl')"):
            # The same stream as HLS, played natively. Under CPU load Chromium's native HLS sometimes fails a
            # cold start with DEMUXER_ERROR_COULD_NOT_PARSE after fetching the playlist, the init segment and
            # three segments that FFmpeg decodes (test below; the MSE view above kept playing); a reload plays
            # it. Reproduced in 1 of 3 and 1 of 5 runs of this test beside two busy CPU loops, and once in a
            # full-suite run where two starts in a row failed; so three starts, each failure printed with the
            # player's state, its error message and what it fetched.
            played = []
            for attempt in (1, 2, 3):
                hls = page.context.new_page()
                fetched: list[tuple[str, int]] = []
                hls.on("response", lambda r, fetched=fetched: fetched.append((r.url.rsplit("/", 1)[-1], r.status)))
                hls.goto(server.url + "/static/style.css")  # same origin
                hls.set_content(f'<video id="h" muted autoplay src="{server.url}/live/cam1/index.m3u8"></video>')
                try:
                    hls.wait_for_function("() => { const v = document.getElementById('h');"
                                          " return v.readyState >= 2 && v.currentTime > 0.5 && !v.error; }",
                                          timeout=30_000)
                    played.append(attempt)
                except PlaywrightTimeoutError:
                    state = hls.evaluate("() => { const v = document.getElementById('h'); return [v.readyState, "
                                         "v.networkState, v.currentTime, v.error && v.error.code, "
                                         "v.error && v.error.message]; }")
                    print(f"native HLS start {attempt} did not play (readyState, networkState, currentTime, "
                          f"error, message): {state}; fetched: {fetched}")
                finally:
                    hls.close()
                if played:
                    break
            assert played, "Chromium's native HLS did not play the live playlist in three cold starts"

        page.select_option("#live-source", "")
    wait_until(lambda: not live.active, timeout=20, what="the live encoder to stop once nobody watches")
    encoded = live.encoded
    time.sleep(1.0)
    assert live.encoded <= encoded + 1


def test_live_hls_playlist_decodes_with_ffmpeg(server: Served) -> None:
    """The HLS output itself, read by FFmpeg's HLS demuxer (strict, and not subject to a browser's cold
    starts): the multivariant playlist, the media playlist, the init segment and the segments decode into
    frames of the live view's size."""
    import av

    with av.open(f"{server.url}/live/cam1/index.m3u8", options={"rw_timeout": "20000000"}) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append((frame.width, frame.height))
            if len(frames) >= 15:
                break
    assert len(frames) == 15 and set(frames) == {(640, 360)}
