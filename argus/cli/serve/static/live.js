// Live view: a source's annotated output as H.264 (fragmented MP4) played with Media Source Extensions.
// GET /live/{id}/stream.mp4 sends the init segment, then one fragment per frame; X-Argus-Codec names
// the codec and X-Argus-Epoch the wall time of presentation time 0, so the latency shown is the
// browser's clock minus (epoch + currentTime). The server encodes only while this stream is open.
"use strict";
const ArgusLive = (() => {
  const $ = (sel) => document.querySelector(sel);
  let session = null;  // {id, abort, epoch} of the stream being played
  let samples = [];    // recent latency samples (s)

  function video() { return $("#live-video"); }

  function stop() {
    if (session) session.abort.abort();
    session = null;
    const v = video();
    v.removeAttribute("src");
    v.load();
    $("#live-latency").textContent = "";
    $("#live-hls").textContent = "";
    v.dataset.latency = "";
  }

  async function play(id) {
    stop();
    if (!id) return;
    const abort = new AbortController();
    const mine = { id, abort, epoch: 0 };
    session = mine;
    try {
      const response = await fetch(`/live/${encodeURIComponent(id)}/stream.mp4`, { signal: abort.signal });
      if (!response.ok) throw new Error(`${response.status} ${(await response.json()).detail || ""}`);
      mine.epoch = parseFloat(response.headers.get("X-Argus-Epoch"));
      const codec = response.headers.get("X-Argus-Codec") || "avc1.42E01E";
      const source = new MediaSource();
      const v = video();
      v.src = URL.createObjectURL(source);
      await new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
      const buffer = source.addSourceBuffer(`video/mp4; codecs="${codec}"`);
      const hls = $("#live-hls");
      hls.textContent = "HLS";
      hls.href = `/live/${encodeURIComponent(id)}/index.m3u8`;
      await feed(mine, response.body.getReader(), buffer, v);
    } catch (e) {
      if (session === mine && e.name !== "AbortError") $("#live-latency").textContent = `live view: ${e.message}`;
    }
    if (session === mine) setTimeout(() => { if (session === mine) play(id); }, 1000);  // the stream ended: again
  }

  async function feed(mine, reader, buffer, v) {
    const queue = [];
    const pump = () => {
      if (buffer.updating || session !== mine) return;
      if (queue.length) {
        const size = queue.reduce((n, q) => n + q.length, 0);
        const all = new Uint8Array(size);
        let at = 0;
        for (const q of queue.splice(0)) { all.set(q, at); at += q.length; }
        buffer.appendBuffer(all);
        return;
      }
      const ranges = buffer.buffered;
      if (!ranges.length) return;
      const end = ranges.end(ranges.length - 1);
      if (v.currentTime < ranges.start(0) || end - v.currentTime > 1.0) v.currentTime = Math.max(ranges.start(0), end - 0.1);
      if (v.currentTime - ranges.start(0) > 20) buffer.remove(0, v.currentTime - 10);  // keep memory bounded
      if (v.paused) v.play().catch(() => {});
    };
    buffer.addEventListener("updateend", pump);
    for (;;) {
      const { done, value } = await reader.read();
      if (done || session !== mine) return;
      queue.push(value);
      pump();
    }
  }

  function measure() {
    const v = video();
    if (!session || !session.epoch || v.readyState < 2) return;
    samples.push(Date.now() / 1000 - (session.epoch + v.currentTime));
    samples = samples.slice(-10);
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    v.dataset.latency = mean.toFixed(3);
    $("#live-latency").textContent = `latency ${mean.toFixed(2)} s`;
  }

  function update(stats) {  // the source choices follow the running sources
    const select = $("#live-source");
    const ids = stats.source_ids || [];
    const have = [...select.options].slice(1).map((o) => o.value);
    if (have.join("\n") !== ids.join("\n")) {
      const chosen = select.value;
      select.replaceChildren(new Option("off", ""), ...ids.map((id) => new Option(id, id)));
      select.value = ids.includes(chosen) ? chosen : "";
      if (select.value !== chosen) stop();
    }
  }

  function init() {
    $("#live-source").addEventListener("change", (e) => { samples = []; play(e.target.value); });
    setInterval(measure, 500);
  }

  return { init, update, play, stop };
})();
