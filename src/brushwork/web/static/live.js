// brushwork Live: the camera painted in this browser, frame by frame, with onnxruntime-web.
// Loaded by app.js only when Live is opened (so is the runtime, vendored under /static/ort/).
// The server sends each network once as ONNX (the file `brushwork apply --engine onnx` runs) and,
// for a painting, its style vector; nothing is sent back per frame. See docs/live.md.
"use strict";

const $ = (id) => document.getElementById(id);
//: Longest side of the painted frame (px), largest first: the automatic drop walks down this list.
const RUNGS = [640, 480, 320, 240, 160];
const DEFAULT_RUNG = 320;
//: Below this frame rate (over the last FPS_WINDOW ms) for DROP_AFTER ms, the resolution drops a rung.
const MIN_FPS = 10;
const FPS_WINDOW = 2000;
const DROP_AFTER = 3000;
//: Steadiness: how much of the previous painted frame (moved by the camera's motion) is kept where the
//: motion is reliable. 0 = off.
const STEADY = 0.7;
//: ... of the difference's smooth band; its fine band (the strokes) gets this share of that.
const HIGH_SHARE = 0.15;
let highShare = HIGH_SHARE;
//: Passes of the binomial blur that splits off the smooth band (1: a Gaussian of about 1 px; n: about
//: sqrt(n) px). A wider smooth band keeps more of the strokes but steadies less (docs/live.md).
const LOW_PASSES = 1;
let lowPasses = LOW_PASSES;
//: The camera's own style vector (strength < 1 with a painting) is measured again this often.
const PHOTO_VECTOR_MS = 2000;
const SESSIONS_KEPT = 3;

const live = {
  built: false, open: false, running: false, ort: null, catalogue: null,
  stream: null, facing: "user", styles: new Map(), style: null, sessions: new Map(),
  arbitrary: null, predictor: null, photoVector: null, photoVectorAt: 0, strength: 1,
  rung: DEFAULT_RUNG, auto: true, slowSince: 0, steady: STEADY, stabilizer: null,
  times: [], frames: 0, width: 0, height: 0, recorder: null, chunks: [], recordStart: 0,
  trace: null, lastMs: 0, runMs: 0, steadyMs: 0, message: "", messageAbout: "", loading: null, threads: 1,
  selecting: null, allocations: 0, profile: null, marks: {}, waitedAt: -Infinity, paintedAt: -Infinity,
};

// performance.now() (ms since the page's navigation) at each step of opening Live, for the benchmark.
function mark(name) { if (!(name in live.marks)) live.marks[name] = performance.now(); }

// --- page ------------------------------------------------------------------------------------
const MARKUP = `
  <div class="live-head">
    <h2 id="live-heading">Live camera</h2>
    <button type="button" class="button small" id="live-close">Back to photos</button>
  </div>
  <div class="error" id="live-error" role="alert" hidden></div>
  <div class="live-grid">
    <div class="live-stage">
      <canvas id="live-canvas" class="live-canvas" aria-label="The camera, painted"></canvas>
      <p class="live-readout" id="live-readout" aria-live="off">starting…</p>
      <p class="note" id="live-note" aria-live="polite"></p>
      <video id="live-video" playsinline muted hidden></video>
    </div>
    <div class="live-controls">
      <label for="live-style">Style</label>
      <select id="live-style"></select>
      <input type="file" id="live-painting" accept="image/*" class="visually-hidden" tabindex="-1"
             aria-label="Upload a painting for Live">
      <div class="slider">
        <label for="live-strength">Style strength</label><output for="live-strength" id="live-strength-out">100 %</output>
        <input type="range" id="live-strength" min="0" max="100" step="5" value="100">
      </div>
      <label for="live-size">Resolution</label>
      <select id="live-size"></select>
      <label class="check"><input type="checkbox" id="live-auto" checked>
        <span>Lower it by itself when the frame rate drops</span></label>
      <label class="check"><input type="checkbox" id="live-steady" checked>
        <span>Steady strokes (blend with the previous frame, moved with the camera)</span></label>
      <div class="live-buttons">
        <button type="button" class="button primary" id="live-start" hidden>Start camera</button>
        <button type="button" class="button" id="live-snapshot" disabled>Snapshot (PNG)</button>
        <button type="button" class="button" id="live-record" disabled>Record</button>
        <button type="button" class="button" id="live-flip" hidden>Switch camera</button>
      </div>
    </div>
  </div>`;

function build() {
  if (live.built) return;
  const css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = "/static/live.css";
  document.head.appendChild(css);
  const root = $("live");
  root.innerHTML = MARKUP;
  for (const side of RUNGS) {
    const opt = document.createElement("option");
    opt.value = side;
    opt.textContent = `${side} px`;
    $("live-size").appendChild(opt);
  }
  $("live-size").value = String(live.rung);
  $("live-close").addEventListener("click", closeLive);
  $("live-start").addEventListener("click", () => startCamera());
  $("live-flip").addEventListener("click", () => {
    live.facing = live.facing === "user" ? "environment" : "user";
    startCamera();
  });
  $("live-style").addEventListener("change", () => {
    const key = $("live-style").value;
    if (key === "__upload__") $("live-painting").click();
    else selectStyle(key);
  });
  $("live-painting").addEventListener("change", () => {
    const file = $("live-painting").files[0];
    if (file) uploadPainting(file);
    else if (live.style) $("live-style").value = live.style.key;
  });
  $("live-strength").addEventListener("input", () => {
    live.strength = Number($("live-strength").value) / 100;
    $("live-strength-out").textContent = `${$("live-strength").value} %`;
    live.photoVectorAt = 0;
  });
  $("live-size").addEventListener("change", () => { live.rung = Number($("live-size").value); resetFrames(); });
  $("live-auto").addEventListener("change", () => { live.auto = $("live-auto").checked; live.slowSince = 0; });
  $("live-steady").addEventListener("change", () => {
    live.steady = $("live-steady").checked ? STEADY : 0;
    if (live.stabilizer) live.stabilizer.reset();
  });
  $("live-snapshot").addEventListener("click", snapshot);
  $("live-record").addEventListener("click", toggleRecording);
  live.built = true;
}

// A message is the camera's or a style's (``about``): a style that loads clears only a style's
// message, so a refused camera stays explained while the first network finishes loading.
function say(text, about = "camera") {
  live.message = text || "";
  live.messageAbout = about;
  const box = $("live-error");
  box.textContent = live.message;
  box.hidden = !live.message;
}

function note(text) { $("live-note").textContent = text || ""; }

export async function openLive() {
  mark("open");
  build();
  $("studio").hidden = true;
  $("live").hidden = false;
  live.open = true;
  if (location.hash !== "#live") history.replaceState(null, "", "#live");
  $("live-heading").focus?.();
  if (live.loading) return live.loading;
  live.loading = (async () => {
    const problem = contextProblem();
    if (problem) { say(problem); return; }
    // Everything at once: the camera (its permission asked now), the list of styles and the runtime;
    // then the first style's network (download, WebAssembly compile, session) while the camera starts.
    const camera = requestCamera();
    try {
      await Promise.all([loadCatalogue(), loadRuntime()]);
    } catch (err) {
      say(`Live could not load its runtime: ${err.message}`);
      camera.then((got) => { if (got.stream) for (const track of got.stream.getTracks()) track.stop(); });
      return;
    }
    mark("runtime");
    if (!live.style && !live.selecting) selectStyle($("live-style").value);
    await startCamera(camera);
  })();
  try { await live.loading; } finally { live.loading = null; }
}

function closeLive() {
  stopCamera();
  live.open = false;
  $("live").hidden = true;
  $("studio").hidden = false;
  if (location.hash === "#live") history.replaceState(null, "", location.pathname);
}

// The camera needs a secure context (https, or http on localhost) and a browser that has one.
function contextProblem() {
  if (!window.isSecureContext) {
    const port = location.port ? `:${location.port}` : "";
    return `The camera only works on a secure page, and this one is plain http from ${location.hostname}. ` +
      `Open it on this computer as http://localhost${port}/ , or serve brushwork over HTTPS ` +
      "(a TLS reverse proxy) to use it from another device.";
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return "This browser cannot use a camera on this page (no navigator.mediaDevices).";
  }
  if (typeof WebAssembly !== "object") return "This browser has no WebAssembly, which Live needs.";
  return "";
}

function cameraProblem(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
    return "Camera permission was denied. Allow the camera for this site (the camera icon in the " +
      "address bar, or the browser's site settings), then press Start camera.";
  }
  if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError") {
    return "No camera was found. Connect one, then press Start camera.";
  }
  if (name === "NotReadableError" || name === "TrackStartError") {
    return "The camera is busy: another program or tab is using it. Close that one, then press Start camera.";
  }
  return `The camera could not start (${name || "error"}: ${(err && err.message) || err}).`;
}

// --- catalogue and runtime --------------------------------------------------------------------
async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `the server answered ${response.status}`);
  return body;
}

async function loadCatalogue() {
  if (live.catalogue) return;
  live.catalogue = await getJSON("/api/live");
  const select = $("live-style");
  const groups = { model: "Trained models", painting: "Any painting (the any-painting network)" };
  for (const [kind, label] of Object.entries(groups)) {
    const items = live.catalogue.styles.filter((s) => s.kind === kind);
    if (!items.length) continue;
    const group = document.createElement("optgroup");
    group.label = label;
    for (const s of items) {
      live.styles.set(s.key, s);
      const opt = document.createElement("option");
      opt.value = s.key;
      opt.textContent = s.title;
      group.appendChild(opt);
    }
    select.appendChild(group);
  }
  if (live.catalogue.arbitrary) {
    const opt = document.createElement("option");
    opt.value = "__upload__";
    opt.textContent = "Your own painting…";
    select.appendChild(opt);
  }
  const first = live.catalogue.styles[0];
  if (!first) throw new Error("this server has no style Live can paint");
  select.value = first.key;
}

async function loadRuntime() {
  if (live.ort) return;
  const info = live.catalogue ? live.catalogue.runtime : { module: "/static/ort/ort.wasm.min.mjs", wasm_paths: "/static/ort/" };
  const ort = await import(info.module);
  ort.env.wasm.wasmPaths = info.wasm_paths;
  // Threads need SharedArrayBuffer, which only a cross-origin isolated page has (COOP/COEP).
  live.threads = self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
  ort.env.wasm.numThreads = live.threads;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  live.ort = ort;
}

async function createSession(url, options = {}) {
  const response = await fetch(url);
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.detail || `the server answered ${response.status} for ${url}`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  return live.ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all", ...options });
}

// A style is ready when its network is loaded (and, for a painting, its vector is here). Switching
// keeps the old style painting until the new one is ready.
function selectStyle(key) {
  const run = chooseStyle(key).finally(() => { if (live.selecting === run) live.selecting = null; });
  live.selecting = run;
  return run;
}

async function chooseStyle(key) {
  const style = live.styles.get(key);
  if (!style) return;
  note(`Loading ${style.title}…`);
  try {
    if (style.kind === "model") {
      if (!live.sessions.has(key)) {
        live.sessions.set(key, await createSession(style.model));
        while (live.sessions.size > SESSIONS_KEPT) {
          const [old, session] = live.sessions.entries().next().value;
          if (live.style && live.style.key === old) break;
          live.sessions.delete(old);
          session.release();
        }
      }
    } else {
      if (!live.arbitrary) live.arbitrary = await createSession(live.catalogue.arbitrary.model);
      if (!style.vectorData) style.vectorData = Float32Array.from((await getJSON(style.vector)).vector);
    }
  } catch (err) {
    note("");
    say(`That style could not be loaded: ${err.message}`, "style");
    if (live.style) $("live-style").value = live.style.key;
    return;
  }
  live.style = style;
  mark("network");
  $("live-style").value = key;
  if (live.stabilizer) live.stabilizer.reset();
  if (live.messageAbout === "style") say("");
  note("");
}

async function uploadPainting(file) {
  const form = new FormData();
  form.append("painting", file);
  note("Reading the painting's style…");
  try {
    const body = await getJSON(live.catalogue.arbitrary.vector, { method: "POST", body: form });
    const key = `upload:${Date.now()}`;
    const style = { key, id: "my-painting", title: file.name, kind: "painting", vectorData: Float32Array.from(body.vector) };
    live.styles.set(key, style);
    const opt = document.createElement("option");
    opt.value = key;
    opt.textContent = `Your painting: ${file.name}`;
    $("live-style").insertBefore(opt, $("live-style").querySelector('option[value="__upload__"]'));
    await selectStyle(key);
  } catch (err) {
    note("");
    say(`That painting could not be used: ${err.message}`, "style");
    if (live.style) $("live-style").value = live.style.key;
  }
}

// --- camera ------------------------------------------------------------------------------------
// The camera's stream, asked for now: {stream} or {error}.
function requestCamera() {
  return navigator.mediaDevices.getUserMedia({
    audio: false, video: { facingMode: live.facing, width: { ideal: 640 }, height: { ideal: 480 } },
  }).then((stream) => ({ stream }), (error) => ({ error }));
}

async function startCamera(pending = null) {
  stopCamera();
  say("");
  $("live-start").hidden = true;
  const problem = contextProblem();
  if (problem) { say(problem); return; }
  const got = await (pending || requestCamera());
  if (got.error) {
    say(cameraProblem(got.error));
    $("live-start").hidden = false;
    return;
  }
  live.stream = got.stream;
  mark("camera");
  const video = $("live-video");
  video.srcObject = live.stream;
  await video.play().catch(() => {});
  const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  $("live-flip").hidden = cameras.length < 2;
  if (!live.style) await (live.selecting || selectStyle($("live-style").value));
  if (!live.style) return;
  $("live-snapshot").disabled = false;
  $("live-record").disabled = typeof MediaRecorder === "undefined";
  live.running = true;
  loop();
}

function stopCamera() {
  live.running = false;
  if (live.recorder && live.recorder.state !== "inactive") live.recorder.stop();
  if (live.stream) for (const track of live.stream.getTracks()) track.stop();
  live.stream = null;
  if (live.built) { $("live-snapshot").disabled = true; $("live-record").disabled = true; }
}

function resetFrames() {
  live.width = live.height = 0;
  resetProfile();
  live.times = [];
  live.slowSince = 0;
  if (live.stabilizer) live.stabilizer.reset();
}

// The painted frame's size: the camera's aspect, longest side `rung`, both sides multiples of 4
// (the networks halve the size twice).
function frameSize(video) {
  const vw = video.videoWidth, vh = video.videoHeight;
  const scale = live.rung / Math.max(vw, vh);
  return [Math.max(8, Math.round((vw * scale) / 4) * 4), Math.max(8, Math.round((vh * scale) / 4) * 4)];
}

// --- the loop ------------------------------------------------------------------------------------
const inputCanvas = document.createElement("canvas");
const inputContext = inputCanvas.getContext("2d", { willReadFrequently: true });
//: Where a frame's time goes (ms, summed since the last resetFps; status().profile gives the means):
//: capture = video -> canvas -> RGBA bytes, pre = bytes -> the network's float planes, run =
//: session.run, post = its output -> RGBA bytes, steady = the stabiliser, draw = putImageData,
//: wait = handing the page back its event loop between frames, camera = waiting for the camera's next
//: frame (a frame is painted once: see newCameraFrame).
const PHASES = ["camera", "capture", "pre", "run", "post", "steady", "draw", "wait", "frame"];
function resetProfile() {
  live.profile = Object.fromEntries([...PHASES, "n"].map((k) => [k, 0]));
  live.profile.runs = []; // each frame's session.run (ms), the last RUNS_KEPT
}
const RUNS_KEPT = 200;
const frameTimes = Object.fromEntries([...PHASES, "lastRun"].map((k) => [k, 0]));
function median(values) {
  const v = [...values].sort((a, b) => a - b);
  return v.length ? v[v.length >> 1] : 0;
}
resetProfile();

// The working memory of one painted size, made once and reused by every frame at that size (the
// float planes fed to the network and its tensor, the painted and the shown RGBA frame): a frame
// allocates only what the browser and the runtime hand back (the camera's pixels, the output).
function frameBuffers(w, h) {
  const n = w * h, ort = live.ort;
  live.allocations += 1;
  const planes = new Float32Array(3 * n);
  return {
    w, h, n, planes, painted: new Uint8ClampedArray(4 * n), image: new ImageData(w, h),
    input: new ort.Tensor("float32", planes, [1, 3, h, w]), style: new Float32Array(100),
  };
}

async function loop() {
  const video = $("live-video");
  const canvas = $("live-canvas");
  const context = canvas.getContext("2d");
  let buf = null;
  countFrames(video);
  while (live.running) {
    if (video.readyState < 2 || !video.videoWidth) { await pause(30); continue; }
    const [w, h] = frameSize(video);
    if (w !== live.width || h !== live.height || !buf || buf.w !== w || buf.h !== h) {
      live.width = w; live.height = h;
      inputCanvas.width = canvas.width = w;
      inputCanvas.height = canvas.height = h;
      buf = frameBuffers(w, h);
      live.stabilizer = new Stabilizer(w, h);
    }
    const prof = frameTimes; // this frame's phases, added to live.profile once it is shown
    for (const k of PHASES) prof[k] = 0;
    const start = performance.now();
    await newCameraFrame();
    if (!live.running) break;
    const fresh = performance.now();
    prof.camera += fresh - start;
    if (fresh - start > 1) live.waitedAt = fresh;
    inputContext.drawImage(video, 0, 0, w, h);
    const frame = inputContext.getImageData(0, 0, w, h);
    const captured = performance.now();
    prof.capture += captured - fresh;
    if (repeated(frame.data) && captured - live.paintedAt < REPAINT_MS) continue;
    live.paintedAt = captured;
    let painted;
    try {
      painted = await paint(frame, buf);
    } catch (err) {
      say(`Painting stopped: ${err.message}`);
      live.running = false;
      $("live-start").hidden = false;
      break;
    }
    if (!live.running) break;
    const steadyStart = performance.now();
    const shown = buf.image;
    if (live.steady > 0) live.stabilizer.apply(frame.data, painted, live.steady, shown.data);
    else shown.data.set(painted);
    const drawStart = performance.now();
    live.steadyMs = live.steady > 0 ? drawStart - steadyStart : 0;
    prof.steady += drawStart - steadyStart;
    context.putImageData(shown, 0, 0);
    if (live.trace) keepTrace(frame, shown, painted);
    const now = performance.now();
    prof.draw += now - drawStart;
    live.lastMs = now - start;
    live.frames += 1;
    live.times.push(now);
    while (live.times.length && live.times[0] < now - FPS_WINDOW) live.times.shift();
    if (live.frames === 1) mark("firstFrame");
    adapt(now);
    readout();
    await yieldToPage(); // let the page handle clicks between frames
    const end = performance.now();
    prof.wait += end - now;
    prof.frame += end - start;
    const total = live.profile;
    for (const k of PHASES) total[k] += prof[k];
    total.n += 1;
    if (total.runs.length >= RUNS_KEPT) total.runs.shift();
    total.runs.push(prof.lastRun);
  }
}

function pause(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

// The camera's frames, counted by requestVideoFrameCallback, so that each is painted once: painting a
// picture again spends the CPU (a laptop's battery) for nothing, counts in the frame rate as if it were
// new, and, steadied, is a frame with no motion. A frame is painted again after REPAINT_MS all the same,
// so a new style or setting shows on a camera that stopped sending. Browsers without the callback paint
// as fast as they can, as before.
const REPAINT_MS = 250;
const camera = { video: null, count: 0, painted: -1, handle: 0, wake: null, uncounted: false, tickAt: 0,
  interval: 0, takenAt: 0 };
function countFrames(video) {
  if (typeof video.requestVideoFrameCallback !== "function" || camera.uncounted || camera.video === video) return;
  camera.video = video;
  const tick = (now, meta) => {
    if (meta.presentedFrames > camera.count && camera.tickAt) { // the camera's frame interval, smoothed
      const each = (now - camera.tickAt) / (meta.presentedFrames - camera.count);
      camera.interval = camera.interval ? 0.9 * camera.interval + 0.1 * each : each;
    }
    camera.tickAt = now;
    camera.count = meta.presentedFrames;
    if (camera.wake) camera.wake();
    camera.handle = video.requestVideoFrameCallback(tick);
  };
  camera.handle = video.requestVideoFrameCallback(tick);
}

// Whether the camera's picture is exactly the last one painted (a camera can send a frame twice: the
// count moves but the picture does not), judged on SAMPLES pixels spread over the frame. A real
// camera's noise makes two frames differ somewhere, so only true repeats are skipped.
const SAMPLES = 2048;
const lastSamples = new Uint8Array(3 * SAMPLES);
let lastSampled = 0;
function repeated(rgba) {
  const step = 4 * Math.max(1, Math.floor(rgba.length / 4 / SAMPLES));
  let same = lastSampled === rgba.length;
  for (let i = 0, j = 0; i < rgba.length && j < lastSamples.length; i += step, j += 3) {
    if (lastSamples[j] !== rgba[i] || lastSamples[j + 1] !== rgba[i + 1] || lastSamples[j + 2] !== rgba[i + 2]) same = false;
    lastSamples[j] = rgba[i]; lastSamples[j + 1] = rgba[i + 1]; lastSamples[j + 2] = rgba[i + 2];
  }
  lastSampled = rgba.length;
  return same;
}

// The count moves when the browser next renders, which can be a few ms after the camera's frame came:
// a frame begun 1.5 camera intervals or more after the last one was taken has a new picture to paint
// whatever the camera's jitter, and waiting for the count then would only slow a page that paints
// slower than the camera sends.
function newCameraFrame() {
  const now = performance.now();
  const due = camera.interval > 0 && now - camera.takenAt >= 1.5 * camera.interval;
  if (!camera.video || camera.count !== camera.painted || due) {
    taken(now);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      camera.wake = null;
      taken(performance.now());
      resolve();
    };
    const timer = setTimeout(() => {
      if (camera.count === 0) uncount(); // the callback never came (a browser that gives it no frames)
      done();
    }, REPAINT_MS);
    camera.wake = done;
  });
}

// The frame the loop goes on to paint: the count and the time it was taken at.
function taken(now) {
  camera.painted = camera.count;
  camera.takenAt = now;
}

function uncount() {
  if (camera.video) camera.video.cancelVideoFrameCallback(camera.handle);
  camera.video = null;
  camera.uncounted = true;
}

// One turn of the event loop without setTimeout's 4 ms clamp on nested timers (a frame at 15 fps
// is 66 ms: the clamp alone was 6 % of it).
const yieldChannel = new MessageChannel();
const yieldWaiters = [];
yieldChannel.port1.onmessage = () => { const resolve = yieldWaiters.shift(); if (resolve) resolve(); };
function yieldToPage() {
  return new Promise((resolve) => { yieldWaiters.push(resolve); yieldChannel.port2.postMessage(0); });
}

function fps() {
  const t = live.times;
  return t.length > 1 ? ((t.length - 1) * 1000) / (t[t.length - 1] - t[0]) : 0;
}

// Drops a rung when painting holds the frame rate down; a camera that sends fewer frames (a dark room)
// is not the page being slow: the loop waited for it within the window, so nothing drops.
function adapt(now) {
  const rate = fps();
  const warm = live.times.length > 4 && now - live.times[0] >= FPS_WINDOW * 0.9;
  const cameraBound = now - live.waitedAt < FPS_WINDOW;
  if (!live.auto || !warm || rate >= MIN_FPS || cameraBound) { live.slowSince = 0; return; }
  if (!live.slowSince) { live.slowSince = now; return; }
  const index = RUNGS.indexOf(live.rung);
  if (now - live.slowSince < DROP_AFTER || index < 0 || index === RUNGS.length - 1) return;
  const from = `${live.width}×${live.height}`;
  live.rung = RUNGS[index + 1];
  $("live-size").value = String(live.rung);
  note(`Lowered the resolution from ${from} (${rate.toFixed(1)} fps) to keep up.`);
  resetFrames();
}

function readout() {
  const rate = fps();
  $("live-readout").textContent = `${rate.toFixed(1)} fps · ${live.width}×${live.height} · ` +
    `${live.threads} thread${live.threads > 1 ? "s" : ""} (WebAssembly)` + (live.steady > 0 ? " · steadied" : "");
}

// RGBA bytes -> [1, 3, H, W] floats in [0, 1]: what `brushwork apply` feeds its network.
function toPlanes(rgba, planes, n) {
  const g = n, b = 2 * n;
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    planes[i] = rgba[j] / 255;
    planes[g + i] = rgba[j + 1] / 255;
    planes[b + i] = rgba[j + 2] / 255;
  }
}

async function paint(frame, buf) {
  const style = live.style;
  const prof = frameTimes;
  const t0 = performance.now();
  const { n, planes, painted } = buf;
  toPlanes(frame.data, planes, n);
  let session, feeds;
  if (style.kind === "model") {
    session = live.sessions.get(style.key);
    feeds = { [session.inputNames[0]]: buf.input };
  } else {
    session = live.arbitrary;
    buf.style.set(await styleVector(frame));
    feeds = { [session.inputNames[0]]: buf.input, [session.inputNames[1]]: new live.ort.Tensor("float32", buf.style, [1, 100]) };
  }
  const ran = performance.now();
  prof.pre += ran - t0;
  // The output is the one array a frame still allocates: onnxruntime-web copies it out of its
  // WebAssembly memory into a new one (a pre-allocated CPU output is accepted but left unwritten in
  // 1.30: measured, all zeros).
  const y = (await session.run(feeds))[session.outputNames[0]].data;
  const done = performance.now();
  live.runMs = done - ran;
  prof.run += live.runMs;
  prof.lastRun = live.runMs;
  // A trained model's strength cross-fades with the photo (as apply does); a painting's is in its vector.
  // Uint8ClampedArray stores clamp to 0..255 and round, as the clamp to [0, 1] and x255 of apply.
  const s = style.kind === "model" ? live.strength : 1;
  const g = n, b = 2 * n;
  if (s >= 1) {
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      painted[j] = 255 * y[i]; painted[j + 1] = 255 * y[g + i]; painted[j + 2] = 255 * y[b + i]; painted[j + 3] = 255;
    }
  } else {
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      for (let c = 0, k = i; c < 3; c++, k += n) {
        const v = y[k] < 0 ? 0 : y[k] > 1 ? 1 : y[k];
        painted[j + c] = 255 * (s * v + (1 - s) * planes[k]);
      }
      painted[j + 3] = 255;
    }
  }
  prof.post += performance.now() - done;
  return painted;
}

// A painting's vector, moved toward the camera's own style when strength < 1 (as apply --strength):
// the camera's vector comes from the style predictor, run on a frame every PHOTO_VECTOR_MS.
async function styleVector(frame) {
  const v = live.style.vectorData;
  if (live.strength >= 1) return v;
  const now = performance.now();
  if (!live.photoVector || now - live.photoVectorAt > PHOTO_VECTOR_MS) {
    if (!live.predictor) live.predictor = await createSession(live.catalogue.arbitrary.predictor, { graphOptimizationLevel: "basic" });
    live.photoVector = await predictStyle(frame);
    live.photoVectorAt = now;
  }
  const s = live.strength, out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = s * v[i] + (1 - s) * live.photoVector[i];
  return out;
}

async function predictStyle(frame) {
  const side = Math.min(frame.width, frame.height), size = 256;
  const canvas = new OffscreenCanvas(size, size);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.imageSmoothingQuality = "high";
  const source = new OffscreenCanvas(frame.width, frame.height);
  source.getContext("2d").putImageData(frame, 0, 0);
  context.drawImage(source, (frame.width - side) / 2, (frame.height - side) / 2, side, side, 0, 0, size, size);
  const rgba = context.getImageData(0, 0, size, size).data;
  const nhwc = new Float32Array(size * size * 3);
  for (let i = 0, j = 0; j < rgba.length; i += 3, j += 4) {
    nhwc[i] = rgba[j] / 255; nhwc[i + 1] = rgba[j + 1] / 255; nhwc[i + 2] = rgba[j + 2] / 255;
  }
  const session = live.predictor;
  const result = await session.run({ [session.inputNames[0]]: new live.ort.Tensor("float32", nhwc, [1, size, size, 3]) });
  return Float32Array.from(result[session.outputNames[0]].data);
}

// --- steadiness ----------------------------------------------------------------------------------
// Motion-aware blending with the previous painted frame: the camera's motion (block matching on the
// grey input, coarse to fine, sub-pixel at full size) moves the previous output onto this frame,
// and it is blended in where the moved previous *input* matches this one (so occlusions, new
// content and scene cuts take the new painting). out = (1 - w)·painted + w·moved previous output,
// w = steadiness × match. All its working memory is made once per size (the grey frames and their
// pyramids, the motion field, the bands) and reused: a frame allocates nothing.
const BLOCK = 16;

class Stabilizer {
  constructor(w, h) {
    this.w = w; this.h = h;
    const n = w * h;
    this.bw = Math.ceil(w / BLOCK); this.bh = Math.ceil(h / BLOCK);
    live.allocations += 1;
    // Two pyramids of grey frames (this frame's and the previous one's, swapped every frame): level 0
    // full size, then halves while wider than 96 px (at most 4 levels).
    const sizes = [[w, h]];
    while (sizes[sizes.length - 1][0] > 96 && sizes.length < 4) {
      const [a, b] = sizes[sizes.length - 1];
      sizes.push([Math.floor(a / 2), Math.floor(b / 2)]);
    }
    this.pyramids = [0, 1].map(() => sizes.map(([a, b]) => ({ data: new Float32Array(a * b), w: a, h: b })));
    const count = this.bw * this.bh;
    this.field = [0, 1, 2, 3].map(() => new Float32Array(count)); // fx, fy and their medians
    this.window = new Float64Array(9);
    this.prevOut = new Float32Array(4 * n); // the previous shown frame, in floats
    this.diff = new Float32Array(3 * n); this.low = new Float32Array(3 * n); this.tmp = new Float32Array(n);
    this.err = new Float32Array(n); this.smooth = new Float32Array(n); this.valid = new Uint8Array(n);
    // Per column: the blocks either side and the weight between them (the motion field is interpolated).
    this.colA = new Int32Array(w); this.colB = new Int32Array(w); this.colT = new Float64Array(w);
    for (let x = 0; x < w; x++) {
      const gx = Math.min(this.bw - 1, Math.max(0, (x + 0.5) / BLOCK - 0.5));
      this.colA[x] = Math.floor(gx); this.colB[x] = Math.min(this.bw - 1, this.colA[x] + 1); this.colT[x] = gx - this.colA[x];
    }
    this.current = 0;
    this.reset();
  }

  reset() { this.started = false; }

  // Writes the steadied frame into `target` (RGBA bytes) from the camera's `rgba` and the network's
  // `painted` frame.
  apply(rgba, painted, strength, target) {
    const { w, h } = this, n = w * h;
    const cur = this.pyramids[this.current], prev = this.pyramids[1 - this.current];
    const grey = cur[0].data;
    for (let i = 0, j = 0; i < n; i++, j += 4) grey[i] = 0.299 * rgba[j] + 0.587 * rgba[j + 1] + 0.114 * rgba[j + 2];
    for (let l = 1; l < cur.length; l++) half(cur[l - 1], cur[l]);
    if (this.started) {
      this.blend(grey, prev[0].data, painted, this.flow(cur, prev), strength, target);
    } else {
      target.set(painted);
      this.prevOut.set(painted);
    }
    this.started = true;
    this.current = 1 - this.current;
  }

  // Per-block backward motion (where each block of this frame was in the previous one), in pixels.
  flow(curLevels, prevLevels) {
    const top = curLevels.length - 1;
    let [fx, fy, mx, my] = this.field;
    fx.fill(0); fy.fill(0);
    for (let l = top; l >= 0; l--) {
      const c = curLevels[l], p = prevLevels[l];
      const scale = 1 << l;
      const radius = l === top ? 4 : 1;
      const win = Math.max(4, BLOCK / scale);
      for (let by = 0; by < this.bh; by++) {
        for (let bx = 0; bx < this.bw; bx++) {
          const k = by * this.bw + bx;
          const cx = Math.floor(((bx + 0.5) * BLOCK) / scale - win / 2);
          const cy = Math.floor(((by + 0.5) * BLOCK) / scale - win / 2);
          const gx = Math.round(fx[k] / scale), gy = Math.round(fy[k] / scale);
          let best = Infinity, dx0 = gx, dy0 = gy;
          for (let dy = gy - radius; dy <= gy + radius; dy++) {
            for (let dx = gx - radius; dx <= gx + radius; dx++) {
              const cost = sad(c, p, cx, cy, win, dx, dy);
              if (cost < best) { best = cost; dx0 = dx; dy0 = dy; }
            }
          }
          let sx = 0, sy = 0;
          if (l === 0) { // sub-pixel: a parabola through the costs either side of the best
            sx = subpixel(sad(c, p, cx, cy, win, dx0 - 1, dy0), best, sad(c, p, cx, cy, win, dx0 + 1, dy0));
            sy = subpixel(sad(c, p, cx, cy, win, dx0, dy0 - 1), best, sad(c, p, cx, cy, win, dx0, dy0 + 1));
          }
          fx[k] = (dx0 + sx) * scale;
          fy[k] = (dy0 + sy) * scale;
        }
      }
      median3(fx, mx, this.bw, this.bh, this.window);
      median3(fy, my, this.bw, this.bh, this.window);
      [fx, mx] = [mx, fx];
      [fy, my] = [my, fy];
    }
    return { fx, fy };
  }

  blend(grey, prevGrey, painted, flow, strength, target) {
    const { w, h, bw, bh, prevOut, diff, err, valid, low, colA, colB, colT } = this, n = w * h;
    const fxs = flow.fx, fys = flow.fy;
    for (let y = 0; y < h; y++) {
      const gy = Math.min(bh - 1, Math.max(0, (y + 0.5) / BLOCK - 0.5));
      const y0 = Math.floor(gy), y1 = Math.min(bh - 1, y0 + 1), ty = gy - y0;
      for (let x = 0; x < w; x++) {
        const x0 = colA[x], x1 = colB[x], tx = colT[x];
        const k00 = y0 * bw + x0, k01 = y0 * bw + x1, k10 = y1 * bw + x0, k11 = y1 * bw + x1;
        const dx = (1 - ty) * ((1 - tx) * fxs[k00] + tx * fxs[k01]) + ty * ((1 - tx) * fxs[k10] + tx * fxs[k11]);
        const dy = (1 - ty) * ((1 - tx) * fys[k00] + tx * fys[k01]) + ty * ((1 - tx) * fys[k10] + tx * fys[k11]);
        const sx = x + dx, sy = y + dy, i = y * w + x;
        if (sx < 0 || sy < 0 || sx > w - 1 || sy > h - 1) {
          err[i] = 255; valid[i] = 0; diff[i] = 0; diff[n + i] = 0; diff[2 * n + i] = 0;
          continue;
        }
        valid[i] = 1;
        const ax = Math.floor(sx), ay = Math.floor(sy);
        const bx = Math.min(w - 1, ax + 1), by2 = Math.min(h - 1, ay + 1), u = sx - ax, v = sy - ay;
        const p00 = ay * w + ax, p01 = ay * w + bx, p10 = by2 * w + ax, p11 = by2 * w + bx;
        const w00 = (1 - u) * (1 - v), w01 = u * (1 - v), w10 = (1 - u) * v, w11 = u * v;
        const g = w00 * prevGrey[p00] + w01 * prevGrey[p01] + w10 * prevGrey[p10] + w11 * prevGrey[p11];
        err[i] = Math.abs(g - grey[i]);
        const q00 = 4 * p00, q01 = 4 * p01, q10 = 4 * p10, q11 = 4 * p11, q = 4 * i;
        for (let c = 0; c < 3; c++) {
          const moved = w00 * prevOut[q00 + c] + w01 * prevOut[q01 + c] + w10 * prevOut[q10 + c] + w11 * prevOut[q11 + c];
          diff[c * n + i] = moved - painted[q + c];
        }
      }
    }
    const smooth = boxBlur(err, this.smooth, this.tmp, w, h, 2);
    // The difference to the moved previous frame, split in two bands: its smooth part (colour and
    // tone drifting between frames) is taken almost whole, its fine part (the strokes themselves)
    // only a little, so the strokes keep their contrast (the painting's texture) while they steady.
    for (let c = 0; c < 3; c++) {
      const band = low.subarray(c * n, (c + 1) * n);
      binomial(diff.subarray(c * n, (c + 1) * n), band, this.tmp, w, h);
      for (let pass = 1; pass < lowPasses; pass++) binomial(band, band, this.tmp, w, h); // in place: rows go to tmp first
    }
    const sLow = strength, sHigh = strength * highShare;
    const lo = 6, hi = 24; // grey levels: a match below lo is trusted fully, above hi not at all
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      const match = valid[i] ? Math.min(1, Math.max(0, (hi - smooth[i]) / (hi - lo))) : 0;
      for (let c = 0, k = i; c < 3; c++, k += n) {
        const d = diff[k], l = low[k];
        const value = Math.min(255, Math.max(0, painted[j + c] + match * (sLow * l + sHigh * (d - l))));
        prevOut[j + c] = value; // kept in floats: the next frame blends with it
        target[j + c] = value;
      }
      prevOut[j + 3] = 255;
      target[j + 3] = 255;
    }
  }
}

// A 5-tap binomial blur (1 4 6 4 1)/16 each way: a Gaussian of about 1 px (edges repeated). `tmp`
// holds the horizontal pass.
const K0 = 1 / 16, K1 = 4 / 16, K2 = 6 / 16;
function binomial(src, out, tmp, w, h) {
  const k = [K0, K1, K2, K1, K0];
  const clampedRow = (row, x) => {
    let s = 0;
    for (let t = -2; t <= 2; t++) s += k[t + 2] * src[row + Math.min(w - 1, Math.max(0, x + t))];
    return s;
  };
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < Math.min(2, w); x++) tmp[row + x] = clampedRow(row, x);
    for (let x = 2; x < w - 2; x++) {
      const i = row + x;
      tmp[i] = K0 * src[i - 2] + K1 * src[i - 1] + K2 * src[i] + K1 * src[i + 1] + K0 * src[i + 2];
    }
    for (let x = Math.max(2, w - 2); x < w; x++) tmp[row + x] = clampedRow(row, x);
  }
  const clampedColumn = (y, x) => {
    let s = 0;
    for (let t = -2; t <= 2; t++) s += k[t + 2] * tmp[Math.min(h - 1, Math.max(0, y + t)) * w + x];
    return s;
  };
  for (let y = 0; y < h; y++) {
    const row = y * w;
    if (y < 2 || y >= h - 2) {
      for (let x = 0; x < w; x++) out[row + x] = clampedColumn(y, x);
      continue;
    }
    const a = row - 2 * w, b = row - w, d = row + w, e = row + 2 * w;
    for (let x = 0; x < w; x++) {
      out[row + x] = K0 * tmp[a + x] + K1 * tmp[b + x] + K2 * tmp[row + x] + K1 * tmp[d + x] + K0 * tmp[e + x];
    }
  }
}

// `img` halved into `out` (2x2 means).
function half(img, out) {
  const { w, h, data: o } = out, d = img.data, iw = img.w;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 2 * y * iw + 2 * x;
      o[y * w + x] = 0.25 * (d[i] + d[i + 1] + d[i + iw] + d[i + iw + 1]);
    }
  }
}

// Mean absolute difference of this frame's window at (x0, y0) and the previous frame's, shifted by
// (dx, dy), over the pixels inside both frames (a window mostly outside costs 64 more).
function sad(c, p, x0, y0, win, dx, dy) {
  const ya = Math.max(y0, 0, -dy), yb = Math.min(y0 + win, c.h, p.h - dy);
  const xa = Math.max(x0, 0, -dx), xb = Math.min(x0 + win, c.w, p.w - dx);
  if (ya >= yb || xa >= xb) return Infinity;
  const cd = c.data, pd = p.data, cw = c.w, pw = p.w;
  let total = 0;
  for (let y = ya; y < yb; y++) {
    const ci = y * cw, pi = (y + dy) * pw + dx;
    for (let x = xa; x < xb; x++) total += Math.abs(cd[ci + x] - pd[pi + x]);
  }
  const count = (yb - ya) * (xb - xa);
  return total / count + (count < (win * win) / 2 ? 64 : 0);
}

function subpixel(a, b, c) {
  const d = a - 2 * b + c;
  if (!(d > 0) || !Number.isFinite(a) || !Number.isFinite(c)) return 0;
  return Math.max(-0.5, Math.min(0.5, (a - c) / (2 * d)));
}

// 3x3 median of the block field `f` into `out` (`v`: room for 9 values).
function median3(f, out, w, h, v) {
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let m = 0;
      for (let j = Math.max(0, y - 1); j <= Math.min(h - 1, y + 1); j++) {
        for (let i = Math.max(0, x - 1); i <= Math.min(w - 1, x + 1); i++) {
          const value = f[j * w + i];
          let k = m++;
          while (k > 0 && v[k - 1] > value) { v[k] = v[k - 1]; k--; }
          v[k] = value;
        }
      }
      out[y * w + x] = v[m >> 1];
    }
  }
}

// Box mean of radius r (edges: the mean of what is inside) of `src` into `out`; `tmp` for the rows.
function boxBlur(src, out, tmp, w, h, r) {
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0, c = 0;
      for (let i = Math.max(0, x - r); i <= Math.min(w - 1, x + r); i++) { s += src[y * w + i]; c++; }
      tmp[y * w + x] = s / c;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0, c = 0;
      for (let j = Math.max(0, y - r); j <= Math.min(h - 1, y + r); j++) { s += tmp[j * w + x]; c++; }
      out[y * w + x] = s / c;
    }
  }
  return out;
}

// --- snapshot and recording ------------------------------------------------------------------------
function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function fileStem() { return `brushwork-live-${(live.style && live.style.id) || "style"}`; }

function snapshot() {
  $("live-canvas").toBlob((blob) => { if (blob) download(blob, `${fileStem()}.png`); }, "image/png");
}

function recordingType() {
  for (const type of ["video/webm;codecs=vp9", "video/webm;codecs=vp8", "video/webm", "video/mp4"]) {
    if (MediaRecorder.isTypeSupported(type)) return type;
  }
  return "";
}

function toggleRecording() {
  const button = $("live-record");
  if (live.recorder && live.recorder.state === "recording") { live.recorder.stop(); return; }
  const type = recordingType();
  const stream = $("live-canvas").captureStream(30);
  const recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
  live.chunks = [];
  recorder.ondataavailable = (event) => { if (event.data.size) live.chunks.push(event.data); };
  recorder.onstop = () => {
    const kind = recorder.mimeType || type || "video/webm";
    download(new Blob(live.chunks, { type: kind }), `${fileStem()}.${kind.includes("mp4") ? "mp4" : "webm"}`);
    for (const track of stream.getTracks()) track.stop();
    button.textContent = "Record";
    button.classList.remove("recording");
  };
  recorder.start(1000);
  live.recorder = recorder;
  live.recordStart = performance.now();
  button.textContent = "Stop recording";
  button.classList.add("recording");
}

// --- for tests and benchmarks: window.brushworkLive ----------------------------------------------
// Each traced frame: the camera's, the network's painting of it, and what was shown (steadied).
function keepTrace(frame, out, painted) {
  const t = live.trace, copy = (data) => new ImageData(new Uint8ClampedArray(data), frame.width, frame.height);
  t.items.push({ input: copy(frame.data), painted: copy(painted), output: copy(out.data) });
  if (t.items.length >= t.count) { live.trace = null; t.resolve(t.items); }
}

async function asPNG(imageData) {
  const canvas = new OffscreenCanvas(imageData.width, imageData.height);
  canvas.getContext("2d").putImageData(imageData, 0, 0);
  const blob = await canvas.convertToBlob({ type: "image/png" });
  return new Promise((resolve) => { const r = new FileReader(); r.onload = () => resolve(r.result); r.readAsDataURL(blob); });
}

window.brushworkLive = {
  status: () => ({
    running: live.running, style: live.style && live.style.key, fps: fps(), width: live.width, height: live.height,
    frames: live.frames, lastMs: live.lastMs, runMs: live.runMs, steadyMs: live.steadyMs, threads: live.threads, isolated: self.crossOriginIsolated,
    message: live.message, rung: live.rung, auto: live.auto, steady: live.steady,
    styles: [...live.styles.keys()], allocations: live.allocations, marks: live.marks,
    // Mean ms per frame of each phase since the last resetFps (see PHASES).
    profile: Object.fromEntries(PHASES.map((k) => [k, live.profile.n ? +(live.profile[k] / live.profile.n).toFixed(2) : 0])
      .concat([["frames", live.profile.n], ["runMedian", +median(live.profile.runs).toFixed(2)],
        ["runMin", +Math.min(...live.profile.runs, Infinity).toFixed(2)]])),
    numThreads: live.ort ? live.ort.env.wasm.numThreads : 0,
    cameraCounted: camera.video !== null, cameraFrames: camera.count,
  }),
  selectStyle: (key) => selectStyle(key),
  setResolution: (side, auto = false) => { live.rung = side; live.auto = auto; $("live-size").value = String(side); $("live-auto").checked = auto; resetFrames(); },
  setSteady: (value, share = HIGH_SHARE, passes = LOW_PASSES) => { live.steady = value; highShare = share; lowPasses = passes; $("live-steady").checked = value > 0; if (live.stabilizer) live.stabilizer.reset(); },
  setStrength: (value) => { live.strength = value; live.photoVectorAt = 0; },
  trace: (count) => new Promise((resolve) => { live.trace = { count, items: [], resolve }; })
    .then((items) => Promise.all(items.map(async (it) => ({
      input: await asPNG(it.input), painted: await asPNG(it.painted), output: await asPNG(it.output) })))),
  resetFps: () => { live.times = []; live.frames = 0; resetProfile(); },
  resetProfile: () => resetProfile(),
};
