// The clips panel: the clips sinks' saved clips (GET /api/clips), filtered by source and trigger event,
// with thumbnails; a click plays one (the MP4 is served with range requests), Delete removes it.
"use strict";
const ArgusClips = (() => {
  const $ = (sel) => document.querySelector(sel);
  let hooks = null;
  let sources = [];
  let playing = null;

  function make(tag, cls, content) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (content !== undefined) el.textContent = content;
    return el;
  }

  function setOptions(select, values, allLabel) {
    const chosen = select.value;
    if ([...select.options].slice(1).map((o) => o.value).join("\n") === values.join("\n")) return;
    select.replaceChildren(new Option(allLabel, ""), ...values.map((v) => new Option(v, v)));
    select.value = values.includes(chosen) ? chosen : "";
  }

  function label(clip) {
    const when = clip.wall_time ? new Date(clip.wall_time).toLocaleString() : "?";
    const seconds = (clip.end_pts_s ?? 0) - (clip.start_pts_s ?? 0);
    const trigger = typeof clip.trigger === "object" && clip.trigger ? (clip.trigger.event || clip.trigger.type) : clip.trigger;
    return `${clip.source} · ${trigger || "clip"} · ${when} · ${seconds.toFixed(1)} s${clip.state === "open" ? " (recording)" : ""}`;
  }

  function play(clip) {
    playing = clip.id;
    const v = $("#clip-video");
    v.src = clip.mp4;
    v.dataset.id = clip.id;
    v.play().catch(() => {});
    for (const li of document.querySelectorAll("#clips li")) li.classList.toggle("selected", li.dataset.id === clip.id);
  }

  async function remove(clip) {
    if (!confirm(`Delete clip ${clip.id}?`)) return;
    const { status, data } = await hooks.api("DELETE", `/api/clips/${encodeURIComponent(clip.id)}`);
    if (status !== 200) { hooks.message(false, `delete refused (${status}): ${data.detail || ""}`); return; }
    hooks.message(true, `deleted clip ${clip.id}`);
    if (playing === clip.id) { const v = $("#clip-video"); v.removeAttribute("src"); v.load(); playing = null; }
    await refresh();
  }

  function item(clip) {
    const li = make("li", "clip");
    li.dataset.id = clip.id;
    li.classList.toggle("selected", clip.id === playing);
    const thumb = make("img", "thumb");
    thumb.alt = `clip ${clip.id}`;
    if (clip.jpg) thumb.src = clip.jpg;
    thumb.addEventListener("click", () => play(clip));
    const text = make("span", "label", label(clip));
    text.addEventListener("click", () => play(clip));
    const del = make("button", "delete", "Delete");
    del.disabled = clip.state === "open";
    del.addEventListener("click", () => remove(clip));
    li.append(thumb, text, del);
    return li;
  }

  async function refresh() {
    const params = new URLSearchParams();
    if ($("#clips-source").value) params.set("source", $("#clips-source").value);
    if ($("#clips-event").value) params.set("event", $("#clips-event").value);
    const { status, data } = await hooks.api("GET", `/api/clips?${params}`);
    if (status !== 200) { $("#clips-state").textContent = data.detail || `error ${status}`; return; }
    const list = $("#clips");
    const shown = [...list.children].map((li) => li.dataset.id + li.textContent).join("|");
    const items = data.clips.map(item);
    if (items.map((li) => li.dataset.id + li.textContent).join("|") !== shown) list.replaceChildren(...items);
    $("#clips-state").textContent = data.dirs.length ? `${data.total} clip(s)` : "no clips sink in the config";
    const found = new Set([...sources, ...data.clips.map((c) => c.source)]);
    setOptions($("#clips-source"), [...found].sort(), "all sources");
  }

  function update(stats) { sources = stats.source_ids || []; }

  function init(options) {
    hooks = options;
    setOptions($("#clips-event"), options.eventTypes.slice().sort(), "all triggers");
    $("#clips-source").addEventListener("change", refresh);
    $("#clips-event").addEventListener("change", refresh);
    $("#clips-refresh").addEventListener("click", refresh);
    refresh();
    setInterval(refresh, 5000);
  }

  return { init, update, refresh };
})();
