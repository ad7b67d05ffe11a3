// The two-alternative forced-choice page. Works served (`videogan study serve`: answers go to the server
// as they are given) and opened as a file (answers stay in this browser; "Download my answers" saves them).
(function () {
  "use strict";
  const STUDY = window.STUDY;
  const served = location.protocol === "http:" || location.protocol === "https:";
  const $ = (id) => document.getElementById(id);

  // FNV-1a: a small stable hash for seeds, the user-agent hash and the completion code
  function fnv(text) {
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
    return h >>> 0;
  }
  function mulberry32(seed) {
    return function () {
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  const storageKey = "videogan-study:" + STUDY.id;
  function loadState() {
    try { return JSON.parse(localStorage.getItem(storageKey)) || {}; } catch (e) { return {}; }
  }
  const state = Object.assign({ answers: {}, unsent: [] }, loadState());
  const params = new URLSearchParams(location.search);
  const urlPid = params.get("pid");
  if (urlPid && urlPid !== state.pid) {
    Object.assign(state, { pid: urlPid, token: null, answers: {}, unsent: [] });
  }
  if (params.get("token")) state.token = params.get("token");  // the link to go on in another browser
  if (!state.pid) {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    state.pid = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function save() { localStorage.setItem(storageKey, JSON.stringify(state)); }
  save();

  // order and sides drawn from the participant id: the same after a reload, different per participant
  const rng = mulberry32(fnv(state.pid + "|" + STUDY.id));
  const order = STUDY.trials.map((trial) => ({ trial, swap: rng() < 0.5 }));
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }

  const playsMp4 = document.createElement("video").canPlayType('video/mp4; codecs="avc1.640028"') !== "";
  let current = null;

  // onReady: the first frame shows; onPlayed: the clip has played through once
  function showGif(holder, path, onReady, onPlayed) {
    const img = document.createElement("img");
    img.alt = "";
    img.addEventListener("load", () => { onReady(); setTimeout(onPlayed, STUDY.settings.clip_ms); }, { once: true });
    img.src = path + ".gif";
    holder.replaceChildren(img);
  }
  // H.264 where the browser plays it; the GIF where it cannot (e.g. a Chromium without its proprietary codecs).
  // The video plays once to its end (so "played through" is what the browser saw), then loops.
  function showVideo(holder, path, onReady, onPlayed) {
    if (!playsMp4) return showGif(holder, path, onReady, onPlayed);
    const video = document.createElement("video");
    Object.assign(video, { muted: true, loop: false, autoplay: true, playsInline: true });
    let settled = false;
    const fallback = () => { if (!settled) { settled = true; showGif(holder, path, onReady, onPlayed); } };
    video.addEventListener("loadeddata", () => {
      if (!settled) { settled = true; onReady(); }
      video.play().catch(() => { video.controls = true; });  // autoplay refused (a phone saving power): a play button
    }, { once: true });
    video.addEventListener("ended", () => { onPlayed(); video.loop = true; video.play(); }, { once: true });
    video.addEventListener("error", fallback, { once: true });
    setTimeout(() => { if (video.readyState < 2) fallback(); }, 3000);
    video.src = path + ".mp4";
    holder.replaceChildren(video);
  }

  function remaining() { return order.filter((o) => !state.answers[o.trial.id]); }

  function renderStatus() {
    const done = order.length - remaining().length, unsent = state.unsent.length;
    $("status").textContent = served
      ? (unsent ? `${unsent} answer(s) not yet on the server: retrying` : `${done} answer(s) saved`)
      : `${done} answer(s) kept in this browser: download them when you finish`;
  }

  function render() {
    const left = remaining();
    const total = order.length, done = total - left.length;
    $("progress").textContent = left.length ? `Comparison ${done + 1} of ${total}` : `All ${total} comparisons done`;
    $("bar-fill").style.width = (100 * done / total) + "%";
    $("pid").textContent = state.pid;
    renderStatus();
    if (!left.length) {
      $("trial").hidden = true;
      $("done").hidden = false;
      const code = fnv(state.pid + ":" + STUDY.id + ":done").toString(16).toUpperCase();
      $("code").textContent = code;
      if (STUDY.completion_url) {
        $("continue").href = STUDY.completion_url.replaceAll("{code}", encodeURIComponent(code))
          .replaceAll("{pid}", encodeURIComponent(state.pid));
        $("continue").hidden = false;
      }
      return;
    }
    const { trial, swap } = left[0];
    const videos = swap ? [trial.b_video, trial.a_video] : [trial.a_video, trial.b_video];
    let loading = 2, playing = 2;
    current = { trial, position: done, shownLeft: swap ? "b" : "a", shown: performance.now(), ready: null,
      answerable: false };
    const shownTrial = current;
    const ready = () => { if (--loading === 0 && shownTrial === current) current.ready = performance.now(); };
    const played = () => { if (--playing === 0 && shownTrial === current) setAnswerable(true); };
    $("trial").hidden = false;
    $("done").hidden = true;
    setAnswerable(false);
    showVideo($("left"), videos[0], ready, played);
    showVideo($("right"), videos[1], ready, played);
  }

  // no answer before both videos played through once: a second key press cannot answer a trial unseen
  function setAnswerable(answerable) {
    if (current) current.answerable = answerable;
    $("trial").dataset.state = answerable ? "answerable" : "watching";
    if (answerable) $("wait").hidden = true;
  }

  async function post(path, body) {
    const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) });
    // read to the end: an unread body is cut off (ERR_ABORTED) when the page unloads
    return { status: response.status, ok: response.ok, body: await response.json().catch(() => ({})) };
  }

  // The server gives this participant id a token (a known id only with its token) and says which trials
  // it already holds: a participant can leave and come back. False when the id is taken elsewhere.
  async function startSession() {
    const response = await post("api/session", { participant: state.pid, token: state.token || undefined });
    if (response.status === 403) { showTaken(response.body.error); return false; }
    if (!response.ok) return true;
    state.token = response.body.token;
    for (const id of response.body.trials) if (!state.answers[id]) state.answers[id] = { trial: id, onServer: true };
    save();
    const link = new URL(location.href);
    link.search = new URLSearchParams({ pid: state.pid, token: state.token }).toString();
    $("resume").href = link.href;
    $("resume").hidden = false;
    return true;
  }

  function showTaken(message) {
    $("trial").hidden = true;
    $("taken").hidden = false;
    $("taken-reason").textContent = message;
  }

  // one answer at a time, oldest first; an answer stays in `unsent` until the server has it
  let sending = false;
  async function flush() {
    if (!served || sending) return;
    sending = true;
    try {
      while (state.unsent.length) {
        if (!state.token) await startSession();
        if (!state.token) break;
        const id = state.unsent[0];
        const response = await post("api/answer", { ...state.answers[id], token: state.token });
        if (response.status === 403) { state.token = null; break; }  // a new session first, then again
        if (!response.ok && response.status !== 400) break;  // 400: the server will never take it; it stays here
        state.unsent.shift();
        save();
      }
    } catch (e) { /* offline: sent again on the next answer or reload */ }
    sending = false;
    renderStatus();
  }

  function choose(side) {
    if (!current || $("trial").hidden) return;
    if (!current.answerable) { $("wait").hidden = false; return; }
    const c = current;
    current = null;
    const answer = { study: STUDY.id, participant: state.pid, trial: c.trial.id, shown_left: c.shownLeft,
      choice: side, response_ms: Math.round(performance.now() - (c.ready || c.shown)), position: c.position,
      ua_hash: fnv(navigator.userAgent).toString(16), received: new Date().toISOString() };
    state.answers[c.trial.id] = answer;
    state.unsent.push(c.trial.id);
    save();
    render();
    flush();
  }

  function download() {
    const lines = Object.values(state.answers).filter((a) => !a.onServer).map((a) => JSON.stringify(a) + "\n");
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob(lines, { type: "application/x-ndjson" }));
    link.download = `answers-${STUDY.id}-${state.pid}.jsonl`;
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  // a phone or tablet is tapped; a computer is clicked or answered with the arrow keys
  const touch = matchMedia("(pointer: coarse)").matches || window.innerWidth <= 600;
  $("hint").textContent = touch
    ? "Tap the more realistic video. Both play once before you can answer, then loop."
    : "Click the more realistic video, or press \u2190 / \u2192. Both play once before you can answer, then loop.";
  for (const text of STUDY.instructions) {
    const paragraph = document.createElement("p");
    paragraph.textContent = text;
    $("instructions").appendChild(paragraph);
  }
  $("start").addEventListener("click", () => {
    state.consented = new Date().toISOString();
    save();
    $("intro").hidden = true;
    render();
  });
  $("question").textContent = STUDY.question;
  $("pid").textContent = state.pid;
  document.documentElement.style.setProperty("--size", STUDY.settings.display_px + "px");
  for (const side of ["left", "right"]) $(side).addEventListener("click", () => choose(side));
  document.addEventListener("keydown", (e) => {
    if (e.key === "ArrowLeft") choose("left");
    if (e.key === "ArrowRight") choose("right");
  });
  $("download").addEventListener("click", download);

  async function start() {
    if (served) {
      try {
        if (!(await startSession())) return;
      } catch (e) { /* server gone: carry on, answers wait in unsent */ }
      flush();
    }
    if (state.consented || !remaining().length) render();
    else $("intro").hidden = false;
  }
  start();
})();
