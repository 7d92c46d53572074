// rajoints review UI: the worklist. Plain ES2020, no modules, no framework.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let me = null;

  // ---------- API ----------

  async function api(path, options = {}) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options);
    opts.headers = Object.assign({ Accept: "application/json" }, opts.headers);
    const method = (opts.method || "GET").toUpperCase();
    if (method !== "GET" && me) opts.headers["X-CSRF-Token"] = me.csrf;
    const res = await fetch(path, opts);
    if (res.status === 401) {
      location.assign("/login");
      throw new Error("Not logged in");
    }
    if (!res.ok) {
      let msg = res.status + " " + res.statusText;
      try {
        const body = await res.json();
        if (body && body.error) msg = body.error;
      } catch (_) { /* not JSON */ }
      throw new Error(msg);
    }
    const type = res.headers.get("Content-Type") || "";
    return type.includes("json") ? res.json() : null;
  }

  async function logout() {
    try {
      await fetch("/logout", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": me ? me.csrf : "" },
      });
    } catch (_) { /* go to the login page anyway */ }
    location.assign("/login");
  }

  // ---------- formatting ----------

  function pad(n) { return String(n).padStart(2, "0"); }

  function localTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  const AI_LABEL = { analysed: "Analysed", not_assessable: "Not assessable" };
  const REASON_LABEL = {
    poor_fit: "poor fit",
  };

  // ---------- filter state (kept in the page's query string: filter values only) ----------

  const FILTERS = ["ai_status", "review", "since", "until"];
  const state = { page: 1, per_page: 25, ai_status: "", review: "", since: "", until: "" };
  let totalPages = 1;

  function readQuery() {
    const q = new URLSearchParams(location.search);
    for (const k of FILTERS) state[k] = q.get(k) || "";
    state.page = Math.max(1, parseInt(q.get("page") || "1", 10) || 1);
    const pp = parseInt(q.get("per_page") || "25", 10);
    state.per_page = [10, 25, 50, 100].includes(pp) ? pp : 25;
  }

  function writeForm() {
    $("f-ai").value = state.ai_status;
    $("f-review").value = state.review;
    $("f-since").value = state.since;
    $("f-until").value = state.until;
    $("f-per-page").value = String(state.per_page);
  }

  function readForm() {
    state.ai_status = $("f-ai").value;
    state.review = $("f-review").value;
    state.since = $("f-since").value;
    state.until = $("f-until").value;
    state.per_page = parseInt($("f-per-page").value, 10) || 25;
  }

  function queryString(s) {
    const q = new URLSearchParams();
    q.set("page", String(s.page));
    q.set("per_page", String(s.per_page));
    for (const k of FILTERS) q.set(k, s[k] || "");
    return q.toString();
  }

  function pushState() {
    const q = new URLSearchParams();
    if (state.page > 1) q.set("page", String(state.page));
    if (state.per_page !== 25) q.set("per_page", String(state.per_page));
    for (const k of FILTERS) if (state[k]) q.set(k, state[k]);
    const s = q.toString();
    history.replaceState(null, "", s ? "/?" + s : "/");
  }

  // ---------- rendering ----------

  function aiCell(f) {
    const td = el("td");
    td.append(el("span", { class: "badge " + f.ai_status, text: AI_LABEL[f.ai_status] || f.ai_status }));
    if (f.ai_reason) {
      td.append(el("span", { class: "muted", text: REASON_LABEL[f.ai_reason] || f.ai_reason.replace(/_/g, " ") }));
    }
    return td;
  }

  function annotationsCell(f) {
    const td = el("td");
    const list = f.annotations || [];
    if (!list.length) {
      td.append(el("span", { class: "muted", text: "—" }));
      return td;
    }
    for (const a of list) {
      const mine = me && a.annotator === me.user;
      td.append(el("span", {
        class: "badge " + a.status,
        title: `${a.annotator}: ${a.status} ${localTime(a.time)}`,
        text: `${a.annotator}${mine ? " (you)" : ""} · ${a.status}`,
      }));
    }
    return td;
  }

  function render(data) {
    const body = $("film-rows");
    body.textContent = "";
    const films = data.films || [];
    if (!films.length) {
      body.append(el("tr", null, el("td", { class: "empty", colspan: "7", text: "No films match these filters." })));
    }
    for (const f of films) {
      const href = "/films/" + encodeURIComponent(f.id);
      const tr = el("tr", { "data-film-id": f.id });
      tr.append(
        el("td", null, el("a", { href, class: "film-link" }, f.study_date || "no date")),
        el("td", { text: f.study_description || "—" }),
        el("td", { text: f.modality || "—" }),
        aiCell(f),
        el("td", { class: "num" },
          `${f.joints} joints`,
          f.findings ? el("span", { class: "badge findings", style: "margin-left:6px" }, `${f.findings} finding${f.findings === 1 ? "" : "s"}`)
                     : el("span", { class: "muted" }, " · no findings")),
        annotationsCell(f),
        el("td", { class: "muted", text: localTime(f.received) }),
      );
      tr.addEventListener("click", (ev) => {
        if (ev.target.closest("a")) return;  // the link navigates by itself
        location.assign(href);
      });
      body.append(tr);
    }
    const total = data.total || 0;
    const perPage = data.per_page || state.per_page;
    totalPages = Math.max(1, Math.ceil(total / perPage));
    state.page = data.page || state.page;
    $("page-info").textContent = `Page ${state.page} of ${totalPages} · ${total} film${total === 1 ? "" : "s"}`;
    $("prev").disabled = state.page <= 1;
    $("next").disabled = state.page >= totalPages;
  }

  async function load() {
    pushState();
    $("message").textContent = "";
    $("message").className = "msg";
    try {
      const data = await api("/api/films?" + queryString(state));
      render(data);
    } catch (e) {
      $("film-rows").textContent = "";
      $("message").textContent = "Could not load the worklist: " + e.message;
      $("message").className = "msg error";
    }
  }

  async function continueReading() {
    const btn = $("continue");
    btn.disabled = true;
    try {
      const q = queryString({ page: 1, per_page: 1, ai_status: "", review: "todo", since: "", until: "" });
      const data = await api("/api/films?" + q);
      const first = (data.films || [])[0];
      if (first) {
        location.assign("/films/" + encodeURIComponent(first.id));
        return;
      }
      $("message").textContent = "Nothing left to do: you have annotated every film.";
      $("message").className = "msg ok";
    } catch (e) {
      $("message").textContent = "Could not find the next film: " + e.message;
      $("message").className = "msg error";
    } finally {
      btn.disabled = false;
    }
  }

  // ---------- start ----------

  async function init() {
    $("logout").addEventListener("click", logout);
    try {
      me = await api("/api/me");
    } catch (e) {
      $("message").textContent = "Could not reach the server: " + e.message;
      $("message").className = "msg error";
      return;
    }
    $("who").replaceChildren("Signed in as ", el("strong", { text: me.user }), ` (${me.role})`);

    readQuery();
    writeForm();

    $("filters").addEventListener("submit", (ev) => {
      ev.preventDefault();
      readForm();
      state.page = 1;
      load();
    });
    for (const id of ["f-ai", "f-review", "f-per-page"]) {
      $(id).addEventListener("change", () => { readForm(); state.page = 1; load(); });
    }
    $("reset").addEventListener("click", () => {
      Object.assign(state, { page: 1, ai_status: "", review: "", since: "", until: "" });
      writeForm();
      load();
    });
    $("prev").addEventListener("click", () => { if (state.page > 1) { state.page--; load(); } });
    $("next").addEventListener("click", () => { if (state.page < totalPages) { state.page++; load(); } });
    $("continue").addEventListener("click", continueReading);

    load();
  }

  init();
})();
