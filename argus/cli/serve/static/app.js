// The editor page of `run.py serve`: talks to the control API only (the server is the judge).
"use strict";
const $ = (sel) => document.querySelector(sel);
let view = null;
let appliedYaml = "";
let shownVersion = null;
let busy = 0;  // an apply of this page is in flight: its new version is not "applied elsewhere"
let checkTimer = null;
let checkSeq = 0;

async function api(method, path, body) {
  if (method !== "GET") busy++;
  try { return await request(method, path, body); } finally { if (method !== "GET") setTimeout(() => busy--, 1500); }
}

async function request(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  try { data = await response.json(); } catch (e) { data = {}; }
  return { status: response.status, ok: response.ok, data };
}

function text(el, value) { el.textContent = value; return el; }
function make(tag, cls, content) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (content !== undefined) el.textContent = content;
  return el;
}

function showErrors(errors) {
  ArgusEditor.setErrors(view, errors);
  const list = $("#errors");
  list.replaceChildren(...errors.map((e) =>
    make("li", "error", `line ${e.line ?? "?"}: ${e.key ? e.key + ": " : ""}${e.message}`)));
}

function setStatus(ok, label) {
  const status = $("#status");
  status.className = "status " + (ok ? "ok" : "bad");
  text(status, label);
  $("#apply").disabled = !ok;
  $("#save").disabled = !ok || !$("#path").textContent;
}

async function check() {
  const seq = ++checkSeq;
  const yaml = ArgusEditor.getText(view);
  const { status, data } = await api("POST", "/api/config/check", { yaml });
  if (seq !== checkSeq) return;  // a newer edit is being checked
  ArgusZones.fromText(data.shapes);
  if (status !== 200) { setStatus(false, data.detail || `error ${status}`); showErrors([]); return; }
  showErrors(data.errors);
  if (!data.ok) {
    setStatus(false, `${data.errors.length} error(s): Apply refused`);
    text($("#diff"), "");
    text($("#changes"), "fix the errors first");
    return;
  }
  setStatus(true, "valid");
  text($("#diff"), data.diff || "(no text change)");
  text($("#changes"), Object.keys(data.changes).length ? JSON.stringify(data.changes) : "nothing changes");
}

function scheduleCheck() {
  clearTimeout(checkTimer);
  $("#apply").disabled = true;
  setStatus(false, "checking…");
  checkTimer = setTimeout(check, 250);
}

function message(ok, value) {
  const el = $("#message");
  el.className = ok ? "ok" : "bad";
  text(el, value);
}

async function reloadConfig(replaceText) {
  const { data } = await api("GET", "/api/config");
  appliedYaml = data.yaml;
  shownVersion = data.version;
  text($("#version"), data.version);
  text($("#path"), data.path || "");
  if (replaceText) ArgusEditor.setText(view, data.yaml);
  await loadHistory();
  return data;
}

async function applyConfig(save) {
  const yaml = ArgusEditor.getText(view);
  $("#apply").disabled = true;
  message(true, "applying…");
  const { status, data } = await api("PUT", "/api/config", { yaml, save });
  if (status === 200) {
    message(true, `applied version ${data.version}${data.saved ? " and saved" : ""}: ` +
      `${JSON.stringify(data.changed)}`);
    await reloadConfig(false);
    scheduleCheck();
  } else {
    if (data.errors) showErrors(data.errors);
    message(false, `not applied (${status}): ` + (data.detail || (data.errors || []).map((e) => e.message).join("; ")));
    scheduleCheck();
  }
}

async function loadHistory() {
  const { data } = await api("GET", "/api/config/history");
  const items = data.versions.slice().reverse().map((v) => {
    const li = make("li", "version");
    li.dataset.version = v.version;
    const when = new Date(v.applied_at * 1000).toLocaleTimeString();
    li.append(make("b", null, `v${v.version}`), ` ${when} ${JSON.stringify(v.changed)} `);
    if (v.version !== data.version) {
      const button = make("button", "revert", "Revert");
      button.dataset.version = v.version;
      button.addEventListener("click", () => revert(v.version));
      li.append(button);
    } else {
      li.append(make("i", null, "(running)"));
    }
    return li;
  });
  $("#history").replaceChildren(...items);
}

async function revert(version) {
  const { status, data } = await api("POST", `/api/config/revert/${version}`);
  if (status === 200) {
    message(true, `reverted to version ${version}: now version ${data.version}`);
    await reloadConfig(true);
  } else {
    message(false, `revert refused (${status}): ` + (data.detail || (data.errors || []).map((e) => e.message).join("; ")));
  }
}

// The sources form rewrites the applied YAML: refuse while the editor holds other edits.
function editorClean() {
  if (ArgusEditor.getText(view) === appliedYaml) return true;
  message(false, "the editor has unapplied edits: Apply or Discard them first");
  return false;
}

function sourceCard(id) {
  let card = document.querySelector(`.source[data-id="${CSS.escape(id)}"]`);
  if (card) return card;
  card = make("div", "source");
  card.dataset.id = id;
  const title = make("div", "title");
  title.append(make("b", null, id), " ");
  const remove = make("button", "remove", "Remove");
  remove.addEventListener("click", async () => {
    if (!editorClean()) return;
    if (!confirm(`Remove source ${id}? Its streams end and its tracks end.`)) return;
    const { status, data } = await api("DELETE", `/api/sources/${encodeURIComponent(id)}`);
    if (status === 200) { message(true, `removed ${id}: version ${data.version}`); await reloadConfig(true); }
    else message(false, `remove refused (${status}): ${data.detail || JSON.stringify(data.errors)}`);
  });
  title.append(remove);
  const img = make("img", "preview");
  img.alt = `preview of ${id}`;
  img.src = `/api/sources/${encodeURIComponent(id)}/preview.mjpg`;
  const meta = make("div", "meta");
  for (const key of ["state", "frames", "fps", "dropped", "detections"]) {
    const span = make("span", key);
    span.dataset.key = key;
    meta.append(span);
  }
  card.append(title, img, meta);
  $("#sources").append(card);
  return card;
}

async function refreshStats() {
  const { status, data } = await api("GET", "/api/stats");
  if (status !== 200) return;
  const state = $("#state");
  state.className = "pill " + data.state;
  text(state, data.state);
  ArgusZones.update(data);
  ArgusLive.update(data);
  ArgusClips.update(data);
  if (shownVersion !== null && data.version !== shownVersion && !busy) {
    // changed by another client or a script: follow it unless the editor holds unapplied edits
    const clean = ArgusEditor.getText(view) === appliedYaml;
    shownVersion = data.version;
    await reloadConfig(clean);
    if (!clean) message(false, `version ${data.version} was applied elsewhere; your edits are kept (not applied)`);
  }
  const ids = new Set(data.source_ids || []);
  for (const id of ids) {
    const streams = Object.entries(data.sources || {}).filter(([k]) => k === id || k.startsWith(id + "/"));
    const s = { state: "starting", frames: 0, fps: 0, dropped: 0 };
    for (const [, v] of streams) {
      s.state = v.state; s.frames += v.frames; s.fps += v.fps; s.dropped += v.dropped;
    }
    const card = sourceCard(id);
    const get = (k) => card.querySelector(`[data-key=${k}]`);
    text(get("state"), s.state);
    text(get("frames"), `${s.frames} frames`);
    text(get("fps"), `${s.fps.toFixed(1)} fps`);
    text(get("dropped"), `${s.dropped} dropped`);
    card.dataset.frames = s.frames;
    const people = ((data.preview || {}).detections || {})[id];
    text(get("detections"), people === undefined ? "" : `${people} detected`);
    card.dataset.detections = people === undefined ? "" : people;
  }
  for (const card of document.querySelectorAll(".source")) {
    if (!ids.has(card.dataset.id)) {
      card.querySelector("img").src = "";
      card.remove();
    }
  }
  const rows = Object.entries(data.stages || {}).map(([id, s]) => {
    const tr = make("tr");
    tr.dataset.stage = id;
    tr.append(make("td", null, id), make("td", "ms", s.ms_per_frame.toFixed(2)), make("td", null, s.frames),
      make("td", null, s.errors));
    return tr;
  });
  $("#stages tbody").replaceChildren(...rows);
}

function listenEvents(eventTypes) {
  const source = new EventSource("/api/events");
  source.onmessage = null;
  const show = (e) => {
    const event = JSON.parse(e.data);
    const li = make("li", "event", `${new Date(event.wall_time * 1000).toLocaleTimeString()} ${event.type} ` +
      `${event.source}${event.track_id !== undefined ? " track " + event.track_id : ""}`);
    li.dataset.type = event.type;
    const list = $("#events");
    list.prepend(li);
    while (list.children.length > 100) list.lastChild.remove();
  };
  for (const type of eventTypes) source.addEventListener(type, show);  // every registered type
  source.onmessage = show;
}

async function main() {
  const [schema, config] = await Promise.all([api("GET", "/api/schema?inline=true"), api("GET", "/api/config")]);
  view = ArgusEditor.createEditor($("#editor"), config.data.yaml, schema.data, scheduleCheck);
  window.argusView = view;
  await reloadConfig(false);
  if (config.data.errors && config.data.errors.length) {
    showErrors(config.data.errors);
    message(false, "the pipeline is stopped: fix the config and Apply to start it");
  }
  scheduleCheck();
  $("#apply").addEventListener("click", () => applyConfig(false));
  $("#save").addEventListener("click", () => applyConfig(true));
  $("#discard").addEventListener("click", () => { ArgusEditor.setText(view, appliedYaml); scheduleCheck(); });
  ArgusZones.init({ api, message, getText: () => ArgusEditor.getText(view), recheck: scheduleCheck,
    setText: (yaml) => ArgusEditor.setText(view, yaml), apply: () => applyConfig(false) });
  $("#add-source").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!editorClean()) return;
    const entry = { id: $("#source-id").value.trim(), uri: $("#source-uri").value.trim() };
    if ($("#source-loop").checked) entry.loop = true;
    const { status, data } = await api("POST", "/api/sources", entry);
    if (status === 200) {
      message(true, `added ${entry.id}: version ${data.version}`);
      $("#add-source").reset();
      await reloadConfig(true);
    } else {
      message(false, `add refused (${status}): ` + (data.detail || (data.errors || []).map((x) => x.message).join("; ")));
    }
  });
  const eventTypes = Object.keys(schema.data["x-argus-event-types"] || {});
  ArgusLive.init();
  ArgusClips.init({ api, message, eventTypes });
  listenEvents(eventTypes);
  await refreshStats();
  setInterval(refreshStats, 1000);
}

main();
