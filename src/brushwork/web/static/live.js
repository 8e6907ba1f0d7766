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
//: The camera's own style vector (strength < 1 with a painting) is measured again this often.
const PHOTO_VECTOR_MS = 2000;
const SESSIONS_KEPT = 3;

const live = {
  built: false, open: false, running: false, ort: null, catalogue: null,
  stream: null, facing: "user", styles: new Map(), style: null, sessions: new Map(),
  arbitrary: null, predictor: null, photoVector: null, photoVectorAt: 0, strength: 1,
  rung: DEFAULT_RUNG, auto: true, slowSince: 0, steady: STEADY, stabilizer: null,
  times: [], frames: 0, width: 0, height: 0, recorder: null, chunks: [], recordStart: 0,
  trace: null, lastMs: 0, runMs: 0, steadyMs: 0, message: "", loading: null, threads: 1,
};

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

function say(text) {
  live.message = text || "";
  const box = $("live-error");
  box.textContent = live.message;
  box.hidden = !live.message;
}

function note(text) { $("live-note").textContent = text || ""; }

export async function openLive() {
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
    try {
      await Promise.all([loadCatalogue(), loadRuntime()]);
    } catch (err) {
      say(`Live could not load its runtime: ${err.message}`);
      return;
    }
    await startCamera();
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
async function selectStyle(key) {
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
    say(`That style could not be loaded: ${err.message}`);
    if (live.style) $("live-style").value = live.style.key;
    return;
  }
  live.style = style;
  $("live-style").value = key;
  if (live.stabilizer) live.stabilizer.reset();
  say("");
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
    say(`That painting could not be used: ${err.message}`);
    if (live.style) $("live-style").value = live.style.key;
  }
}

// --- camera ------------------------------------------------------------------------------------
async function startCamera() {
  stopCamera();
  say("");
  $("live-start").hidden = true;
  const problem = contextProblem();
  if (problem) { say(problem); return; }
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({
      audio: false, video: { facingMode: live.facing, width: { ideal: 640 }, height: { ideal: 480 } },
    });
  } catch (err) {
    say(cameraProblem(err));
    $("live-start").hidden = false;
    return;
  }
  const video = $("live-video");
  video.srcObject = live.stream;
  await video.play().catch(() => {});
  const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  $("live-flip").hidden = cameras.length < 2;
  if (!live.style) await selectStyle($("live-style").value);
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

async function loop() {
  const video = $("live-video");
  const canvas = $("live-canvas");
  const context = canvas.getContext("2d");
  while (live.running) {
    if (video.readyState < 2 || !video.videoWidth) { await pause(30); continue; }
    const [w, h] = frameSize(video);
    if (w !== live.width || h !== live.height) {
      live.width = w; live.height = h;
      inputCanvas.width = canvas.width = w;
      inputCanvas.height = canvas.height = h;
      live.stabilizer = new Stabilizer(w, h);
    }
    const start = performance.now();
    inputContext.drawImage(video, 0, 0, w, h);
    const frame = inputContext.getImageData(0, 0, w, h);
    let painted;
    try {
      painted = await paint(frame, w, h);
    } catch (err) {
      say(`Painting stopped: ${err.message}`);
      live.running = false;
      $("live-start").hidden = false;
      break;
    }
    if (!live.running) break;
    const steadyStart = performance.now();
    const steadied = live.steady > 0 ? live.stabilizer.apply(frame.data, painted, live.steady) : painted;
    live.steadyMs = performance.now() - steadyStart;
    const out = new ImageData(w, h);
    out.data.set(steadied);
    context.putImageData(out, 0, 0);
    if (live.trace) keepTrace(frame, out, painted);
    const now = performance.now();
    live.lastMs = now - start;
    live.frames += 1;
    live.times.push(now);
    while (live.times.length && live.times[0] < now - FPS_WINDOW) live.times.shift();
    adapt(now);
    readout();
    await pause(0); // let the page handle clicks between frames
  }
}

function pause(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

function fps() {
  const t = live.times;
  return t.length > 1 ? ((t.length - 1) * 1000) / (t[t.length - 1] - t[0]) : 0;
}

function adapt(now) {
  const rate = fps();
  const warm = live.times.length > 4 && now - live.times[0] >= FPS_WINDOW * 0.9;
  if (!live.auto || !warm || rate >= MIN_FPS) { live.slowSince = 0; return; }
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
function toPlanes(rgba, w, h) {
  const n = w * h, planes = new Float32Array(3 * n);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    planes[i] = rgba[j] / 255;
    planes[n + i] = rgba[j + 1] / 255;
    planes[2 * n + i] = rgba[j + 2] / 255;
  }
  return planes;
}

async function paint(frame, w, h) {
  const style = live.style;
  const ort = live.ort;
  const planes = toPlanes(frame.data, w, h);
  const image = new ort.Tensor("float32", planes, [1, 3, h, w]);
  let session, feeds;
  if (style.kind === "model") {
    session = live.sessions.get(style.key);
    feeds = { [session.inputNames[0]]: image };
  } else {
    session = live.arbitrary;
    feeds = { [session.inputNames[0]]: image, [session.inputNames[1]]: new ort.Tensor("float32", await styleVector(frame), [1, 100]) };
  }
  const ran = performance.now();
  const results = await session.run(feeds);
  live.runMs = performance.now() - ran;
  const y = results[session.outputNames[0]].data;
  const n = w * h, rgba = new Uint8ClampedArray(4 * n);
  // A trained model's strength cross-fades with the photo (as apply does); a painting's is in its vector.
  const s = style.kind === "model" ? live.strength : 1;
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    for (let c = 0; c < 3; c++) {
      const v = Math.min(1, Math.max(0, y[c * n + i]));
      rgba[j + c] = Math.round(255 * (s * v + (1 - s) * planes[c * n + i]));
    }
    rgba[j + 3] = 255;
  }
  return rgba;
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
// w = steadiness × match. Cheap: a few milliseconds at 320×240 in plain JavaScript.
const BLOCK = 16;

class Stabilizer {
  constructor(w, h) {
    this.w = w; this.h = h;
    this.bw = Math.ceil(w / BLOCK); this.bh = Math.ceil(h / BLOCK);
    this.reset();
  }

  reset() { this.prevGrey = null; this.prevOut = null; }

  apply(rgba, painted, strength) {
    const { w, h } = this, n = w * h;
    const grey = new Float32Array(n);
    for (let i = 0, j = 0; i < n; i++, j += 4) grey[i] = 0.299 * rgba[j] + 0.587 * rgba[j + 1] + 0.114 * rgba[j + 2];
    let out = painted;
    if (this.prevGrey) out = this.blend(grey, painted, this.flow(grey, this.prevGrey), strength);
    this.prevGrey = grey;
    this.prevOut = out; // kept in floats: the next frame blends with it
    return out === painted ? painted : Uint8ClampedArray.from(out);
  }

  // Per-block backward motion (where each block of this frame was in the previous one), in pixels.
  flow(cur, prev) {
    const levels = [];
    let a = { data: cur, w: this.w, h: this.h }, b = { data: prev, w: this.w, h: this.h };
    levels.push([a, b]);
    while (a.w > 96 && levels.length < 4) { a = half(a); b = half(b); levels.push([a, b]); }
    const count = this.bw * this.bh;
    let fx = new Float32Array(count), fy = new Float32Array(count);
    for (let l = levels.length - 1; l >= 0; l--) {
      const [c, p] = levels[l];
      const scale = 1 << l;
      const radius = l === levels.length - 1 ? 4 : 1;
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
      [fx, fy] = [median3(fx, this.bw, this.bh), median3(fy, this.bw, this.bh)];
    }
    return { fx, fy };
  }

  blend(grey, painted, flow, strength) {
    const { w, h, bw, bh } = this, n = w * h;
    const prevOut = this.prevOut, prevGrey = this.prevGrey;
    const diff = new Float32Array(3 * n), err = new Float32Array(n), valid = new Uint8Array(n);
    for (let y = 0; y < h; y++) {
      const gy = Math.min(bh - 1, Math.max(0, (y + 0.5) / BLOCK - 0.5));
      const y0 = Math.floor(gy), y1 = Math.min(bh - 1, y0 + 1), ty = gy - y0;
      for (let x = 0; x < w; x++) {
        const gx = Math.min(bw - 1, Math.max(0, (x + 0.5) / BLOCK - 0.5));
        const x0 = Math.floor(gx), x1 = Math.min(bw - 1, x0 + 1), tx = gx - x0;
        const k00 = y0 * bw + x0, k01 = y0 * bw + x1, k10 = y1 * bw + x0, k11 = y1 * bw + x1;
        const dx = (1 - ty) * ((1 - tx) * flow.fx[k00] + tx * flow.fx[k01]) + ty * ((1 - tx) * flow.fx[k10] + tx * flow.fx[k11]);
        const dy = (1 - ty) * ((1 - tx) * flow.fy[k00] + tx * flow.fy[k01]) + ty * ((1 - tx) * flow.fy[k10] + tx * flow.fy[k11]);
        const sx = x + dx, sy = y + dy, i = y * w + x;
        if (sx < 0 || sy < 0 || sx > w - 1 || sy > h - 1) { err[i] = 255; continue; }
        valid[i] = 1;
        const ax = Math.floor(sx), ay = Math.floor(sy);
        const bx = Math.min(w - 1, ax + 1), by2 = Math.min(h - 1, ay + 1), u = sx - ax, v = sy - ay;
        const p00 = ay * w + ax, p01 = ay * w + bx, p10 = by2 * w + ax, p11 = by2 * w + bx;
        const w00 = (1 - u) * (1 - v), w01 = u * (1 - v), w10 = (1 - u) * v, w11 = u * v;
        const g = w00 * prevGrey[p00] + w01 * prevGrey[p01] + w10 * prevGrey[p10] + w11 * prevGrey[p11];
        err[i] = Math.abs(g - grey[i]);
        for (let c = 0; c < 3; c++) {
          const moved = w00 * prevOut[4 * p00 + c] + w01 * prevOut[4 * p01 + c] + w10 * prevOut[4 * p10 + c] + w11 * prevOut[4 * p11 + c];
          diff[c * n + i] = moved - painted[4 * i + c];
        }
      }
    }
    const smooth = boxBlur(err, w, h, 2);
    // The difference to the moved previous frame, split in two bands: its smooth part (colour and
    // tone drifting between frames) is taken almost whole, its fine part (the strokes themselves)
    // only a little, so the strokes keep their contrast (the painting's texture) while they steady.
    const low = new Float32Array(3 * n);
    for (let c = 0; c < 3; c++) binomial(diff.subarray(c * n, (c + 1) * n), low.subarray(c * n, (c + 1) * n), w, h);
    const sLow = strength, sHigh = strength * highShare;
    const out = new Float32Array(4 * n);
    const lo = 6, hi = 24; // grey levels: a match below lo is trusted fully, above hi not at all
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      const match = valid[i] ? Math.min(1, Math.max(0, (hi - smooth[i]) / (hi - lo))) : 0;
      for (let c = 0; c < 3; c++) {
        const d = diff[c * n + i], l = low[c * n + i];
        out[j + c] = Math.min(255, Math.max(0, painted[j + c] + match * (sLow * l + sHigh * (d - l))));
      }
      out[j + 3] = 255;
    }
    return out;
  }
}

// A 5-tap binomial blur (1 4 6 4 1)/16 each way: a Gaussian of about 1 px.
function binomial(src, out, w, h) {
  const tmp = new Float32Array(w * h);
  const k = [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16];
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let t = -2; t <= 2; t++) s += k[t + 2] * src[row + Math.min(w - 1, Math.max(0, x + t))];
      tmp[row + x] = s;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let t = -2; t <= 2; t++) s += k[t + 2] * tmp[Math.min(h - 1, Math.max(0, y + t)) * w + x];
      out[y * w + x] = s;
    }
  }
}

function half(img) {
  const w = Math.floor(img.w / 2), h = Math.floor(img.h / 2), d = img.data, out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 2 * y * img.w + 2 * x;
      out[y * w + x] = 0.25 * (d[i] + d[i + 1] + d[i + img.w] + d[i + img.w + 1]);
    }
  }
  return { data: out, w, h };
}

// Mean absolute difference of this frame's window at (x0, y0) and the previous frame's, shifted by (dx, dy).
function sad(c, p, x0, y0, win, dx, dy) {
  let total = 0, count = 0;
  for (let y = y0; y < y0 + win; y++) {
    if (y < 0 || y >= c.h) continue;
    const py = y + dy;
    if (py < 0 || py >= p.h) continue;
    for (let x = x0; x < x0 + win; x++) {
      const px = x + dx;
      if (x < 0 || x >= c.w || px < 0 || px >= p.w) continue;
      total += Math.abs(c.data[y * c.w + x] - p.data[py * p.w + px]);
      count++;
    }
  }
  return count ? total / count + (count < (win * win) / 2 ? 64 : 0) : Infinity;
}

function subpixel(a, b, c) {
  const d = a - 2 * b + c;
  if (!(d > 0) || !Number.isFinite(a) || !Number.isFinite(c)) return 0;
  return Math.max(-0.5, Math.min(0.5, (a - c) / (2 * d)));
}

function median3(f, w, h) {
  const out = new Float32Array(f.length), v = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      v.length = 0;
      for (let j = Math.max(0, y - 1); j <= Math.min(h - 1, y + 1); j++) {
        for (let i = Math.max(0, x - 1); i <= Math.min(w - 1, x + 1); i++) v.push(f[j * w + i]);
      }
      v.sort((a, b) => a - b);
      out[y * w + x] = v[v.length >> 1];
    }
  }
  return out;
}

function boxBlur(src, w, h, r) {
  const tmp = new Float32Array(w * h), out = new Float32Array(w * h);
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
  t.items.push({ input: copy(frame.data), painted: copy(painted), output: out });
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
    styles: [...live.styles.keys()],
  }),
  selectStyle: (key) => selectStyle(key),
  setResolution: (side, auto = false) => { live.rung = side; live.auto = auto; $("live-size").value = String(side); $("live-auto").checked = auto; resetFrames(); },
  setSteady: (value, share = HIGH_SHARE) => { live.steady = value; highShare = share; $("live-steady").checked = value > 0; if (live.stabilizer) live.stabilizer.reset(); },
  setStrength: (value) => { live.strength = value; live.photoVectorAt = 0; },
  trace: (count) => new Promise((resolve) => { live.trace = { count, items: [], resolve }; })
    .then((items) => Promise.all(items.map(async (it) => ({
      input: await asPNG(it.input), painted: await asPNG(it.painted), output: await asPNG(it.output) })))),
  resetFps: () => { live.times = []; live.frames = 0; },
};
