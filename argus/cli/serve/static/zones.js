// Lines and zones drawn on a source's live preview (a canvas over the image), in frame pixels.
// "Apply lines and zones" asks the server to write them into the editor's YAML (comments kept),
// then applies the editor's text like Apply. Shapes come back from the text after each check.
"use strict";
const ArgusZones = (() => {
  const HANDLE = 8;  // screen pixels around a point that grab it
  const POINTS = { line: "points", zone: "polygon" };
  let shapes = [];   // {kind, id, points: [[x, y], ...] in frame pixels, entry: the other keys as written}
  let dirty = false; // drawn changes not yet written into the YAML
  let mode = "select";
  let draft = null;  // the shape being drawn
  let drag = null;   // {shape, index} of the point being dragged
  let selected = null;
  let hover = null;
  let size = null;   // [width, height] of the chosen source's frames
  let hooks = null;
  let written = [];  // per zones stage in the editor's text: {stage, sources, lines, zones}
  const $ = (sel) => document.querySelector(sel);

  const numeric = (points) => Array.isArray(points) && points.every((p) =>
    Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === "number"));

  function scale() {  // frame pixels per canvas pixel, once the preview shows a frame
    const canvas = $("#zone-canvas");
    return size && $("#zone-image").naturalWidth && canvas.clientWidth ? size[0] / canvas.clientWidth : null;
  }
  function toFrame(e) {
    const rect = $("#zone-canvas").getBoundingClientRect(), s = scale();
    const clamp = (v, max) => Math.min(max, Math.max(0, Math.round(v)));
    return [clamp((e.clientX - rect.left) * s, size[0]), clamp((e.clientY - rect.top) * s, size[1])];
  }
  const screenDistance = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]) / scale();

  function hint(value) { $("#zone-hint").textContent = value; }

  function setMode(next) {
    mode = next;
    draft = null;
    for (const b of document.querySelectorAll("#zone-tools .mode")) b.classList.toggle("on", b.dataset.mode === mode);
    hint({ line: "Drag from one end of the line to the other.",
      zone: "Click the corners; click the first one (or double-click, or Enter) to close. Esc cancels.",
      select: "Drag a point to move it; name the shapes below." }[mode]);
    draw();
  }

  function pending(value) {  // drawn changes wait for "Apply lines and zones"
    dirty = value;
    $("#zones-apply").disabled = !value;
    $("#zones-state").textContent = value ? "not applied" : "";
    $("#zone-source").disabled = value;  // drawn shapes belong to the shown source's zones stage
  }

  function changed() {
    pending(true);
    renderList();
    draw();
  }

  function add(kind, points) {
    const n = shapes.filter((s) => s.kind === kind).length + 1;
    let id = `${kind}${n}`;
    for (let k = n; shapes.some((s) => s.id === id); k++) id = `${kind}${k + 1}`;
    const shape = { kind, id, points, entry: {} };
    shapes.push(shape);
    selected = shape;
    setMode("select");
    changed();
    const input = document.querySelector(`#shapes li[data-id="${CSS.escape(id)}"] input`);
    if (input) { input.focus(); input.select(); }  // name it now
  }

  function finishZone() {
    const points = draft.points.filter((p, i, all) => i === 0 || screenDistance(p, all[i - 1]) > 3);
    if (points.length < 3) { hint("A zone needs at least 3 corners."); return; }
    add("zone", points);
  }

  function pointAt(p) {
    for (const shape of [...shapes].reverse()) {
      if (!numeric(shape.points)) continue;
      const index = shape.points.findIndex((q) => screenDistance(p, q) <= HANDLE);
      if (index >= 0) return { shape, index };
    }
    return null;
  }

  function down(e) {
    if (e.button !== 0 || !scale()) return;
    const p = toFrame(e);
    e.preventDefault();
    $("#zone-canvas").focus();  // Enter / Esc while drawing a zone
    if (mode === "line") {
      draft = { kind: "line", points: [p, p] };
    } else if (mode === "zone") {
      if (!draft) draft = { kind: "zone", points: [p] };
      else if (draft.points.length >= 3 && screenDistance(p, draft.points[0]) <= HANDLE) finishZone();
      else draft.points.push(p);
    } else {
      drag = pointAt(p);
      selected = drag ? drag.shape : null;
      renderList();
    }
    $("#zone-canvas").setPointerCapture(e.pointerId);
    draw();
  }

  function move(e) {
    if (!scale()) return;
    hover = toFrame(e);
    if (draft && draft.kind === "line") draft.points[1] = hover;
    if (drag) { drag.shape.points[drag.index] = hover; changed(); return; }
    draw();
  }

  function up(e) {
    if (draft && draft.kind === "line") {
      const points = draft.points;
      draft = null;
      if (screenDistance(points[0], points[1]) >= 5) add("line", points);
      else draw();
    }
    drag = null;
    if (e.pointerId !== undefined && $("#zone-canvas").hasPointerCapture(e.pointerId)) {
      $("#zone-canvas").releasePointerCapture(e.pointerId);
    }
  }

  function key(e) {
    if (mode !== "zone" || !draft) return;
    if (e.key === "Enter") finishZone();
    if (e.key === "Escape") { draft = null; draw(); }
  }

  function draw() {
    const canvas = $("#zone-canvas"), ctx = canvas.getContext("2d");
    if (canvas.width !== canvas.clientWidth || canvas.height !== canvas.clientHeight) {
      canvas.width = canvas.clientWidth;
      canvas.height = canvas.clientHeight;
    }
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const s = scale();
    if (!s) return;
    const xy = (p) => [p[0] / s, p[1] / s];
    const path = (points, close) => {
      ctx.beginPath();
      points.forEach((p, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, ...xy(p)));
      if (close) ctx.closePath();
    };
    for (const shape of draft ? [...shapes, draft] : shapes) {
      if (!numeric(shape.points)) continue;
      const color = shape.kind === "line" ? "#ffd400" : "#33c3ff";
      const open = shape === draft && shape.kind === "zone";  // the zone being drawn follows the cursor
      const points = open && hover ? [...shape.points, hover] : shape.points;
      ctx.lineWidth = shape === selected ? 3 : 2;
      ctx.strokeStyle = color;
      path(points, shape.kind === "zone" && !open);
      if (shape.kind === "zone") { ctx.fillStyle = "rgba(51, 195, 255, 0.18)"; ctx.fill(); }
      ctx.stroke();
      ctx.fillStyle = color;
      for (const p of shape.points) { ctx.fillRect(xy(p)[0] - 4, xy(p)[1] - 4, 8, 8); }
      if (shape.id) {
        const [x, y] = xy(shape.kind === "line" ? [(points[0][0] + points[1][0]) / 2,
          (points[0][1] + points[1][1]) / 2] : points[0]);
        ctx.font = "bold 13px system-ui";
        ctx.lineWidth = 3;
        ctx.strokeStyle = "#000";
        ctx.strokeText(shape.id, x + 6, y - 6);
        ctx.fillText(shape.id, x + 6, y - 6);
      }
    }
  }

  function renderList() {
    const items = shapes.map((shape) => {
      const li = document.createElement("li");
      li.className = "shape" + (shape === selected ? " selected" : "");
      li.dataset.kind = shape.kind;
      li.dataset.id = shape.id;
      const input = document.createElement("input");
      input.value = shape.id;
      input.title = `the ${shape.kind}'s id in the YAML`;
      input.addEventListener("input", () => {
        shape.id = input.value.trim();
        li.dataset.id = shape.id;
        pending(true);
        draw();
      });
      input.addEventListener("focus", () => { selected = shape; draw(); });
      const remove = document.createElement("button");
      remove.textContent = "Delete";
      remove.className = "delete";
      remove.addEventListener("click", () => { shapes = shapes.filter((s) => s !== shape); changed(); });
      const where = numeric(shape.points) ? shape.points.map((p) => `(${p[0]}, ${p[1]})`).join(" ") : "(not drawn)";
      li.append(`${shape.kind} `, input, ` ${where} `, remove);
      return li;
    });
    $("#shapes").replaceChildren(...items);
  }

  // The shapes written in the editor's text (after each check), unless drawn changes are pending:
  // those of the first zones stage that watches the shown source (no `sources:`, or naming it).
  function fromText(found) {
    if (found) written = found;
    if (dirty || drag || draft) return;
    const source = $("#zone-source").value;
    const stage = written.find((s) => !s.sources || s.sources.includes(source)) || {};
    shapes = [];
    for (const [key, kind] of [["lines", "line"], ["zones", "zone"]]) {
      for (const entry of stage[key] || []) {
        const points = entry[POINTS[kind]];
        shapes.push({ kind, id: String(entry.id ?? ""), entry,
          points: numeric(points) ? points.map((p) => [...p]) : points });
      }
    }
    selected = null;
    renderList();
    draw();
  }

  async function apply() {
    const ids = shapes.map((s) => s.id);
    const bad = ids.find((id, i) => !id || ids.indexOf(id) !== i);
    if (bad !== undefined) {
      hooks.message(false, bad ? `two shapes are named '${bad}': rename one` : "name every shape first");
      return;
    }
    const body = { yaml: hooks.getText(), source: $("#zone-source").value || null, lines: [], zones: [] };
    for (const shape of shapes) {
      const entry = { ...shape.entry, id: shape.id, [POINTS[shape.kind]]: shape.points };
      body[shape.kind === "line" ? "lines" : "zones"].push(entry);
    }
    const { status, data } = await hooks.api("POST", "/api/config/zones", body);
    if (status !== 200) { hooks.message(false, `lines and zones not applied (${status}): ${data.detail}`); return; }
    pending(false);
    hooks.setText(data.yaml);
    await hooks.apply();
  }

  function reset() { pending(false); hooks.recheck(); }

  // Follow the stats: the source list and each source's frame size.
  function update(stats) {
    const ids = stats.source_ids || [];
    const select = $("#zone-source");
    const current = [...select.options].map((o) => o.value);
    if (current.join("\n") !== ids.join("\n")) {
      const keep = select.value;
      select.replaceChildren(...ids.map((id) =>
        Object.assign(document.createElement("option"), { value: id, textContent: id })));
      select.value = ids.includes(keep) ? keep : (ids[0] || "");
      show();
    }
    const sizes = (stats.preview || {}).sizes || {};
    const next = sizes[select.value] || null;
    if (String(next) !== String(size)) { size = next; $("#zone-view").dataset.size = size ? size.join("x") : ""; }
    draw();
  }

  function show() {
    const id = $("#zone-source").value;
    const img = $("#zone-image");
    img.src = id ? `/api/sources/${encodeURIComponent(id)}/preview.mjpg` : "";
    size = null;
    fromText(null);
  }

  function init(appHooks) {
    hooks = appHooks;
    const canvas = $("#zone-canvas");
    canvas.addEventListener("pointerdown", down);
    canvas.addEventListener("pointermove", move);
    canvas.addEventListener("pointerup", up);
    canvas.addEventListener("dblclick", () => { if (mode === "zone" && draft) finishZone(); });
    canvas.addEventListener("keydown", key);
    for (const b of document.querySelectorAll("#zone-tools .mode")) {
      b.addEventListener("click", () => {
        setMode(mode === b.dataset.mode ? "select" : b.dataset.mode);
        canvas.focus();
      });
    }
    $("#zone-source").addEventListener("change", show);
    $("#zones-apply").addEventListener("click", apply);
    $("#zones-reset").addEventListener("click", reset);
    window.addEventListener("resize", draw);
    setMode("select");
  }

  return { init, update, fromText, shapes: () => shapes };
})();
