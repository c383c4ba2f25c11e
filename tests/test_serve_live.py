"""The live view without a browser: the fragmented-MP4 encoder (ffprobe reads what it writes), the
HLS window, and the /live routes over real HTTP on a running pipeline (MSE stream, playlists and
segments, encoding only while watched, unknown sources, the token)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from argus.cli.serve.fmp4 import Chunk, FragmentEncoder
from argus.cli.serve.live import LiveStream
from tests.test_serve_api import Served, pipeline_yaml
from tests.waiting import wait_until

FFPROBE = "ffprobe"


def _frames(count: int, size: tuple[int, int] = (321, 241)) -> Iterator[np.ndarray]:
    width, height = size
    for i in range(count):
        image = np.full((height, width, 3), 60, np.uint8)
        image[50:100, (i * 7) % (width - 50):(i * 7) % (width - 50) + 50] = (0, 200, 255)
        yield image


def _probe(path: Path) -> dict:
    out = subprocess.run([FFPROBE, "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_name,width,height,nb_read_frames", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)["streams"][0]


def test_encoder_writes_an_init_segment_then_one_chunk_per_frame(tmp_path: Path) -> None:
    encoder = FragmentEncoder(321, 241, gop_s=1.0)
    assert (encoder.width, encoder.height) == (320, 240)  # even sizes for 4:2:0
    chunks: list[Chunk] = []
    for i, image in enumerate(_frames(30)):
        chunks += encoder.encode(image, 5.0 + i * 0.1)
    encoder.close()
    assert encoder.init is not None and encoder.init[4:8] == b"ftyp" and b"moov" in encoder.init
    assert encoder.codec.startswith("avc1.") and len(encoder.codec) == 11
    assert len(chunks) == 29  # the last frame waits for the next one (its duration)
    assert all(c.data[4:8] == b"moof" for c in chunks)
    assert [round(c.pts_s, 3) for c in chunks] == [round(5.0 + i * 0.1, 3) for i in range(29)]
    assert [i for i, c in enumerate(chunks) if c.keyframe] == [0, 10, 20]  # one GOP a second
    path = tmp_path / "live.mp4"
    path.write_bytes(encoder.init + b"".join(c.data for c in chunks))
    probed = _probe(path)
    assert probed["codec_name"] == "h264" and (probed["width"], probed["height"]) == (320, 240)
    assert int(probed["nb_read_frames"]) == 29


def test_stream_window_playlist_and_joining_at_a_keyframe() -> None:
    stream = LiveStream(3, 1000.0, b"init", "avc1.64001E", gop_s=0.7, window=2)  # chunks kept 2.1 s
    for i in range(45):  # 4.5 s at 10 fps, keyframes every 10 frames
        stream.add(Chunk(i % 10 == 0, i * 0.1, bytes([i])))
    assert [s.seq for s in stream.segments] == [0, 1, 2, 3]  # 2 listed + 2 still fetchable
    assert stream.segment(0) is not None and stream.segment(0).data == bytes(range(10))
    playlist = stream.playlist()
    assert playlist is not None
    assert "#EXT-X-MEDIA-SEQUENCE:2\n" in playlist and '#EXT-X-MAP:URI="init3.mp4"' in playlist
    assert playlist.splitlines()[-4:] == ["#EXTINF:1.000,", "3-2.m4s", "#EXTINF:1.000,", "3-3.m4s"]
    assert "#EXT-X-TARGETDURATION:2\n" in playlist  # fixed: ceil(GOP) + 1
    assert "#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:16:42.000Z" in playlist  # epoch + 2.0 s
    last, chunks = stream.chunks_after(None)  # a new viewer starts at the latest keyframe (frame 40)
    assert last == 45 and chunks == [bytes([i]) for i in range(40, 45)]
    stream.add(Chunk(False, 4.5, b"\x2d"))
    assert stream.chunks_after(last) == (46, [b"\x2d"])
    assert stream.chunks_after(46) == (46, [])
    assert stream.chunks_after(3)[1][0] == bytes([40])  # fell out of the window: the latest keyframe


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    path = tmp_path / "pipeline.yaml"
    path.write_text(pipeline_yaml(tmp_path))
    server = Served(path)
    yield server
    server.close()


def test_mse_stream_plays_in_ffprobe_and_encoding_stops_with_the_viewer(served: Served, tmp_path: Path) -> None:
    live, client = served.app.state.live, served.client
    assert live.active is False
    with client.stream("GET", "/live/a/stream.mp4") as response:
        assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
        assert response.headers["x-argus-codec"].startswith("avc1.")
        assert float(response.headers["x-argus-epoch"]) > 1.7e9
        data, chunks = b"", response.iter_bytes()
        while data.count(b"moof") < 12:
            data += next(chunks)
        assert live.active is True and live.watchers == {"a": 1}
    assert data[4:8] == b"ftyp"
    (tmp_path / "joined.mp4").write_bytes(data)
    probed = _probe(tmp_path / "joined.mp4")
    assert probed["codec_name"] == "h264" and probed["width"] == 320 and int(probed["nb_read_frames"]) >= 10
    wait_until(lambda: not live.active, timeout=15, what="the live view to unsubscribe after its viewer left")
    stats = client.get("/api/stats").json()["live"]
    assert stats["encoded"] >= 12 and stats["ms_per_frame"] > 0
    encoded = live.encoded
    wait_until(lambda: served.controller.pipeline.stats()["frames"] > 0, what="frames")
    frames = served.controller.pipeline.stats()["frames"]
    wait_until(lambda: served.controller.pipeline.stats()["frames"] > frames + 10, what="more frames")
    assert live.encoded <= encoded + 1  # frames go on, nobody watches: not encoded


def test_hls_playlists_and_segments(served: Served, tmp_path: Path) -> None:
    client = served.client
    top = client.get("/live/b/index.m3u8")
    assert top.status_code == 200 and top.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert top.text.splitlines()[-1] == "media.m3u8"
    media = client.get("/live/b/media.m3u8").text  # waits for three segments
    lines = media.splitlines()
    assert lines[0] == "#EXTM3U" and any(line.startswith("#EXT-X-TARGETDURATION:") for line in lines)
    init = next(line for line in lines if line.startswith("#EXT-X-MAP")).split('"')[1]
    names = [line for line in lines if line.endswith(".m4s")]
    assert len(names) >= 3
    body = client.get(f"/live/b/{init}").content
    for name in names:
        segment = client.get(f"/live/b/{name}")
        assert segment.status_code == 200, name
        body += segment.content
    (tmp_path / "hls.mp4").write_bytes(body)
    assert int(_probe(tmp_path / "hls.mp4")["nb_read_frames"]) >= 3 * 8  # ~1 s GOPs at 10 fps
    generation = init.removeprefix("init").removesuffix(".mp4")
    assert client.get(f"/live/b/{generation}-99999.m4s").status_code == 404
    assert client.get("/live/b/init999.mp4").status_code == 404


def test_unknown_sources_and_the_token(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(pipeline_yaml(tmp_path, ids=("a",)))
    server = Served(path, token="live-token")
    try:
        client = server.client
        assert client.get("/live/a/index.m3u8").status_code == 401
        assert client.get("/live/a/stream.mp4").status_code == 401
        auth = {"Authorization": "Bearer live-token"}
        assert client.get("/live/nope/stream.mp4", headers=auth).status_code == 404
        assert client.get("/live/nope/media.m3u8", headers=auth).status_code == 404
        assert client.get("/live/a/index.m3u8", headers=auth).status_code == 200
    finally:
        server.close()
