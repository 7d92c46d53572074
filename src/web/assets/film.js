// rajoints review UI: one film. Radiograph viewer (zoom, pan, window/level) and joint box
// editor. Plain ES2020, no modules, no framework.
"use strict";

(function () {
  // ---------- constants ----------

  const JOINTS = [
    "R-IP1", "R-PIP2", "R-PIP3", "R-PIP4", "R-PIP5",
    "R-MCP1", "R-MCP2", "R-MCP3", "R-MCP4", "R-MCP5",
    "L-IP1", "L-PIP2", "L-PIP3", "L-PIP4", "L-PIP5",
    "L-MCP1", "L-MCP2", "L-MCP3", "L-MCP4", "L-MCP5",
  ];
  const NO_SUBLUXATION = new Set(["R-IP1", "L-IP1"]); // the thumb IP joint has no subluxation label
  const COLOR = { normal: "#4fc3f7", ankylosis: "#ffb74d", subluxation: "#f06292", both: "#ef5350" };
  const SELECTED = "#ffd866";
  const HANDLE = 7;          // CSS px, size of a corner handle
  const HANDLE_HIT = 8;      // CSS px, grab distance around a corner
  const MIN_BOX = 3;         // image px
  const FULL_WL = { c: 32768, w: 65536 };
  const AUTOSAVE_MS = 3000;
  const UNDO_LIMIT = 200;

  const $ = (id) => document.getElementById(id);
  const canvas = $("image");
  const ctx = canvas.getContext("2d");

  const pathParts = location.pathname.split("/").filter(Boolean); // ["films", id]
  const filmId = decodeURIComponent(pathParts[1] || "");
  const viewAs = new URLSearchParams(location.search).get("annotator");
  const storageKey = "rajoints.film." + filmId;

  // ---------- state ----------

  let me = null;            // {user, role, csrf}
  let film = null;          // GET /api/films/{id}
  let W = 0, H = 0;
  let pixels = null;        // Uint16Array, W*H
  let offscreen = null, offCtx = null, imageData = null, image32 = null;

  let boxes = [];           // [{joint, box: [x0, y0, x1, y1], ankylosis, subluxation}]
  let selected = null;      // joint id
  let assessable = true;
  let reason = "";
  let dirty = false;
  let changeCount = 0;      // bumps on every edit; a save only clears `dirty` if nothing changed meanwhile
  let undoStack = [];

  const view = { s: 1, tx: 0, ty: 0, placed: false };
  const wl = { c: FULL_WL.c, w: FULL_WL.w };
  let fitScale = 1;
  let cssW = 0, cssH = 0, dpr = 1;

  let drawMode = false;     // N pressed / "Add joint": next drag draws a new box
  let drag = null;          // current pointer gesture
  let ready = false;
  let autosaveTimer = null;
  let saveChain = Promise.resolve();
  let drawQueued = false, wlQueued = false, viewSaveTimer = null;

  // ---------- public hooks for tests ----------

  window.rajoints = {
    get ready() { return ready; },
    get dirty() { return dirty; },
    boxes() {
      return sortedBoxes().map((b) => ({
        joint: b.joint, box: b.box.slice(), ankylosis: b.ankylosis, subluxation: b.subluxation,
      }));
    },
    screenRect(joint) {
      const b = find(joint);
      if (!b) return null;
      const r = canvas.getBoundingClientRect();
      return {
        left: r.left + view.tx + b.box[0] * view.s,
        top: r.top + view.ty + b.box[1] * view.s,
        width: (b.box[2] - b.box[0]) * view.s,
        height: (b.box[3] - b.box[1]) * view.s,
      };
    },
  };

  // ---------- small helpers ----------

  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const pad = (n) => String(n).padStart(2, "0");
  const round2 = (v) => Math.round(v * 100) / 100;

  function clock(iso) {
    const d = iso ? new Date(iso) : new Date();
    if (isNaN(d)) return iso;
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function dateTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return iso || "";
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(iso)}`;
  }

  function find(joint) { return boxes.find((b) => b.joint === joint) || null; }
  function sortedBoxes() {
    return boxes.slice().sort((a, b) => JOINTS.indexOf(a.joint) - JOINTS.indexOf(b.joint));
  }
  function firstUnused() { return JOINTS.find((j) => !find(j)) || null; }
  function colorOf(b) {
    if (b.ankylosis && b.subluxation) return COLOR.both;
    if (b.ankylosis) return COLOR.ankylosis;
    if (b.subluxation) return COLOR.subluxation;
    return COLOR.normal;
  }
  function normaliseJoint(j) {
    const joint = String(j.joint);
    return {
      joint,
      box: j.box.map(Number),
      ankylosis: !!j.ankylosis,
      subluxation: NO_SUBLUXATION.has(joint) ? null : !!j.subluxation,
    };
  }

  // ---------- API ----------

  async function api(path, options = {}) {
    const opts = Object.assign({ credentials: "same-origin" }, options);
    opts.headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    const method = (opts.method || "GET").toUpperCase();
    if (method !== "GET" && me) opts.headers["X-CSRF-Token"] = me.csrf;
    const res = await fetch(path, opts);
    if (res.status === 401) {
      dirty = false; // nothing can be saved any more; do not block the redirect
      location.assign("/login");
      throw new Error("Not logged in");
    }
    if (!res.ok) {
      let msg = `${res.status} ${res.statusText}`.trim();
      try {
        const body = await res.json();
        if (body && body.error) msg = body.error;
      } catch (_) { /* not JSON */ }
      if (res.status === 403 && msg.startsWith("403")) msg = "Not allowed (403). Reload the page if your session changed.";
      throw new Error(msg);
    }
    return opts.raw ? res : res.json();
  }

  async function logout() {
    if (dirty && !confirm("You have unsaved changes. Log out anyway?")) return;
    dirty = false;
    try {
      await fetch("/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": me ? me.csrf : "" } });
    } catch (_) { /* go to the login page anyway */ }
    location.assign("/login");
  }

  // ---------- status line ----------

  function setStatus(text, kind) {
    const s = $("status");
    s.textContent = text;
    s.className = kind || "";
  }
  function jointMessage(text, kind) {
    const m = $("joint-message");
    m.textContent = text || "";
    m.className = "msg" + (kind ? " " + kind : "");
  }
  function hint(text) {
    const h = $("hint");
    h.textContent = text || "";
    h.hidden = !text;
  }

  // ---------- edits, undo, dirty ----------

  function snapshot() {
    return {
      boxes: boxes.map((b) => Object.assign({}, b, { box: b.box.slice() })),
      assessable, reason, selected,
    };
  }
  function pushUndo() {
    undoStack.push(snapshot());
    if (undoStack.length > UNDO_LIMIT) undoStack.shift();
    $("undo").disabled = false;
  }
  function undo() {
    const s = undoStack.pop();
    $("undo").disabled = undoStack.length === 0;
    if (!s) { jointMessage("Nothing to undo.", "warn"); return; }
    boxes = s.boxes;
    assessable = s.assessable;
    reason = s.reason;
    selected = s.selected && find(s.selected) ? s.selected : null;
    jointMessage("");
    changed();
  }

  function changed() {
    dirty = true;
    changeCount++;
    setStatus("Unsaved changes", "dirty");
    scheduleAutosave();
    renderPanel();
    redraw();
  }

  function scheduleAutosave() {
    clearTimeout(autosaveTimer);
    autosaveTimer = setTimeout(() => {
      if (!dirty) return;
      if (drag) { scheduleAutosave(); return; }
      save(true);
    }, AUTOSAVE_MS);
  }

  // ---------- saving ----------

  function payload() {
    return {
      assessable,
      reason: assessable ? null : (reason.trim() || null),
      joints: sortedBoxes().map((b) => ({
        joint: b.joint,
        box: b.box.map(round2),
        ankylosis: !!b.ankylosis,
        subluxation: NO_SUBLUXATION.has(b.joint) ? null : !!b.subluxation,
      })),
    };
  }

  function enqueue(task) {
    const p = saveChain.then(task, task);
    saveChain = p.catch(() => {});
    return p;
  }

  function save(auto) {
    clearTimeout(autosaveTimer);
    if (!auto) setStatus("Saving…", "");
    return enqueue(async () => {
      const gen = changeCount;
      if (auto && !dirty) return;
      setStatus(auto ? "Autosaving…" : "Saving…", "");
      try {
        const res = await api(`/api/films/${encodeURIComponent(filmId)}/annotation`, {
          method: "PUT",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(payload()),
        });
        if (changeCount === gen) {
          dirty = false;
          setStatus(`Saved ${clock(res && res.time)}`, "saved");
        } else {
          setStatus("Unsaved changes", "dirty");
          scheduleAutosave();
        }
      } catch (e) {
        setStatus("Could not save: " + e.message, "error");
      }
    });
  }

  function signOff() {
    if (!canSign()) return Promise.resolve();
    clearTimeout(autosaveTimer);
    setStatus("Signing off…", "");
    $("sign-off").disabled = true;
    return enqueue(async () => {
      const gen = changeCount;
      try {
        const res = await api(`/api/films/${encodeURIComponent(filmId)}/sign-off`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(payload()),
        });
        if (changeCount === gen) dirty = false;
        const dest = res && res.destinations && res.destinations.length
          ? ` · SR sent to ${res.destinations.join(", ")}` : "";
        setStatus(`Signed off ${dateTime(res && res.time)}${dest}`, "signed");
        if (dirty) scheduleAutosave();
      } catch (e) {
        setStatus("Could not sign off: " + e.message, "error");
      } finally {
        $("sign-off").disabled = false;
      }
    });
  }

  function canSign() { return !!me && (me.role === "reviewer" || me.role === "admin"); }

  function acceptAll() {
    if (!film) return;
    pushUndo();
    boxes = (film.ai.joints || []).map(normaliseJoint);
    assessable = film.ai.assessable !== false;
    reason = assessable ? "" : (film.ai.reason || "");
    if (selected && !find(selected)) selected = null;
    jointMessage("");
    changed();
    save(false);
  }

  // ---------- image ----------

  const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

  function decodePixels(buf, w, h) {
    if (buf.byteLength < w * h * 2) throw new Error(`pixel data is ${buf.byteLength} bytes, expected ${w * h * 2}`);
    if (LITTLE_ENDIAN) return new Uint16Array(buf, 0, w * h);
    const dv = new DataView(buf), out = new Uint16Array(w * h);
    for (let i = 0; i < out.length; i++) out[i] = dv.getUint16(i * 2, true);
    return out;
  }

  function applyWindow() {
    if (!pixels) return;
    const lut = new Uint32Array(65536);
    const lo = wl.c - wl.w / 2, scale = 255 / wl.w;
    for (let v = 0; v < 65536; v++) {
      const g = clamp(Math.round((v - lo) * scale), 0, 255);
      lut[v] = LITTLE_ENDIAN ? (0xff000000 | (g << 16) | (g << 8) | g) >>> 0 : ((g << 24) | (g << 16) | (g << 8) | 0xff) >>> 0;
    }
    const n = pixels.length;
    for (let i = 0; i < n; i++) image32[i] = lut[pixels[i]];
    offCtx.putImageData(imageData, 0, 0);
    $("wl").textContent = `W ${Math.round(wl.w)} · L ${Math.round(wl.c)}`;
  }

  function scheduleWindow() {
    if (wlQueued) return;
    wlQueued = true;
    requestAnimationFrame(() => { wlQueued = false; applyWindow(); drawNow(); });
  }

  function resetWindow() {
    wl.c = FULL_WL.c; wl.w = FULL_WL.w;
    applyWindow(); redraw(); saveViewSoon();
  }

  // ---------- viewport ----------

  function measure() {
    const r = canvas.getBoundingClientRect();
    dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(r.width)), h = Math.max(1, Math.round(r.height));
    const oldW = cssW, oldH = cssH;
    cssW = w; cssH = h;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    if (W && H) {
      fitScale = Math.min(cssW / W, cssH / H) * 0.96;
      if (view.placed && oldW && oldH) { // keep the image point at the centre in place
        view.tx += (cssW - oldW) / 2;
        view.ty += (cssH - oldH) / 2;
      }
    }
  }

  function fit() {
    if (!W) return;
    view.s = fitScale;
    view.tx = (cssW - W * view.s) / 2;
    view.ty = (cssH - H * view.s) / 2;
    view.placed = true;
    redraw(); saveViewSoon();
  }

  function zoomAt(factor, sx, sy) {
    const s = clamp(view.s * factor, fitScale / 4, 40);
    const ix = (sx - view.tx) / view.s, iy = (sy - view.ty) / view.s;
    view.s = s;
    view.tx = sx - ix * s;
    view.ty = sy - iy * s;
    redraw(); saveViewSoon();
  }

  function centreOn(b) {
    const cx = (b.box[0] + b.box[2]) / 2, cy = (b.box[1] + b.box[3]) / 2;
    view.tx = cssW / 2 - cx * view.s;
    view.ty = cssH / 2 - cy * view.s;
  }

  function ensureVisible(b) {
    const x0 = view.tx + b.box[0] * view.s, y0 = view.ty + b.box[1] * view.s;
    const x1 = view.tx + b.box[2] * view.s, y1 = view.ty + b.box[3] * view.s;
    if (x0 < 0 || y0 < 0 || x1 > cssW || y1 > cssH) { centreOn(b); saveViewSoon(); }
  }

  function toImage(sx, sy) { return [(sx - view.tx) / view.s, (sy - view.ty) / view.s]; }
  function toScreenRect(b) {
    return [view.tx + b.box[0] * view.s, view.ty + b.box[1] * view.s,
            view.tx + b.box[2] * view.s, view.ty + b.box[3] * view.s];
  }
  function eventPoint(e) {
    const r = canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  // Viewport and selection survive a reload (localStorage, keyed by the film id only).
  function saveViewSoon() {
    clearTimeout(viewSaveTimer);
    viewSaveTimer = setTimeout(() => {
      if (!W || !view.placed) return;
      const [cx, cy] = toImage(cssW / 2, cssH / 2);
      try {
        localStorage.setItem(storageKey, JSON.stringify({
          joint: selected, zoom: view.s / fitScale, cx: round2(cx), cy: round2(cy), c: wl.c, w: wl.w,
        }));
      } catch (_) { /* storage full or disabled */ }
    }, 250);
  }
  function restoreView() {
    let v = null;
    try { v = JSON.parse(localStorage.getItem(storageKey) || "null"); } catch (_) { v = null; }
    if (!v || typeof v !== "object") return false;
    if (v.joint && find(v.joint)) selected = v.joint;
    if (Number.isFinite(v.c) && Number.isFinite(v.w) && v.w >= 1) { wl.c = v.c; wl.w = v.w; }
    if (Number.isFinite(v.zoom) && Number.isFinite(v.cx) && Number.isFinite(v.cy) && v.zoom > 0) {
      view.s = clamp(fitScale * v.zoom, fitScale / 4, 40);
      view.tx = cssW / 2 - v.cx * view.s;
      view.ty = cssH / 2 - v.cy * view.s;
      view.placed = true;
      return true;
    }
    return false;
  }

  // ---------- drawing ----------

  function redraw() {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(() => { drawQueued = false; drawNow(); });
  }

  function drawNow() {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!offscreen) return;

    ctx.setTransform(dpr * view.s, 0, 0, dpr * view.s, dpr * view.tx, dpr * view.ty);
    ctx.imageSmoothingEnabled = view.s < 2;
    ctx.drawImage(offscreen, 0, 0);

    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = "600 12px system-ui, sans-serif";
    ctx.textBaseline = "bottom";
    ctx.globalAlpha = assessable ? 1 : 0.55;
    const order = boxes.filter((b) => b.joint !== selected);
    const sel = find(selected);
    if (sel) order.push(sel);
    for (const b of order) drawBox(b, b === sel);
    ctx.globalAlpha = 1;

    if (drag && drag.kind === "draw" && drag.cur) {
      const [ax, ay] = drag.start, [bx, by] = drag.cur;
      const x0 = view.tx + Math.min(ax, bx) * view.s, y0 = view.ty + Math.min(ay, by) * view.s;
      const w = Math.abs(bx - ax) * view.s, h = Math.abs(by - ay) * view.s;
      ctx.setLineDash([5, 4]);
      ctx.strokeStyle = SELECTED;
      ctx.lineWidth = 1.5;
      ctx.strokeRect(x0, y0, w, h);
      ctx.setLineDash([]);
    }
  }

  function drawBox(b, isSel) {
    const [x0, y0, x1, y1] = toScreenRect(b);
    const color = colorOf(b);
    if (isSel) {
      ctx.lineWidth = 4;
      ctx.strokeStyle = "rgba(0,0,0,0.7)";
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    }
    ctx.lineWidth = isSel ? 2.5 : 1.5;
    ctx.strokeStyle = isSel ? SELECTED : color;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    if (isSel) { // inner line keeps the finding colour visible on the selected box
      ctx.lineWidth = 1;
      ctx.strokeStyle = color;
      ctx.strokeRect(x0 + 2.5, y0 + 2.5, Math.max(0, x1 - x0 - 5), Math.max(0, y1 - y0 - 5));
    }

    const tags = (b.ankylosis ? " A" : "") + (b.subluxation ? " S" : "");
    const label = b.joint + (tags ? " ·" + tags : "");
    const tw = ctx.measureText(label).width + 8;
    let ly = y0 - 2;
    if (ly - 15 < 0) ly = y1 + 16;
    ctx.fillStyle = "rgba(0,0,0,0.65)";
    ctx.fillRect(x0, ly - 15, tw, 15);
    ctx.fillStyle = isSel ? SELECTED : color;
    ctx.fillText(label, x0 + 4, ly - 1);

    if (isSel) {
      for (const [hx, hy] of [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) {
        ctx.fillStyle = "#fff";
        ctx.fillRect(hx - HANDLE / 2, hy - HANDLE / 2, HANDLE, HANDLE);
        ctx.lineWidth = 1;
        ctx.strokeStyle = "#000";
        ctx.strokeRect(hx - HANDLE / 2, hy - HANDLE / 2, HANDLE, HANDLE);
      }
    }
  }

  // ---------- hit testing ----------

  function handleAt(sx, sy) {
    const b = find(selected);
    if (!b) return -1;
    const [x0, y0, x1, y1] = toScreenRect(b);
    const corners = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
    for (let i = 0; i < 4; i++) {
      if (Math.abs(sx - corners[i][0]) <= HANDLE_HIT && Math.abs(sy - corners[i][1]) <= HANDLE_HIT) return i;
    }
    return -1;
  }

  function boxAt(sx, sy) {
    const hits = boxes.filter((b) => {
      const [x0, y0, x1, y1] = toScreenRect(b);
      return sx >= x0 - 2 && sx <= x1 + 2 && sy >= y0 - 2 && sy <= y1 + 2;
    });
    if (!hits.length) return null;
    const sel = hits.find((b) => b.joint === selected);
    if (sel) return sel;
    hits.sort((a, b) => (a.box[2] - a.box[0]) * (a.box[3] - a.box[1]) - (b.box[2] - b.box[0]) * (b.box[3] - b.box[1]));
    return hits[0];
  }

  // ---------- selection and joint edits ----------

  function select(joint, reveal) {
    selected = joint && find(joint) ? joint : null;
    jointMessage("");
    if (reveal && selected) ensureVisible(find(selected));
    renderPanel();
    redraw();
    saveViewSoon();
  }

  function cycle(step) {
    const list = sortedBoxes();
    if (!list.length) return false;
    const i = list.findIndex((b) => b.joint === selected);
    const next = i < 0 ? (step > 0 ? 0 : list.length - 1) : i + step;
    if (next < 0 || next >= list.length) { select(null); return false; } // let focus leave the canvas
    select(list[next].joint, true);
    return true;
  }

  function toggle(field) {
    const b = find(selected);
    if (!b) { jointMessage("Select a box first (click it, or press Tab).", "warn"); return; }
    if (field === "subluxation" && NO_SUBLUXATION.has(b.joint)) {
      jointMessage(`${b.joint} has no subluxation label.`, "warn");
      return;
    }
    pushUndo();
    b[field] = !b[field];
    changed();
  }

  function deleteSelected() {
    const b = find(selected);
    if (!b) { jointMessage("Select a box first.", "warn"); return; }
    pushUndo();
    boxes = boxes.filter((x) => x !== b);
    selected = null;
    jointMessage(`${b.joint} deleted. Ctrl+Z brings it back.`, "");
    changed();
  }

  function rename(newJoint) {
    const b = find(selected);
    if (!b || newJoint === b.joint) return;
    if (find(newJoint)) {
      $("joint-name").value = b.joint;
      jointMessage(`${newJoint} already has a box. Delete or rename that box first.`, "error");
      return;
    }
    pushUndo();
    const old = b.joint;
    b.joint = newJoint;
    let note = `Renamed ${old} to ${newJoint}.`;
    if (NO_SUBLUXATION.has(newJoint)) {
      if (b.subluxation) note += " Subluxation removed: the thumb IP joint has no subluxation label.";
      b.subluxation = null;
    } else if (b.subluxation === null) {
      b.subluxation = false;
    }
    selected = newJoint;
    changed();
    jointMessage(note, "");
  }

  function nudge(dx, dy) {
    const b = find(selected);
    if (!b) return;
    dx = clamp(dx, -b.box[0], W - b.box[2]);
    dy = clamp(dy, -b.box[1], H - b.box[3]);
    if (!dx && !dy) return;
    pushUndo();
    b.box = [b.box[0] + dx, b.box[1] + dy, b.box[2] + dx, b.box[3] + dy];
    changed();
  }

  function startDraw() {
    if (!firstUnused()) { jointMessage("All 20 joints already have a box.", "warn"); return; }
    drawMode = true;
    canvas.classList.add("drawing");
    hint("Drag on the image to draw the new box · Esc cancels");
    canvas.focus({ preventScroll: true });
  }
  function stopDraw() {
    drawMode = false;
    canvas.classList.remove("drawing");
    hint("");
  }

  // ---------- side panel ----------

  function renderPanel() {
    const b = find(selected);
    const name = $("joint-name");
    if (!name.options.length) {
      for (const j of JOINTS) name.append(new Option(j, j));
    }
    for (const opt of name.options) {
      const other = find(opt.value);
      opt.textContent = other && (!b || other !== b) ? `${opt.value} (has a box)` : opt.value;
    }
    name.disabled = !b;
    name.value = b ? b.joint : "";
    if (!b) name.selectedIndex = -1;
    $("delete-joint").disabled = !b;
    $("ankylosis").disabled = !b;
    $("ankylosis").checked = !!(b && b.ankylosis);
    const noSub = !b || NO_SUBLUXATION.has(b.joint);
    $("subluxation").disabled = noSub;
    $("subluxation").checked = !!(b && b.subluxation);
    $("subluxation").title = b && NO_SUBLUXATION.has(b.joint) ? "The thumb IP joint has no subluxation label" : "";

    const list = $("joint-list");
    list.textContent = "";
    for (const j of JOINTS) {
      const jb = find(j);
      const li = document.createElement("li");
      const btn = document.createElement("button");
      btn.type = "button";
      btn.dataset.joint = j;
      const sw = document.createElement("span");
      sw.className = "swatch";
      const label = document.createElement("span");
      label.textContent = j;
      const tags = document.createElement("span");
      tags.className = "tags";
      if (jb) {
        sw.style.background = colorOf(jb);
        tags.textContent = [jb.ankylosis ? "A" : "", jb.subluxation ? "S" : ""].filter(Boolean).join(" ");
        btn.setAttribute("aria-pressed", String(j === selected));
        btn.title = `Select ${j}`;
        btn.addEventListener("click", () => select(j, true));
      } else {
        li.className = "missing";
        sw.style.background = "transparent";
        tags.textContent = "no box";
        btn.disabled = true;
      }
      btn.append(sw, label, tags);
      li.append(btn);
      list.append(li);
    }
    $("joint-count").textContent = `(${boxes.length} of ${JOINTS.length})`;

    $("not-assessable").checked = !assessable;
    const reasonBox = $("not-assessable-reason");
    reasonBox.disabled = assessable;
    if (reasonBox.value !== reason) reasonBox.value = reason;
  }

  function renderOthers() {
    const others = (film.others || []).filter((o) => o.annotator !== (me && me.user) || viewAs);
    const ul = $("others");
    ul.textContent = "";
    const reviewer = canSign();
    for (const o of others) {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = o.annotator + (me && o.annotator === me.user ? " (you)" : "");
      const badge = document.createElement("span");
      badge.className = "badge " + o.status;
      badge.textContent = o.status;
      const time = document.createElement("span");
      time.className = "time";
      time.textContent = dateTime(o.time);
      li.append(name, badge, time);
      if (reviewer && o.annotator !== viewAs && !(me && o.annotator === me.user)) {
        const a = document.createElement("a");
        a.href = `/films/${encodeURIComponent(filmId)}?annotator=${encodeURIComponent(o.annotator)}`;
        a.textContent = "View";
        a.className = "small";
        li.append(a);
      }
      ul.append(li);
    }
    if (viewAs) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = `/films/${encodeURIComponent(filmId)}`;
      a.textContent = "Back to my annotation";
      li.append(a);
      ul.append(li);
    }
    $("others-section").hidden = !ul.children.length;
  }

  // ---------- pointer input ----------

  canvas.addEventListener("contextmenu", (e) => e.preventDefault());

  canvas.addEventListener("pointerdown", (e) => {
    if (!ready) return;
    canvas.focus({ preventScroll: true });
    const [sx, sy] = eventPoint(e);
    const base = { sx, sy, lastX: sx, lastY: sy, moved: false, pointerId: e.pointerId };
    if (e.button === 1) {
      drag = Object.assign(base, { kind: "pan" });
    } else if (e.button === 2 || (e.button === 0 && e.shiftKey)) {
      drag = Object.assign(base, { kind: "wl", c0: wl.c, w0: wl.w });
    } else if (e.button === 0) {
      if (drawMode) {
        const [ix, iy] = toImage(sx, sy);
        drag = Object.assign(base, { kind: "draw", start: [clamp(ix, 0, W), clamp(iy, 0, H)], cur: null });
      } else {
        const corner = handleAt(sx, sy);
        const hit = corner < 0 ? boxAt(sx, sy) : find(selected);
        if (corner >= 0) {
          drag = Object.assign(base, { kind: "resize", corner, joint: selected, orig: hit.box.slice(), pushed: false });
        } else if (hit) {
          if (hit.joint !== selected) select(hit.joint);
          drag = Object.assign(base, { kind: "move", joint: hit.joint, orig: hit.box.slice(), pushed: false });
        } else {
          drag = Object.assign(base, { kind: "pan", deselect: true });
        }
      }
    } else {
      return;
    }
    canvas.setPointerCapture(e.pointerId);
    if (drag.kind === "pan") canvas.classList.add("panning");
    e.preventDefault();
  });

  canvas.addEventListener("pointermove", (e) => {
    const [sx, sy] = eventPoint(e);
    if (!drag) { hoverCursor(sx, sy); return; }
    const dxTot = sx - drag.sx, dyTot = sy - drag.sy;
    if (Math.abs(dxTot) + Math.abs(dyTot) > 2) drag.moved = true;
    switch (drag.kind) {
      case "pan":
        view.tx += sx - drag.lastX;
        view.ty += sy - drag.lastY;
        redraw();
        break;
      case "wl":
        wl.w = clamp(drag.w0 * Math.exp(dxTot * 0.005), 1, 131072);
        wl.c = clamp(drag.c0 + dyTot * (drag.w0 / 400), -32768, 98304);
        scheduleWindow();
        break;
      case "move": {
        const b = find(drag.joint);
        if (!b) break;
        const o = drag.orig;
        const dx = clamp(Math.round(dxTot / view.s), -o[0], W - o[2]);
        const dy = clamp(Math.round(dyTot / view.s), -o[1], H - o[3]);
        const next = [o[0] + dx, o[1] + dy, o[2] + dx, o[3] + dy];
        if (next.some((v, i) => v !== b.box[i])) {
          if (!drag.pushed) { pushUndo(); drag.pushed = true; }
          b.box = next;
          dirty = true;
          redraw();
        }
        break;
      }
      case "resize": {
        const b = find(drag.joint);
        if (!b) break;
        const [ix, iy] = toImage(sx, sy);
        const px = clamp(Math.round(ix), 0, W), py = clamp(Math.round(iy), 0, H);
        const [x0, y0, x1, y1] = drag.orig;
        const n = [x0, y0, x1, y1];
        if (drag.corner === 0 || drag.corner === 3) n[0] = Math.min(px, x1 - MIN_BOX); else n[2] = Math.max(px, x0 + MIN_BOX);
        if (drag.corner === 0 || drag.corner === 1) n[1] = Math.min(py, y1 - MIN_BOX); else n[3] = Math.max(py, y0 + MIN_BOX);
        if (n.some((v, i) => v !== b.box[i])) {
          if (!drag.pushed) { pushUndo(); drag.pushed = true; }
          b.box = n;
          dirty = true;
          redraw();
        }
        break;
      }
      case "draw": {
        const [ix, iy] = toImage(sx, sy);
        drag.cur = [clamp(ix, 0, W), clamp(iy, 0, H)];
        redraw();
        break;
      }
    }
    drag.lastX = sx; drag.lastY = sy;
  });

  function endDrag(e) {
    if (!drag) return;
    const d = drag;
    drag = null;
    canvas.classList.remove("panning");
    try { canvas.releasePointerCapture(d.pointerId); } catch (_) { /* already released */ }
    if (e.type === "pointercancel") { if (d.pushed) undo(); redraw(); return; }
    switch (d.kind) {
      case "pan":
        if (d.deselect && !d.moved) select(null);
        saveViewSoon();
        break;
      case "wl":
        saveViewSoon();
        break;
      case "move":
      case "resize":
        if (d.pushed) changed();
        break;
      case "draw": {
        stopDraw();
        const a = d.start, b = d.cur || d.start;
        const box = [Math.round(Math.min(a[0], b[0])), Math.round(Math.min(a[1], b[1])),
                     Math.round(Math.max(a[0], b[0])), Math.round(Math.max(a[1], b[1]))];
        if (box[2] - box[0] < MIN_BOX || box[3] - box[1] < MIN_BOX) {
          jointMessage("Box too small: press N and drag out the box.", "warn");
          redraw();
          break;
        }
        const joint = firstUnused();
        if (!joint) { jointMessage("All 20 joints already have a box.", "warn"); break; }
        pushUndo();
        boxes.push(normaliseJoint({ joint, box, ankylosis: false, subluxation: false }));
        selected = joint;
        changed();
        jointMessage(`New box named ${joint}; choose another name above if needed.`, "");
        saveViewSoon();
        break;
      }
    }
  }
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);

  function hoverCursor(sx, sy) {
    canvas.classList.remove("moving", "resize-nwse", "resize-nesw");
    if (drawMode || !ready) return;
    const c = handleAt(sx, sy);
    if (c === 0 || c === 2) canvas.classList.add("resize-nwse");
    else if (c === 1 || c === 3) canvas.classList.add("resize-nesw");
    else if (boxAt(sx, sy)) canvas.classList.add("moving");
  }

  canvas.addEventListener("wheel", (e) => {
    if (!ready) return;
    e.preventDefault();
    const [sx, sy] = eventPoint(e);
    const unit = e.deltaMode === 1 ? 33 : e.deltaMode === 2 ? 400 : 1;
    zoomAt(Math.exp(-e.deltaY * unit * 0.0015), sx, sy);
  }, { passive: false });

  // ---------- keyboard ----------

  function isTextField(t) {
    if (!t || !t.tagName) return false;
    if (t.isContentEditable) return true;
    const tag = t.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag === "INPUT") return !["checkbox", "radio", "button", "submit", "reset"].includes(t.type);
    return false;
  }

  document.addEventListener("keydown", (e) => {
    const help = $("help");
    if (help.open) return;
    const t = e.target;
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key;

    if (mod && !e.altKey && (key === "s" || key === "S")) {
      e.preventDefault();
      if (ready) save(false);
      return;
    }
    if (isTextField(t)) return;
    if (mod && !e.altKey && !e.shiftKey && (key === "z" || key === "Z")) {
      e.preventDefault();
      undo();
      return;
    }
    if (mod || e.altKey || !ready) return;

    if (key === "Tab") {
      if (t !== canvas) return;
      if (cycle(e.shiftKey ? -1 : 1)) e.preventDefault();
      return;
    }
    if (key.startsWith("Arrow")) {
      if (!find(selected)) return;
      e.preventDefault();
      const step = e.shiftKey ? 10 : 1;
      nudge(key === "ArrowLeft" ? -step : key === "ArrowRight" ? step : 0,
            key === "ArrowUp" ? -step : key === "ArrowDown" ? step : 0);
      return;
    }
    if (key === "Delete" || key === "Backspace") {
      e.preventDefault();
      deleteSelected();
      return;
    }
    if (key === "Escape") {
      if (drawMode) { stopDraw(); if (drag && drag.kind === "draw") drag = null; redraw(); }
      else select(null);
      return;
    }
    if (e.repeat && !["+", "=", "-", "_"].includes(key)) return;
    switch (key) {
      case "?": e.preventDefault(); showHelp(); break;
      case "a": case "A": e.preventDefault(); toggle("ankylosis"); break;
      case "s": case "S": e.preventDefault(); toggle("subluxation"); break;
      case "n": case "N": e.preventDefault(); startDraw(); break;
      case "f": case "F": e.preventDefault(); fit(); break;
      case "r": case "R": e.preventDefault(); resetWindow(); break;
      case "+": case "=": e.preventDefault(); zoomAt(1.25, cssW / 2, cssH / 2); break;
      case "-": case "_": e.preventDefault(); zoomAt(0.8, cssW / 2, cssH / 2); break;
      default: break;
    }
  });

  function showHelp() {
    const d = $("help");
    if (!d.open) d.showModal();
  }

  // ---------- controls ----------

  function wireControls() {
    $("logout").addEventListener("click", logout);
    $("help-button").addEventListener("click", showHelp);
    $("help").addEventListener("close", () => canvas.focus({ preventScroll: true }));
    $("zoom-in").addEventListener("click", () => zoomAt(1.25, cssW / 2, cssH / 2));
    $("zoom-out").addEventListener("click", () => zoomAt(0.8, cssW / 2, cssH / 2));
    $("fit").addEventListener("click", fit);
    $("reset-wl").addEventListener("click", resetWindow);
    $("joint-name").addEventListener("change", (e) => rename(e.target.value));
    $("ankylosis").addEventListener("change", () => toggle("ankylosis"));
    $("subluxation").addEventListener("change", () => toggle("subluxation"));
    $("delete-joint").addEventListener("click", deleteSelected);
    $("add-joint").addEventListener("click", startDraw);
    $("undo").addEventListener("click", undo);
    $("save").addEventListener("click", () => save(false));
    $("sign-off").addEventListener("click", signOff);
    $("accept-all").addEventListener("click", acceptAll);
    $("not-assessable").addEventListener("change", (e) => {
      pushUndo();
      assessable = !e.target.checked;
      changed();
      if (!assessable) $("not-assessable-reason").focus();
    });
    $("not-assessable-reason").addEventListener("input", (e) => {
      reason = e.target.value;
      dirty = true;
      changeCount++;
      setStatus("Unsaved changes", "dirty");
      scheduleAutosave();
    });
    window.addEventListener("beforeunload", (e) => {
      if (!dirty) return;
      e.preventDefault();
      e.returnValue = "";
    });
    new ResizeObserver(() => {
      measure();
      if (W && !view.placed) fit();
      drawNow();
    }).observe(canvas);
  }

  // ---------- start ----------

  function fail(msg) {
    $("loading").hidden = false;
    $("loading").textContent = msg;
    setStatus(msg, "error");
  }

  async function init() {
    wireControls();
    if (!/^[0-9A-Za-z._-]+$/.test(filmId)) { fail("No film id in the address."); return; }
    try {
      me = await api("/api/me");
    } catch (e) { fail("Could not reach the server: " + e.message); return; }
    const who = $("who");
    who.textContent = "Signed in as ";
    const strong = document.createElement("strong");
    strong.textContent = me.user;
    who.append(strong, ` (${me.role})`);
    $("sign-off").hidden = !canSign();

    try {
      const q = viewAs ? `?annotator=${encodeURIComponent(viewAs)}` : "";
      film = await api(`/api/films/${encodeURIComponent(filmId)}${q}`);
    } catch (e) { fail("Could not load the film: " + e.message); return; }

    $("film-title").textContent = [film.study_description || "Untitled study", film.study_date, film.modality]
      .filter(Boolean).join(" · ");

    const ai = film.ai || { assessable: true, reason: null, joints: [] };
    const aiFindings = (ai.joints || []).filter((j) => j.ankylosis || j.subluxation).length;
    $("ai-summary").textContent = ai.assessable === false
      ? `AI: not assessable${ai.reason ? " (" + String(ai.reason).replace(/_/g, " ") + ")" : ""}.`
      : `AI: ${(ai.joints || []).length} joints, ${aiFindings} with findings.`;

    const ann = film.annotation;
    if (ann) {
      boxes = (ann.joints || []).map(normaliseJoint);
      assessable = ann.assessable !== false;
      reason = ann.reason || "";
    } else {
      boxes = (ai.joints || []).map(normaliseJoint);
      assessable = ai.assessable !== false;
      reason = assessable ? "" : (ai.reason || "");
    }

    const mine = (film.others || []).find((o) => me && o.annotator === me.user);
    if (viewAs) {
      const o = (film.others || []).find((x) => x.annotator === viewAs);
      const banner = $("banner");
      banner.textContent = `Showing ${viewAs}'s annotation` +
        (o ? ` (${o.status}, ${dateTime(o.time)})` : "") +
        `. Saving or signing off stores it as your own annotation (${me.user}); ${viewAs}'s stays unchanged.`;
      banner.hidden = false;
      setStatus(ann ? `Viewing ${viewAs}'s annotation` : `${viewAs} has no annotation; showing the AI joints`, "");
    } else if (ann) {
      const st = ann.status || (mine && mine.status);
      const tm = ann.time || (mine && mine.time);
      if (st === "signed") setStatus(`Signed off ${tm ? dateTime(tm) : ""}`.trim(), "signed");
      else setStatus(tm ? `Saved ${clock(tm)}` : "Resumed your saved draft", "saved");
    } else {
      setStatus("Not saved yet: starting from the AI joints", "");
    }
    renderOthers();

    let res;
    try {
      res = await api(`/api/films/${encodeURIComponent(filmId)}/pixels`, {
        raw: true, headers: { Accept: "application/octet-stream" },
      });
      W = parseInt(res.headers.get("X-Width"), 10) || film.width;
      H = parseInt(res.headers.get("X-Height"), 10) || film.height;
      pixels = decodePixels(await res.arrayBuffer(), W, H);
    } catch (e) { fail("Could not load the image: " + e.message); return; }

    offscreen = document.createElement("canvas");
    offscreen.width = W;
    offscreen.height = H;
    offCtx = offscreen.getContext("2d");
    imageData = offCtx.createImageData(W, H);
    image32 = new Uint32Array(imageData.data.buffer);

    measure();
    if (!restoreView()) fit();
    applyWindow();
    renderPanel();
    drawNow();
    $("loading").hidden = true;
    ready = true;
    canvas.focus({ preventScroll: true });
  }

  init();
})();
