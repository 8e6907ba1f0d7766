// brushwork page: pick a photo and a style, submit a job, follow it, compare, download.
// Plain JS, no build step, no CDN. Talks only to this server's /api.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  methods: {},        // name -> method info from /api/methods
  styles: {},         // id -> style info from /api/styles
  photoFile: null,    // File chosen or dropped
  sample: null,       // or a sample id
  paintingFile: null, // File for "your own painting"
  photoURL: null,     // object URL shown as "before" until the job's own photo arrives
  job: null,
  events: null,
  pollTimer: null,
  maxUploadMB: 20,
};
const ACCEPTED = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff"];
const STRENGTH = { base: 0.2, per: 40 }; // style weight = base * 10^(slider / per): 40 -> 2.0

// --- messages -------------------------------------------------------------------------------
function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = !text;
  if (text) box.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error("Could not reach the brushwork server. Is it still running?");
  }
  let body = null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("application/json")) body = await response.json();
  if (!response.ok) {
    const detail = body && typeof body.detail === "string" ? body.detail : `the server answered ${response.status}`;
    const prefix = response.status === 429 ? "The server is busy. " : "";
    throw new Error(prefix + capitalise(detail) + (detail.endsWith(".") ? "" : "."));
  }
  return { status: response.status, body };
}

function capitalise(text) { return text ? text[0].toUpperCase() + text.slice(1) : text; }

// --- catalogue --------------------------------------------------------------------------------
async function loadCatalogue() {
  const [methods, styles, samples] = await Promise.all([api("/api/methods"), api("/api/styles"), api("/api/samples")]);
  state.maxUploadMB = methods.body.max_upload_mb;
  $("photo-hint").textContent = `JPEG, PNG or WebP, up to ${state.maxUploadMB} MB`;
  for (const m of methods.body.methods) state.methods[m.name] = m;
  const gatys = state.methods.gatys;
  if (gatys) {
    $("size").max = gatys.limits.size[1];
    $("iterations").max = Math.min(500, gatys.limits.iterations[1]);
    $("size").value = gatys.defaults.size;
    $("iterations").value = gatys.defaults.iterations;
    $("strength").value = Math.round(STRENGTH.per * Math.log10(gatys.defaults.style_weight / STRENGTH.base));
  }
  const gallery = $("gallery");
  const upload = $("upload-card");
  styles.body.styles.forEach((style, index) => {
    state.styles[style.id] = style;
    const card = document.createElement("label");
    card.className = "card";
    card.innerHTML = `<input type="radio" name="style" class="visually-hidden">
      <img class="card-art" alt="" loading="lazy" width="256" height="256">
      <span class="card-title"></span><span class="card-credit"></span>`;
    const input = card.querySelector("input");
    input.value = style.id;
    if (index === 0) input.checked = true;
    card.querySelector("img").src = style.thumbnail;
    card.querySelector(".card-title").textContent = style.title;
    card.querySelector(".card-credit").textContent = style.credit;
    if (style.methods.includes("fast")) {
      const pill = document.createElement("span");
      pill.className = "pill";
      pill.textContent = "fast";
      pill.title = "a trained model paints this style in about a second";
      card.appendChild(pill);
    }
    gallery.insertBefore(card, upload);
  });
  const row = $("samples");
  if (samples.body.samples.length) {
    const label = document.createElement("span");
    label.textContent = "or try";
    row.appendChild(label);
  }
  for (const sample of samples.body.samples) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sample";
    button.dataset.id = sample.id;
    button.setAttribute("aria-pressed", "false");
    button.innerHTML = `<img alt="" width="30" height="30"><span></span>`;
    button.querySelector("img").src = sample.thumbnail;
    button.querySelector("span").textContent = sample.title;
    button.addEventListener("click", () => chooseSample(sample, button));
    row.appendChild(button);
  }
  updateMethods();
}

async function refreshMethods() {
  try {
    const { body } = await api("/api/methods");
    for (const m of body.methods) state.methods[m.name] = m;
    updateOutputs();
  } catch (err) { /* the estimate is a nicety; the job itself is what matters */ }
}

// --- photo ------------------------------------------------------------------------------------
function checkImageFile(file, what) {
  if (!file) return `No ${what} was chosen.`;
  if (file.type && !ACCEPTED.includes(file.type)) {
    return `“${file.name}” does not look like a picture. Please choose a JPEG, PNG or WebP image for the ${what}.`;
  }
  if (file.size > state.maxUploadMB * 1024 * 1024) {
    return `“${file.name}” is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${state.maxUploadMB} MB. Please use a smaller picture.`;
  }
  return null;
}

function setPhotoPreview(url, label) {
  const thumb = $("photo-thumb");
  thumb.src = url;
  thumb.hidden = false;
  $("photo-label").textContent = label;
  $("dropzone").classList.add("has-photo");
  if (state.photoURL && state.photoURL.startsWith("blob:")) URL.revokeObjectURL(state.photoURL);
  state.photoURL = url;
  if (!state.job) showBefore(url);
}

function choosePhoto(file) {
  const problem = checkImageFile(file, "photo");
  if (problem) { showError(problem); return; }
  showError("");
  state.photoFile = file;
  state.sample = null;
  document.querySelectorAll(".sample").forEach((b) => b.setAttribute("aria-pressed", "false"));
  setPhotoPreview(URL.createObjectURL(file), file.name);
}

function chooseSample(sample, button) {
  showError("");
  state.sample = sample.id;
  state.photoFile = null;
  $("photo-input").value = "";
  document.querySelectorAll(".sample").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
  setPhotoPreview(sample.image, sample.title);
}

function showBefore(url) {
  // Until a job exists, the stage shows the chosen photo alone.
  $("placeholder").hidden = true;
  $("compare").hidden = false;
  $("before").src = url;
  $("after").hidden = true;
  document.querySelectorAll(".compare .handle, .compare .tag, #compare-range").forEach((el) => { el.hidden = true; });
}

function showAfter(url) {
  const after = $("after");
  after.hidden = false;
  document.querySelectorAll(".compare .handle, .compare .tag, #compare-range").forEach((el) => { el.hidden = false; });
  if (after.getAttribute("src") !== url) after.src = url;
}

// --- style ------------------------------------------------------------------------------------
function selectedStyle() {
  const checked = document.querySelector('input[name="style"]:checked');
  return checked ? checked.value : null;
}

function choosePainting(file) {
  const problem = checkImageFile(file, "painting");
  if (problem) { showError(problem); return; }
  showError("");
  state.paintingFile = file;
  const art = $("upload-art");
  art.innerHTML = "";
  const img = document.createElement("img");
  img.alt = "";
  img.src = URL.createObjectURL(file);
  art.appendChild(img);
  $("upload-credit").textContent = file.name;
  $("upload-radio").checked = true;
  updateMethods();
}

// --- method -----------------------------------------------------------------------------------
function selectedMethod() {
  const checked = document.querySelector('input[name="method"]:checked');
  return checked ? checked.value : "gatys";
}

function updateMethods() {
  const style = selectedStyle();
  const info = style && style !== "__upload__" ? state.styles[style] : null;
  const supports = (name) => {
    const m = state.methods[name];
    if (!m || !m.available) return false;
    if (style === "__upload__") return name === "gatys";
    return !info || info.methods.includes(name);
  };
  let note = "";
  for (const input of document.querySelectorAll('input[name="method"]')) {
    input.disabled = !supports(input.value);
  }
  const fastInput = document.querySelector('input[name="method"][value="fast"]');
  const gatysInput = document.querySelector('input[name="method"][value="gatys"]');
  if (fastInput.disabled && fastInput.checked) gatysInput.checked = true;
  if (gatysInput.disabled && gatysInput.checked && !fastInput.disabled) fastInput.checked = true;
  const fast = state.methods.fast;
  if (fast && !fast.available) note = "Fast painting is not available here: " + fast.reason + ".";
  else if (fastInput.disabled && style === "__upload__") note = "Your own painting needs the quality method.";
  else if (fastInput.disabled) note = "This style has no fast model yet, so it is painted with the quality method.";
  $("method-note").textContent = note;
  const method = selectedMethod();
  document.querySelectorAll(".gatys-only").forEach((el) => el.classList.toggle("off", method !== "gatys"));
  updateOutputs();
}

function styleWeight() {
  return STRENGTH.base * Math.pow(10, Number($("strength").value) / STRENGTH.per);
}

function updateOutputs() {
  $("size-out").textContent = `${$("size").value} px`;
  const weight = styleWeight();
  const word = weight < 0.7 ? "light" : weight < 4 ? "balanced" : weight < 15 ? "strong" : "very strong";
  $("strength-out").textContent = `${word} (${weight < 10 ? weight.toFixed(1) : Math.round(weight)})`;
  $("iterations-out").textContent = $("iterations").value;
  const method = selectedMethod();
  const rate = state.methods[method] && state.methods[method].seconds_per_iteration_per_megapixel;
  if (method === "gatys" && rate) {
    // Measured on this server by its last jobs; the photo's shape decides the pixel count.
    const thumb = $("photo-thumb");
    const [w, h] = thumb.naturalWidth ? [thumb.naturalWidth, thumb.naturalHeight]
      : state.job && state.job.width ? [state.job.width, state.job.height] : [4, 3];
    const aspect = Math.min(w, h) / Math.max(w, h);
    const size = Number($("size").value);
    const seconds = rate * Number($("iterations").value) * (size * size * aspect) / 1e6;
    $("estimate").textContent = `about ${formatDuration(seconds)} here`;
  } else if (method === "gatys") {
    $("estimate").textContent = "";
  } else {
    $("estimate").textContent = "about a second";
  }
}

function formatDuration(seconds) {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  return minutes === 1 ? "a minute" : `${minutes} minutes`;
}

// --- jobs -------------------------------------------------------------------------------------
async function submit(event) {
  event.preventDefault();
  showError("");
  if (!state.photoFile && !state.sample) { showError("Please choose a photo first (or try the sample)."); $("photo-input").focus(); return; }
  const style = selectedStyle();
  if (!style) { showError("Please pick a style from the gallery."); return; }
  if (style === "__upload__" && !state.paintingFile) { showError("Please upload your painting, or pick one from the gallery."); return; }
  const form = new FormData();
  if (state.photoFile) form.append("photo", state.photoFile); else form.append("sample", state.sample);
  if (style === "__upload__") form.append("painting", state.paintingFile); else form.append("style", style);
  const method = selectedMethod();
  form.append("method", method);
  form.append("size", $("size").value);
  if (method === "gatys") {
    form.append("iterations", $("iterations").value);
    form.append("style_weight", styleWeight().toFixed(4));
  }
  form.append("preserve_colors", $("preserve").checked ? "true" : "false");
  stopFollowing();
  setBusy(true);
  try {
    const { body } = await api("/api/jobs", { method: "POST", body: form });
    startJob(body);
  } catch (err) {
    setBusy(false);
    showError(err.message);
  }
}

function setBusy(busy) {
  $("go").disabled = busy;
  $("go").textContent = busy ? "Painting…" : "Paint it";
}

function startJob(job) {
  state.job = job;
  // The address remembers the job: a reload (or a bookmark) comes back to it.
  history.replaceState(null, "", `#job=${job.id}`);
  $("download").hidden = true;
  $("progress").hidden = false;
  $("compare").hidden = false;
  $("placeholder").hidden = true;
  $("before").src = job.urls.photo;
  $("after").hidden = true;
  document.querySelectorAll(".compare .handle, .compare .tag, #compare-range").forEach((el) => { el.hidden = true; });
  render(job);
  if (window.matchMedia("(max-width: 860px)").matches) $("canvas").scrollIntoView({ behavior: "smooth", block: "start" });
  if (!["done", "failed", "cancelled"].includes(job.status)) follow(job);
}

function follow(job) {
  if ("EventSource" in window) {
    const source = new EventSource(job.urls.events);
    state.events = source;
    source.addEventListener("job", (e) => {
      const update = JSON.parse(e.data);
      render(update);
      // Close before the server ends the stream: otherwise EventSource reconnects, and that
      // request is aborted (a "failed request" in the console) when the job is already over.
      if (isOver(update)) { source.close(); state.events = null; }
    });
    source.onerror = () => { // the stream ended or broke: fall back to polling until the job is over
      source.close();
      state.events = null;
      if (state.job && !isOver(state.job)) poll();
    };
  } else {
    poll();
  }
}

function poll() {
  clearTimeout(state.pollTimer);
  state.pollTimer = setTimeout(async () => {
    if (!state.job) return;
    try {
      const { body } = await api(state.job.urls.self);
      render(body);
      if (!isOver(body)) poll();
    } catch (err) {
      showError(err.message);
      poll();
    }
  }, 1000);
}

function stopFollowing() {
  if (state.events) state.events.close();
  state.events = null;
  clearTimeout(state.pollTimer);
}

const isOver = (job) => ["done", "failed", "cancelled"].includes(job.status);

function render(job) {
  if (!state.job || job.id !== state.job.id) return;
  state.job = job;
  const badge = $("status-badge");
  badge.hidden = false;
  badge.className = `badge ${job.status}`;
  badge.textContent = { queued: "waiting", running: "painting", done: "done", failed: "failed", cancelled: "cancelled" }[job.status] || job.status;
  const pct = job.progress.percent;
  $("bar-fill").style.setProperty("width", `${pct}%`);
  $("bar").setAttribute("aria-valuenow", String(Math.round(pct)));
  $("progress-text").textContent = describe(job);
  if (job.urls.preview && job.status !== "done") showAfter(job.urls.preview);
  $("cancel").hidden = isOver(job);
  if (job.status === "done") {
    refreshMethods();
    stopFollowing();
    setBusy(false);
    showAfter(job.urls.result);
    const link = $("download");
    link.href = job.urls.download;
    link.setAttribute("download", `brushwork-${job.style}.png`);
    link.hidden = false;
  } else if (job.status === "failed" || job.status === "cancelled") {
    stopFollowing();
    setBusy(false);
    if (job.status === "failed") showError(`The painting could not be finished: ${job.error}.`);
  }
}

function describe(job) {
  if (job.status === "queued") {
    return job.queue_position ? `Waiting for a free painter: number ${job.queue_position} in the queue.` : "Waiting to start…";
  }
  if (job.status === "running") {
    if (!job.progress.total) return "Starting: loading the painting network…";
    const loss = job.progress.losses.total;
    const lossText = loss === undefined ? "" : ` · loss ${loss.toPrecision(3)}`;
    return `Iteration ${job.progress.iteration} of ${job.progress.total}${lossText}`;
  }
  if (job.status === "done") {
    const seconds = job.finished - (job.started || job.created);
    return `Finished in ${formatDuration(seconds)}: ${job.width}×${job.height} px, ${job.style_title}. Drag the slider to compare.`;
  }
  if (job.status === "cancelled") return "Cancelled.";
  return "Stopped.";
}

async function cancel() {
  if (!state.job) return;
  try {
    const { body } = await api(state.job.urls.cancel, { method: "POST" });
    render(body);
  } catch (err) {
    showError(err.message);
  }
}

// --- compare slider ---------------------------------------------------------------------------
function setCompare(value) {
  $("compare").style.setProperty("--pos", `${value}%`);
}

// --- wiring -----------------------------------------------------------------------------------
function wire() {
  const zone = $("dropzone");
  $("photo-input").addEventListener("change", (e) => { if (e.target.files[0]) choosePhoto(e.target.files[0]); });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.add("dragging"); });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.remove("dragging"); });
  }
  zone.addEventListener("drop", (e) => { if (e.dataTransfer.files[0]) choosePhoto(e.dataTransfer.files[0]); });
  // Dropping a file anywhere else must not navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  $("gallery").addEventListener("change", (e) => {
    if (e.target.name === "style") {
      if (e.target.value === "__upload__" && !state.paintingFile) $("painting-input").click();
      updateMethods();
    }
  });
  $("upload-card").addEventListener("click", (e) => {
    // Clicking the card again (already selected) lets the user pick a different painting.
    if ($("upload-radio").checked && state.paintingFile && e.target.closest(".card-art")) $("painting-input").click();
  });
  $("painting-input").addEventListener("change", (e) => { if (e.target.files[0]) choosePainting(e.target.files[0]); });
  document.querySelectorAll('input[name="method"]').forEach((el) => el.addEventListener("change", updateMethods));
  for (const id of ["size", "strength", "iterations"]) $(id).addEventListener("input", updateOutputs);
  $("photo-thumb").addEventListener("load", updateOutputs);
  $("job-form").addEventListener("submit", submit);
  $("cancel").addEventListener("click", cancel);
  $("compare-range").addEventListener("input", (e) => setCompare(e.target.value));
  $("after").addEventListener("error", () => { if (state.job && state.job.status !== "done") $("after").hidden = true; });
}

function fillForm(job) {
  const o = job.options;
  $("size").value = o.size;
  $("iterations").value = o.iterations;
  $("strength").value = Math.round(STRENGTH.per * Math.log10(o.style_weight / STRENGTH.base));
  $("preserve").checked = o.preserve_colors;
  const style = document.querySelector(`input[name="style"][value="${CSS.escape(job.style)}"]`);
  if (style) style.checked = true;
  const method = document.querySelector(`input[name="method"][value="${CSS.escape(job.method)}"]`);
  if (method && !method.disabled) method.checked = true;
  updateMethods();
}

async function resumeFromAddress() {
  const match = /^#job=([0-9a-f]{32})$/.exec(location.hash);
  if (!match) return;
  try {
    const { body } = await api(`/api/jobs/${match[1]}`);
    fillForm(body);
    startJob(body);
    if (!isOver(body)) setBusy(true);
  } catch (err) {
    history.replaceState(null, "", location.pathname);
    showError(`That earlier painting is no longer here. ${err.message}`);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  wire();
  updateOutputs();
  loadCatalogue().then(resumeFromAddress).catch((err) => showError(err.message));
});
