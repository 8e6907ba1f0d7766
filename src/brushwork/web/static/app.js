// brushwork page: pick a photo and a style, submit a job, follow it, compare, download.
// Plain JS, no build step, no CDN. Talks only to this server's /api.
// "Fast" on the page is the API's `fast` method (any painting, with strength and an optional second
// painting to blend) or, for a style with a trained model, `model` (when asked for, or when the style
// has no picture of its painting); "Quality" is `gatys`.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  methods: {},        // name -> method info from /api/methods
  styles: {},         // id -> style info from /api/styles
  photoFile: null,    // File chosen or dropped
  sample: null,       // or a sample id
  paintingFile: null, // File for "your own painting"
  secondFile: null,   // File for an uploaded second painting (blend)
  secondURL: null,    // its object URL (thumbnail)
  useModel: true,     // "use the model trained for this painting": the default where there is one
  sizeTouched: false, // once the user moves the size slider, switching methods keeps their size
  lastMethod: null,   // the API method the form was last set up for
  photoURL: null,     // object URL shown as "before" until the job's own photo arrives
  job: null,
  events: null,
  pollTimer: null,
  maxUploadMB: 20,
  videoMB: 20,        // the server's video limits (/api/methods: video_limits)
  videoSeconds: 20,
  photoIsVideo: false, // the chosen photo file is a video (painted by the fast methods only)
};
// What the page names as accepted (the server reads a few rarer formats too).
const COMMON_FORMATS = "JPEG, PNG, WebP, HEIC, GIF, TIFF, BMP or AVIF";
const MIN_PHOTO_SIDE = 32; // the server's images.MIN_PHOTO_SIDE: smaller photos are refused
const WEIGHT = { base: 0.8, per: 40 }; // Gatys style weight = base * 10^(slider / per): 47 -> 12 (the default), 100 -> 253
const UPLOAD = "__upload__";

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
  const video = methods.body.video_limits;
  if (video) { state.videoMB = video.mb; state.videoSeconds = video.seconds; }
  $("photo-hint").textContent = `JPEG, PNG, HEIC or WebP, up to ${state.maxUploadMB} MB; or a video of up to ${state.videoSeconds} s (Fast)`;
  for (const m of methods.body.methods) state.methods[m.name] = m;
  const gatys = state.methods.gatys;
  if (gatys) {
    $("size").max = gatys.limits.size[1];
    $("iterations").max = Math.min(500, gatys.limits.iterations[1]);
    $("size").value = gatys.defaults.size;
    $("iterations").value = gatys.defaults.iterations || 0; // 0: the command line's schedule
    $("style-weight").value = weightToSlider(gatys.defaults.style_weight);
  }
  const fast = state.methods.arbitrary;
  if (fast) $("strength").value = Math.round(100 * fast.defaults.strength);
  if (methods.body.regions) $("feather").value = methods.body.regions.feather;
  fillRegionChoices(styles.body.styles);
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
    if (style.methods.includes("model") && style.methods.length > 1) { // model-only cards say so below
      const pill = document.createElement("span");
      pill.className = "pill";
      pill.textContent = "has a trained model";
      pill.title = "a network trained for this painting alone can paint it too";
      card.appendChild(pill);
    }
    gallery.insertBefore(card, upload);
  });
  fillSecondChoices(styles.body.styles);
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

function fillSecondChoices(styles) {
  // Paintings the any-painting network can blend: those with a picture on this server, or an upload.
  const select = $("second-style");
  const first = selectedStyle();
  for (const style of styles.filter((s) => s.methods.includes("arbitrary"))) {
    const option = new Option(style.title, style.id);
    select.appendChild(option);
  }
  select.appendChild(new Option("Upload another painting…", UPLOAD));
  avoidSameSecond(first);
}

function avoidSameSecond(first) {
  // Blending a painting with itself changes nothing: offer a different one.
  const select = $("second-style");
  if (select.value && select.value !== first) { updateSecond(); return; }
  const other = [...select.options].find((o) => o.value !== first && o.value !== UPLOAD);
  select.value = other ? other.value : UPLOAD;
  updateSecond();
}

async function refreshMethods() {
  try {
    const { body } = await api("/api/methods");
    for (const m of body.methods) state.methods[m.name] = m;
    updateOutputs();
  } catch (err) { /* the estimate is a nicety; the job itself is what matters */ }
}

// --- photo ------------------------------------------------------------------------------------
async function sniffFile(file) {
  // What the file is, from its first bytes (never its name or declared type): "browser" for the
  // pictures this browser decodes itself, "server" for those only the server reads (HEIC, TIFF, PSD…),
  // "video" for a video container, null for anything else.
  const b = new Uint8Array(await file.slice(0, 16).arrayBuffer());
  const text = (from, to) => String.fromCharCode(...b.slice(from, to));
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "browser"; // JPEG
  if (text(1, 4) === "PNG" || text(0, 3) === "GIF" || text(0, 2) === "BM") return "browser";
  if (text(0, 4) === "RIFF" && text(8, 12) === "WEBP") return "browser";
  const brand = text(4, 12);
  if (brand === "ftypavif" || brand === "ftypavis") return "browser";
  if (["ftypheic", "ftypheix", "ftypheim", "ftypheis", "ftyphevc", "ftypmif1", "ftypmsf1"].includes(brand)) return "server";
  if (["ftyp", "moov", "mdat", "free", "wide", "skip"].includes(text(4, 8))) return "video";
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return "video"; // Matroska/WebM
  if (text(0, 4) === "RIFF" && text(8, 12) === "AVI ") return "video";
  if (text(0, 4) === "II*\0" || text(0, 4) === "MM\0*" || text(0, 4) === "8BPS" || text(0, 4) === "qoif") return "server";
  return null;
}

async function checkImageFile(file, what) {
  // Checked here, before anything is sent: its bytes, then the picture itself, decoded by the page.
  if (!file) return `No ${what} was chosen.`;
  const kind = await sniffFile(file);
  if (kind === "video" && what === "photo") {
    if (file.size <= state.videoMB * 1024 * 1024) return null;
    return `“${file.name}” is ${(file.size / 1048576).toFixed(1)} MB; the limit for a video is ${state.videoMB} MB. Please use a shorter video.`;
  }
  if (!kind || kind === "video") {
    return `“${file.name}” is not a picture. Please choose a ${COMMON_FORMATS} image for the ${what}.`;
  }
  if (file.size > state.maxUploadMB * 1024 * 1024) {
    return `“${file.name}” is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${state.maxUploadMB} MB. Please use a smaller picture.`;
  }
  if (kind === "browser") {
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch (err) {
      return `“${file.name}” could not be opened: it looks like a picture but is damaged or cut short. Please choose another ${what}.`;
    }
    const [w, h] = [bitmap.width, bitmap.height];
    bitmap.close();
    if (what === "photo" && Math.min(w, h) < MIN_PHOTO_SIDE) {
      return `“${file.name}” is only ${w}×${h} pixels, too small to paint. Please use a photo at least ${MIN_PHOTO_SIDE} px on each side.`;
    }
  }
  return null;
}

function isVideoKind(file) { return sniffFile(file).then((kind) => kind === "video"); }

function setPhotoPreview(url, label) {
  const thumb = $("photo-thumb");
  thumb.src = url;
  thumb.hidden = false;
  $("photo-label").textContent = label;
  $("dropzone").classList.add("has-photo");
  if (state.photoURL && state.photoURL.startsWith("blob:")) URL.revokeObjectURL(state.photoURL);
  state.photoURL = url;
  if (!state.job) showBefore(url);
  loadMaskPhoto();
}

async function choosePhoto(file) {
  const problem = await checkImageFile(file, "photo");
  if (problem) { showError(problem); return; }
  showError("");
  state.photoFile = file;
  state.sample = null;
  document.querySelectorAll(".sample").forEach((b) => b.setAttribute("aria-pressed", "false"));
  state.photoIsVideo = await isVideoKind(file);
  updateMethods(); // Quality paints photos only
  if (state.photoIsVideo) { // its poster: the first frame, as the browser decodes it
    $("photo-thumb").hidden = true;
    $("photo-label").textContent = `${file.name} (video)`;
    $("dropzone").classList.add("has-photo");
    const poster = await posterFrame(file);
    if (poster && state.photoFile === file) {
      setPhotoPreview(poster, file.name);
      $("photo-label").textContent = `${file.name} (video)`;
    }
    return;
  }
  if (await sniffFile(file) === "server") { // HEIC, TIFF, PSD…: the browser cannot show it, the server paints it
    $("photo-thumb").hidden = true;
    $("photo-label").textContent = `${file.name} (shown once painted)`;
    $("dropzone").classList.add("has-photo");
    if (!state.job) { $("compare").hidden = true; $("placeholder").hidden = false; }
    loadMaskPhoto(); // no regions to draw on a photo the page cannot show
    return;
  }
  setPhotoPreview(URL.createObjectURL(file), file.name);
}

function posterFrame(file) {
  // A video's frame at 0.1 s (past a black first frame) as a picture URL, by the browser's own
  // decoder; null when it cannot decode the video (the server still paints it).
  return new Promise((resolve) => {
    const video = document.createElement("video");
    const source = URL.createObjectURL(file);
    let over = false;
    const finish = (url) => {
      if (over) return;
      over = true;
      URL.revokeObjectURL(source);
      video.removeAttribute("src");
      resolve(url);
    };
    video.muted = true;
    video.preload = "auto";
    video.playsInline = true;
    video.addEventListener("error", () => finish(null));
    video.addEventListener("loadeddata", () => { video.currentTime = Math.min(0.1, (video.duration || 0) / 2); });
    video.addEventListener("seeked", () => {
      const canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      try {
        canvas.getContext("2d").drawImage(video, 0, 0);
        canvas.toBlob((blob) => finish(blob ? URL.createObjectURL(blob) : null), "image/jpeg", 0.85);
      } catch (err) { finish(null); }
    });
    setTimeout(() => finish(null), 8000);
    video.src = source;
  });
}

function chooseSample(sample, button) {
  showError("");
  state.sample = sample.id;
  state.photoFile = null;
  state.photoIsVideo = false;
  $("photo-input").value = "";
  updateMethods();
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

function hideAfter() {
  $("after").hidden = true;
  document.querySelectorAll(".compare .handle, .compare .tag, #compare-range").forEach((el) => { el.hidden = true; });
}

function showAfter(url) {
  const after = $("after");
  if (url === state.brokenAfter) { hideAfter(); return; }
  after.hidden = false;
  document.querySelectorAll(".compare .handle, .compare .tag, #compare-range").forEach((el) => { el.hidden = false; });
  if (after.getAttribute("src") === url) return;
  // One picture loads at a time: a newer preview (or the result) waits for the one still loading,
  // instead of aborting it (no flicker, no aborted requests when previews come fast).
  if (after.getAttribute("src") && !after.complete) { state.pendingAfter = url; return; }
  state.pendingAfter = null;
  after.src = url;
}

function loadPendingAfter() {
  const next = state.pendingAfter;
  state.pendingAfter = null;
  if (next && state.job) showAfter(next);
}

// --- style ------------------------------------------------------------------------------------
function selectedStyle() {
  const checked = document.querySelector('input[name="style"]:checked');
  return checked ? checked.value : null;
}

async function choosePainting(file) {
  const problem = await checkImageFile(file, "painting");
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

async function chooseSecond(file) {
  const problem = await checkImageFile(file, "second painting");
  if (problem) { showError(problem); return; }
  showError("");
  state.secondFile = file;
  if (state.secondURL) URL.revokeObjectURL(state.secondURL);
  state.secondURL = URL.createObjectURL(file);
  $("second-upload").textContent = file.name;
  updateSecond();
}

function updateSecond() {
  const value = $("second-style").value;
  const upload = value === UPLOAD;
  $("second-upload").hidden = !upload;
  const thumb = $("second-thumb");
  const url = upload ? state.secondURL : state.styles[value] && state.styles[value].thumbnail;
  thumb.hidden = !url;
  if (url && thumb.getAttribute("src") !== url) thumb.src = url;
  updateOutputs();
}

// --- method -----------------------------------------------------------------------------------
function selectedMethod() {
  // What the page shows: "fast" or "gatys".
  const checked = document.querySelector('input[name="method"]:checked');
  return checked ? checked.value : "fast";
}

function styleAbilities() {
  // Which methods can paint the chosen style here: an upload takes any painting method.
  const style = selectedStyle();
  const available = (name) => Boolean(state.methods[name] && state.methods[name].available);
  if (!style || style === UPLOAD) {
    return { fast: available("arbitrary"), model: false, gatys: available("gatys"), info: null };
  }
  const info = state.styles[style];
  if (!info) return { fast: false, model: false, gatys: false, info: null };
  return { fast: info.methods.includes("arbitrary"), model: info.methods.includes("model"),
    gatys: info.methods.includes("gatys"), info };
}

function apiMethod() {
  // The API's method for what the page shows: gatys, arbitrary (any painting) or model (trained model).
  if (selectedMethod() === "gatys") return "gatys";
  const can = styleAbilities();
  // The trained model by default where there is one; blending takes the any-painting network.
  if (can.model && (!can.fast || (state.useModel && !$("blend-on").checked))) return "model";
  return "arbitrary";
}

function updateMethods() {
  const can = styleAbilities();
  const fastInput = document.querySelector('input[name="method"][value="fast"]');
  const gatysInput = document.querySelector('input[name="method"][value="gatys"]');
  fastInput.disabled = !(can.fast || can.model);
  gatysInput.disabled = !can.gatys || state.photoIsVideo; // Gatys paints photos only
  if (fastInput.disabled && fastInput.checked && !gatysInput.disabled) gatysInput.checked = true;
  if (gatysInput.disabled && gatysInput.checked && !fastInput.disabled) fastInput.checked = true;
  const shown = selectedMethod();
  const forced = can.model && !can.fast; // only a trained model can paint this style
  const useModel = $("use-model");
  $("model-row").hidden = !(shown === "fast" && can.model && !forced);
  const blending = can.fast && $("blend-on").checked; // a trained model cannot blend
  useModel.checked = state.useModel && !blending;
  useModel.disabled = blending;
  if (can.info) $("model-hint").textContent = `a network trained on ${can.info.title} alone (it cannot blend)`;
  const method = apiMethod();
  const fast = state.methods.arbitrary;
  let note = "";
  if (shown === "fast" && forced) {
    note = `${can.info.title} is painted by its trained model: the painting itself is not on this server, `
      + "so there is no Quality or blending for it.";
  } else if (fast && !fast.available && !can.model) {
    note = `Fast painting is not available here: ${fast.reason}.`;
  } else if (shown === "gatys" && fastInput.disabled && fast && !fast.available) {
    note = `Fast painting is not available here: ${fast.reason}.`;
  }
  if (state.photoIsVideo && can.gatys) {
    note = (note ? `${note} ` : "") + "Quality paints photos only: a video is painted with Fast, frame by frame.";
  }
  $("method-note").textContent = note;
  gatysInput.closest(".segment").title = state.photoIsVideo ? "Quality paints photos only, not videos" : "";
  document.querySelectorAll(".gatys-only").forEach((el) => el.classList.toggle("off", shown !== "gatys"));
  document.querySelectorAll(".fast-only").forEach((el) => el.classList.toggle("off", shown !== "fast"));
  // Only the any-painting network blends; a trained model paints its own painting alone.
  $("blend-box").hidden = !(shown === "fast" && can.fast);
  $("blend-fields").hidden = !$("blend-on").checked;
  const limits = state.methods[method] && state.methods[method].limits;
  if (limits) { // the fast methods paint up to 2048 px, Quality up to 1024 (the server's limits)
    $("size").max = limits.size[1];
    if (Number($("size").value) > limits.size[1]) $("size").value = limits.size[1];
  }
  if (method !== state.lastMethod && !state.sizeTouched && state.methods[method]) {
    $("size").value = state.methods[method].defaults.size; // each method's own starting size
  }
  state.lastMethod = method;
  updateRegionOutputs();
  updateOutputs();
}

function weightToSlider(weight) {
  return Math.round(WEIGHT.per * Math.log10(weight / WEIGHT.base));
}

function styleWeight() {
  const slider = Number($("style-weight").value);
  const preset = state.methods.gatys && state.methods.gatys.defaults.style_weight;
  // The default's own slider position sends the default itself (12, not 11.97): same picture as the CLI.
  if (preset && slider === weightToSlider(preset)) return preset;
  return WEIGHT.base * Math.pow(10, slider / WEIGHT.per);
}

function updateOutputs() {
  $("size-out").textContent = `${$("size").value} px`;
  const weight = styleWeight();
  const word = weight < 4 ? "light" : weight < 30 ? "balanced" : weight < 100 ? "strong" : "very strong";
  $("style-weight-out").textContent = `${word} (${weight < 10 ? weight.toFixed(1) : Math.round(weight)})`;
  const strength = Number($("strength").value);
  $("strength-out").textContent = strength === 100 ? "100 % (full)" : `${strength} %`;
  const mix = Number($("mix").value);
  $("mix-out").textContent = `first ${100 - mix} % · second ${mix} %`;
  const plan = gatysPlan();
  const steps = plan.map(([, n]) => n);
  $("iterations-out").textContent = Number($("iterations").value) ? `${$("iterations").value} per scale`
    : `auto (${steps.join(" + ") || "the command line’s"} steps, stops once converged)`;
  const method = apiMethod();
  const rate = state.methods[method] && state.methods[method].seconds_per_iteration_per_megapixel;
  if (method === "gatys" && rate) {
    // Measured on this server by its last jobs; the photo's shape decides the pixel count, and each
    // scale's steps are weighed by its pixels.
    const thumb = $("photo-thumb");
    const [w, h] = thumb.naturalWidth ? [thumb.naturalWidth, thumb.naturalHeight]
      : state.job && state.job.width ? [state.job.width, state.job.height] : [4, 3];
    const aspect = Math.min(w, h) / Math.max(w, h);
    const work = plan.reduce((sum, [side, n]) => sum + n * side * side * aspect / 1e6, 0);
    $("estimate").textContent = `at most about ${formatDuration(rate * work)} here`;
  } else if (method === "gatys") {
    $("estimate").textContent = "";
  } else if (state.photoIsVideo) { // frames take a second or so each at 512 px here: no promise of "a second"
    $("estimate").textContent = "longer for a video: the time left is shown while it runs";
  } else {
    $("estimate").textContent = "about a second";
  }
}

function gatysPlan() {
  // (side, most steps) of each scale of a Quality job at the chosen size: the server's plan (the
  // command line's schedule), or the slider's steps at each of its scales.
  const gatys = state.methods.gatys;
  const size = Number($("size").value);
  const plans = gatys && gatys.plans;
  if (!plans) return [];
  const sizes = Object.keys(plans).map(Number);
  const near = sizes.reduce((a, b) => (Math.abs(b - size) < Math.abs(a - size) ? b : a), sizes[0]);
  const plan = plans[String(near)] || [];
  const chosen = Number($("iterations").value);
  return plan.map(([side, n]) => [side * size / near, chosen || n]);
}

function formatDuration(seconds) {
  // Honest to the second under two minutes, then to the minute with its seconds (1 min 40 s).
  const s = Math.max(1, Math.round(seconds));
  if (s < 90) return `${s} s`;
  const minutes = Math.floor(s / 60);
  const rest = s % 60;
  if (minutes >= 10) return `${Math.round(s / 60)} min`;
  return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
}

// --- jobs -------------------------------------------------------------------------------------
async function submit(event) {
  event.preventDefault();
  showError("");
  if (!state.photoFile && !state.sample) { showError("Please choose a photo first (or try the sample)."); $("photo-input").focus(); return; }
  const style = selectedStyle();
  if (!style) { showError("Please pick a style from the gallery."); return; }
  if (style === UPLOAD && !state.paintingFile) { showError("Please upload your painting, or pick one from the gallery."); return; }
  const form = new FormData();
  if (state.photoFile) form.append("photo", state.photoFile); else form.append("sample", state.sample);
  if (style === UPLOAD) form.append("painting", state.paintingFile); else form.append("style", style);
  const method = apiMethod();
  form.append("method", method);
  form.append("size", $("size").value);
  if (method === "gatys") {
    // Left at "auto", the job runs the command line's schedule (and its tolerance rule).
    if (Number($("iterations").value)) form.append("iterations", $("iterations").value);
    form.append("style_weight", styleWeight().toFixed(4));
  } else if (!regionsActive()) { // with regions, each region has its own strength
    form.append("strength", (Number($("strength").value) / 100).toFixed(2));
  }
  if (method === "arbitrary" && $("blend-on").checked) {
    const second = $("second-style").value;
    if (second === UPLOAD) {
      if (!state.secondFile) { showError("Please choose the second painting’s file, or pick one from the list."); $("second-upload").focus(); return; }
      form.append("second_painting", state.secondFile);
    } else {
      form.append("second_style", second);
    }
    form.append("second_weight", (Number($("mix").value) / 100).toFixed(2));
  }
  form.append("preserve_colors", $("preserve").checked ? "true" : "false");
  if (regionsActive() && !(await appendRegions(form))) return;
  stopFollowing();
  setBusy(true);
  state.focusWhenOver = true; // a job started here: its end moves the focus to the result
  state.notifyWhenOver = true; // and, when it was long and the page is not looked at, a notification
  askToNotify(method);
  showSending();
  try {
    const { body } = await api("/api/jobs", { method: "POST", body: form });
    startJob(body);
  } catch (err) {
    setBusy(false);
    if (state.job) { // what was shown before
      $("before").src = state.job.urls.photo;
      render(state.job);
    } else {
      $("status-badge").hidden = true;
    }
    showError(err.message);
  }
}

function showSending() {
  // While the request runs (a Fast job is answered in it, 1-3 s), the previous result and its "done"
  // badge make way: the photo alone, a "painting" badge and a line saying what happens.
  const badge = $("status-badge");
  badge.hidden = false;
  badge.className = "badge running";
  badge.textContent = "painting";
  $("download").hidden = true;
  $("download-jpeg").hidden = true;
  $("retry").hidden = true;
  $("progress").hidden = false;
  $("bar-fill").style.setProperty("width", "0%");
  $("bar").setAttribute("aria-valuenow", "0");
  $("progress-text").textContent = "Sending the photo and painting it…";
  if (state.photoURL && !state.photoIsVideo && state.photoFile) $("before").src = state.photoURL; // the new photo
  if (!$("compare").hidden) {
    state.pendingAfter = null;
    hideAfter();
  }
}

function setBusy(busy) {
  $("go").disabled = busy;
  $("go").textContent = busy ? "Painting…" : "Paint it";
}

function startJob(job) {
  state.job = job;
  state.pendingAfter = null; // a picture of the job before is not shown for this one
  // The address remembers the job: a reload (or a bookmark) comes back to it.
  history.replaceState(null, "", `#job=${job.id}`);
  $("download").hidden = true;
  $("download-jpeg").hidden = true;
  $("progress").hidden = false;
  $("compare").hidden = false;
  $("placeholder").hidden = true;
  $("before").src = job.urls.photo;
  $("after").hidden = true;
  $("result-video").hidden = true;
  $("result-video").removeAttribute("src");
  document.querySelectorAll(".compare .handle, .compare .tag, #compare-range").forEach((el) => { el.hidden = true; });
  render(job);
  if (window.matchMedia("(max-width: 860px)").matches) $("canvas").scrollIntoView({ behavior: "smooth", block: "start" });
  if (!isOver(job)) follow(job);
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

// Polling waits 1 s between looks; while the server does not answer it waits twice as long after
// each failure, up to 30 s, and says when it tries again (not a request and a console error a second).
const POLL = { first: 1000, most: 30000 };

function poll(delay = POLL.first) {
  clearTimeout(state.pollTimer);
  state.pollTimer = setTimeout(async () => {
    if (!state.job) return;
    try {
      const { body } = await api(state.job.urls.self);
      if (delay > POLL.first) showError(""); // the server is back
      render(body);
      if (isOver(body)) return;
      if (delay > POLL.first) follow(body); else poll(); // back: its progress stream again
    } catch (err) {
      const next = Math.min(2 * delay, POLL.most);
      showError(`${err.message} Trying again in ${Math.round(next / 1000)} s.`);
      poll(next);
    }
  }, delay);
}

function stopFollowing() {
  if (state.events) state.events.close();
  state.events = null;
  clearTimeout(state.pollTimer);
}

// The statuses in which a job is over: the server's list (/vocabulary.js, web.jobs.JobStatus).
const isOver = (job) => BRUSHWORK.terminal.includes(job.status);

const TITLE = document.title;

function showTitle(job) {
  // The tab's title follows a job: "42 % · painting", then "done" (seen from another tab).
  if (job.status === "running" && job.progress.total) {
    document.title = `${Math.round(job.progress.percent)} % · painting · ${TITLE}`;
  } else if (job.status === "queued") {
    document.title = `waiting · ${TITLE}`;
  } else if (job.status === "done" || job.status === "failed") {
    document.title = `${job.status === "done" ? "✓ done" : "✗ failed"} · ${TITLE}`;
  } else {
    document.title = TITLE;
  }
}

function render(job) {
  if (!state.job || job.id !== state.job.id) return;
  state.job = job;
  showTitle(job);
  const badge = $("status-badge");
  badge.hidden = false;
  badge.className = `badge ${job.status}`;
  badge.textContent = { queued: "waiting", running: "painting", done: "done", failed: "failed", cancelled: "cancelled" }[job.status] || job.status;
  const pct = job.progress.percent;
  $("bar-fill").style.setProperty("width", `${pct}%`);
  $("bar").setAttribute("aria-valuenow", String(Math.round(pct)));
  $("progress-text").textContent = describe(job);
  // A failed job shows no "After": its last preview may be gone with the server that made it.
  if (job.urls.preview && !isOver(job)) showAfter(job.urls.preview);
  if (job.status === "failed") { state.pendingAfter = null; hideAfter(); }
  $("cancel").hidden = isOver(job);
  $("retry").hidden = !(job.status === "failed" || job.status === "cancelled");
  if (job.status === "done") {
    refreshMethods();
    stopFollowing();
    setBusy(false);
    const link = $("download");
    link.href = job.urls.download;
    const video = job.kind === "video";
    if (video) { // the painted video replaces the before/after pictures
      $("compare").hidden = true;
      const player = $("result-video");
      if (player.getAttribute("src") !== job.urls.result) player.src = job.urls.result;
      player.hidden = false;
    } else {
      showAfter(job.urls.result);
    }
    link.setAttribute("download", `brushwork-${job.style}.${video ? "mp4" : "png"}`);
    link.textContent = video ? "Download MP4" : "Download PNG";
    link.hidden = false;
    loadHistory(); // the strip shows it
    const jpeg = $("download-jpeg"); // the same picture, a fraction of the bytes (for sharing)
    jpeg.hidden = !job.urls.download_jpeg;
    if (job.urls.download_jpeg) {
      jpeg.href = job.urls.download_jpeg;
      jpeg.setAttribute("download", `brushwork-${job.style}.jpg`);
    }
    notifyOver(job);
    moveFocus(link);
  } else if (job.status === "failed" || job.status === "cancelled") {
    stopFollowing();
    setBusy(false);
    if (job.status === "failed") showError(`The painting could not be finished: ${job.error}.`);
    notifyOver(job);
    moveFocus($("retry"));
  }
}

// A long job (Quality, a video, or 10 s or more) that ends while the page is hidden or not focused says
// so in a system notification, where the user allowed them (asked when a Quality or video job starts).
const LONG_JOB_SECONDS = 10;

function askToNotify(method) {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  if (method === "gatys" || state.photoIsVideo) Notification.requestPermission().catch(() => {});
}

function notifyOver(job) {
  if (!state.notifyWhenOver) return;
  state.notifyWhenOver = false;
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const seconds = (job.finished || Date.now() / 1000) - (job.started || job.created);
  const long = job.method === "gatys" || job.kind === "video" || seconds >= LONG_JOB_SECONDS;
  if (!long || (!document.hidden && document.hasFocus())) return;
  const title = job.status === "done" ? "Your painting is ready" : "The painting stopped";
  const body = job.status === "done" ? `${jobLabel(job)}, in ${formatDuration(seconds)}`
    : job.error || "cancelled";
  try {
    const note = new Notification(`brushwork: ${title}`, { body, tag: job.id, icon: "/static/favicon.svg" });
    note.onclick = () => { window.focus(); note.close(); };
  } catch (err) { /* some phones only notify through a service worker: the tab's title says it */ }
}

function moveFocus(target) {
  // Keyboard users land on what comes next (Download, or Try again), not at the top of the page.
  if (!state.focusWhenOver) return;
  state.focusWhenOver = false;
  target.focus({ preventScroll: true });
  target.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function describe(job) {
  if (job.status === "queued") {
    return job.queue_position ? `Waiting for a free painter: number ${job.queue_position} in the queue.` : "Waiting to start…";
  }
  if (job.status === "running") {
    const eta = job.progress.eta_seconds;
    const left = eta === null || eta === undefined ? "" : ` · about ${formatDuration(eta)} left`;
    if (job.kind === "video" && job.progress.total) return `Frame ${job.progress.iteration} of ${job.progress.total}${left}`;
    if (!job.progress.total) return "Starting: loading the painting network…";
    const loss = job.progress.losses.total;
    const lossText = loss === undefined ? "" : ` · loss ${loss.toPrecision(3)}`;
    const note = job.note ? ` · ${job.note.split(":")[0]}` : "";
    return `Iteration ${job.progress.iteration} of ${job.progress.total}${lossText}${left}${note}`;
  }
  if (job.status === "done") {
    const seconds = job.finished - (job.started || job.created);
    if (job.kind === "video") return `Finished in ${formatDuration(seconds)}: ${job.progress.total} frames at ${job.width}×${job.height} px, ${job.style_title}.`;
    const why = job.note ? ` Stopped early: ${job.note}.` : "";
    return `Finished in ${formatDuration(seconds)}: ${job.width}×${job.height} px, ${job.style_title}.${why} Drag the slider to compare.`;
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

// --- history: the finished paintings the server keeps for this browser ----------------------------
const METHOD_NAMES = { fast: "Fast", model: "Fast, trained model", gatys: "Quality" };

function jobLabel(job) {
  const what = job.kind === "video" ? "video, " : "";
  return `${job.style_title} · ${METHOD_NAMES[job.method] || job.method} · ${what}${job.width}×${job.height}`;
}

async function loadHistory() {
  let body;
  try {
    ({ body } = await api("/api/history"));
  } catch (err) { return; } // the strip stays as it was; the next finished job tries again
  const list = $("history-list");
  const picked = new Set([...list.querySelectorAll("input:checked")].map((el) => el.value));
  const focused = list.contains(document.activeElement) // kept through the rebuild (keyboard users)
    ? [document.activeElement.closest(".shot").dataset.job, document.activeElement.className] : null;
  list.replaceChildren(...body.jobs.map((job) => historyItem(job, picked.has(job.id))));
  if (focused) {
    const item = [...list.children].find((el) => el.dataset.job === focused[0]);
    const again = item && (focused[1] ? item.querySelector(`.${focused[1].split(" ")[0]}`) : null);
    if (again) again.focus({ preventScroll: true });
  }
  $("history").hidden = body.jobs.length === 0;
  const days = body.max_age_hours / 24;
  const kept = days >= 1 ? `${Math.round(days)} day${Math.round(days) === 1 ? "" : "s"}` : `${Math.round(body.max_age_hours)} hours`;
  $("history-note").textContent = `Kept by this server for ${kept}, the newest ${body.limit}. Tick two or more to compare them.`;
  updatePicked();
}

function historyItem(job, picked) {
  const item = document.createElement("li");
  item.className = "shot";
  item.dataset.job = job.id;
  if (state.job && state.job.id === job.id) item.setAttribute("aria-current", "true");
  const open = document.createElement("button");
  open.type = "button";
  open.className = "shot-open";
  open.setAttribute("aria-label", `Show ${jobLabel(job)}`);
  const img = document.createElement("img");
  img.alt = "";
  img.loading = "lazy";
  img.src = job.kind === "video" ? job.urls.photo : job.urls.result; // a video: its first frame
  open.appendChild(img);
  open.addEventListener("click", () => openJob(job));
  const title = document.createElement("span");
  title.className = "shot-title";
  title.textContent = jobLabel(job);
  title.title = jobLabel(job);
  const tools = document.createElement("span");
  tools.className = "shot-tools";
  if (job.kind !== "video") {
    const pick = document.createElement("label");
    pick.className = "shot-pick";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = job.id;
    box.checked = picked;
    box.setAttribute("aria-label", `Compare ${jobLabel(job)}`);
    box.addEventListener("change", updatePicked);
    pick.append(box, "compare");
    tools.appendChild(pick);
  }
  const save = document.createElement("a");
  save.href = job.urls.download;
  save.textContent = "download"; // part of its accessible name (axe: label-content-name-mismatch)
  save.setAttribute("download", "");
  save.setAttribute("aria-label", `Download ${jobLabel(job)}`);
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "delete";
  remove.setAttribute("aria-label", `Delete ${jobLabel(job)}`);
  remove.addEventListener("click", () => deleteJob(job));
  tools.append(save, remove);
  item.append(open, title, tools);
  return item;
}

function pickedJobs() {
  return [...$("history-list").querySelectorAll("input:checked")].map((el) => el.value);
}

function updatePicked() {
  const count = pickedJobs().length;
  $("compare-picked").disabled = count < 2;
  $("compare-picked").textContent = count >= 2 ? `Compare ${count} side by side` : "Compare side by side";
}

async function openJob(job) {
  // A painting from the strip back on the canvas, its settings in the form (Paint it repaints it).
  stopFollowing();
  state.focusWhenOver = false;
  state.notifyWhenOver = false;
  try {
    const { body } = await api(job.urls.self);
    fillForm(body);
    startJob(body);
    await adoptInputs(body);
    document.querySelectorAll(".shot").forEach((el) => el.toggleAttribute("aria-current", el.dataset.job === body.id));
    $("canvas").scrollIntoView({ block: "start", behavior: "smooth" });
  } catch (err) {
    showError(err.message);
    loadHistory();
  }
}

async function deleteJob(job) {
  try {
    await api(job.urls.self, { method: "DELETE" });
  } catch (err) {
    showError(err.message);
  }
  await loadHistory();
  const next = $("history-list").querySelector(".shot-open");
  (next || $("go")).focus({ preventScroll: true });
}

function showGrid() {
  const ids = pickedJobs();
  const jobs = ids.map((id) => [...$("history-list").children].find((el) => el.dataset.job === id));
  const grid = $("grid");
  grid.replaceChildren(...jobs.filter(Boolean).map((item) => {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.src = item.querySelector("img").src;
    img.alt = item.querySelector(".shot-title").textContent;
    const caption = document.createElement("figcaption");
    caption.textContent = img.alt;
    figure.append(img, caption);
    return figure;
  }));
  $("grid-dialog").showModal();
}

// --- compare slider ---------------------------------------------------------------------------
function setCompare(value) {
  $("compare").style.setProperty("--pos", `${value}%`);
}

function wireCompare() {
  // A mouse drags the split at once; a finger only once it moves sideways (8 px, more across than
  // down): a vertical swipe over the result scrolls the page and leaves the split where it was. The
  // range underneath has no pointer input (CSS) and keeps the keyboard.
  const box = $("compare");
  const range = $("compare-range");
  let drag = null;
  const moveTo = (e) => {
    const rect = box.getBoundingClientRect();
    const value = Math.round(Math.min(100, Math.max(0, (100 * (e.clientX - rect.left)) / rect.width)));
    range.value = value;
    setCompare(value);
  };
  box.addEventListener("pointerdown", (e) => {
    if (range.hidden) return;
    if (e.pointerType === "mouse") {
      if (e.button !== 0) return;
      e.preventDefault();
      range.focus({ preventScroll: true });
      drag = { id: e.pointerId, sideways: true };
      box.setPointerCapture(e.pointerId);
      moveTo(e);
    } else {
      drag = { id: e.pointerId, x: e.clientX, y: e.clientY, sideways: false };
    }
  });
  box.addEventListener("pointermove", (e) => {
    if (!drag || e.pointerId !== drag.id) return;
    if (!drag.sideways) {
      const dx = Math.abs(e.clientX - drag.x);
      const dy = Math.abs(e.clientY - drag.y);
      if (Math.max(dx, dy) < 8) return;
      if (dy >= dx) { drag = null; return; } // the page scrolls (touch-action: pan-y)
      drag.sideways = true;
      box.setPointerCapture(e.pointerId);
    }
    moveTo(e);
  });
  for (const name of ["pointerup", "pointercancel"]) {
    box.addEventListener(name, (e) => { if (drag && e.pointerId === drag.id) drag = null; });
  }
}

function pastedPhoto(e) {
  // Ctrl+V / ⌘V anywhere on the page (outside a text field): a copied picture becomes the photo.
  if (e.target.closest && e.target.closest("input:not([type=file]):not([type=range]), textarea, select")) return;
  const file = [...((e.clipboardData && e.clipboardData.files) || [])].find((f) => f.type.startsWith("image/"));
  if (!file) return;
  e.preventDefault();
  const ext = (file.type.split("/")[1] || "png").replace("jpeg", "jpg");
  choosePhoto(new File([file], `pasted picture.${ext}`, { type: file.type }));
}

// --- regions: a painting per part of the photo ------------------------------------------------------
// The mask is edited at the photo's shape (longest side MASK_SIDE at most): white where the person (or
// the painted part) is, nothing elsewhere. It starts empty, or from the server's person mask (auto:
// POST /api/mask, the engines' own segmentation, thresholded at one half); brush and eraser strokes
// (Pointer Events: mouse, pen and touch alike) are kept as a list and replayed, so "Undo stroke" is
// exact. The job gets the mask as drawn (a PNG of two flat colours, white and black: the regions
// "white" and "black" of the command line's --mask) and a setting per region.
const MASK_SIDE = 1024;
// The tint of the painted part, drawn at OVERLAY_ALPHA over the photo: a cool blue, seen on skin, on warm
// colours and on most skies alike.
const OVERLAY = "rgb(48, 84, 255)";
const OVERLAY_ALPHA = 0.5;
const mask = {
  key: null,       // the photo the mask is for (its URL)
  photo: null,     // the decoded photo (HTMLImageElement)
  width: 0,
  height: 0,
  base: null,      // canvas: the starting mask (auto's, a stored job's, or empty)
  layer: null,     // canvas: base + strokes
  tint: null,      // canvas: the layer coloured, for the overlay
  strokes: [],     // {tool, size, points} or {tool: "clear"}
  drawing: null,   // the stroke under way: {id, stroke}
  request: 0,      // the latest /api/mask request (older answers are dropped)
  pendingURL: null, // a stored job's mask to start from once its photo is loaded
  frame: 0,
};

function regionsOpen() { return $("regions").open; }

function regionsActive() {
  // Regions go with the job when the section is open, for a photo (not a video) on a method that paints them.
  const info = state.methods[apiMethod()];
  return regionsOpen() && !state.photoIsVideo && Boolean(info && info.regions) && Boolean(mask.photo);
}

function editorPhotoURL() {
  const thumb = $("photo-thumb");
  return !thumb.hidden && thumb.getAttribute("src") ? thumb.src : null;
}

function makeCanvas(w, h) {
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  return canvas;
}

function regionNote(text) { $("regions-note").textContent = text; }

async function loadMaskPhoto() {
  // (Re)load the editor's photo when the section is open and the photo changed; a new photo starts afresh.
  if (!regionsOpen()) return;
  if (state.photoIsVideo) {
    $("mask-editor").hidden = true;
    regionNote("Regions are for photos: a video is painted whole.");
    return;
  }
  const url = editorPhotoURL();
  if (!url) {
    $("mask-editor").hidden = true;
    mask.photo = null;
    mask.key = null;
    regionNote(state.photoFile ? "This photo can only be shown once painted, so its regions cannot be drawn here."
      : "Choose a photo, then switch on auto or paint the part that gets its own setting.");
    return;
  }
  if (url === mask.key) return;
  mask.key = url;
  const img = new Image();
  img.src = url;
  try { await img.decode(); } catch (err) { regionNote("The photo could not be shown for drawing its regions."); return; }
  if (mask.key !== url) return; // another photo came meanwhile
  const scale = Math.min(1, MASK_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
  mask.width = Math.max(1, Math.round(img.naturalWidth * scale));
  mask.height = Math.max(1, Math.round(img.naturalHeight * scale));
  mask.photo = img;
  mask.base = makeCanvas(mask.width, mask.height);
  mask.layer = makeCanvas(mask.width, mask.height);
  mask.tint = makeCanvas(mask.width, mask.height);
  mask.strokes = [];
  const canvas = $("mask-canvas");
  canvas.width = mask.width;
  canvas.height = mask.height;
  $("mask-editor").hidden = false;
  if (mask.pendingURL) {
    const stored = mask.pendingURL;
    mask.pendingURL = null;
    await setBase(stored, "the regions of that painting, as drawn");
  } else if ($("regions-auto").checked) {
    await autoMask();
  } else {
    canvas.dataset.state = "ready";
    redraw();
    regionNote("Paint the part that gets its own setting with the brush; the rest is the background.");
  }
}

async function setBase(source, what) {
  // The starting mask from a picture (a Blob or a URL): white where it is light, thresholded at one half.
  const canvas = $("mask-canvas");
  let bitmap;
  try {
    const blob = typeof source === "string" ? await (await fetch(source)).blob() : source;
    bitmap = await createImageBitmap(blob);
  } catch (err) {
    canvas.dataset.state = "ready";
    regionNote("The mask could not be read; paint the region with the brush.");
    return false;
  }
  const scratch = makeCanvas(mask.width, mask.height);
  const ctx = scratch.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, mask.width, mask.height);
  bitmap.close();
  const pixels = ctx.getImageData(0, 0, mask.width, mask.height);
  const d = pixels.data;
  for (let i = 0; i < d.length; i += 4) {
    const on = d[i] >= 128;
    d[i] = d[i + 1] = d[i + 2] = 255;
    d[i + 3] = on ? 255 : 0;
  }
  mask.base.getContext("2d").putImageData(pixels, 0, 0);
  mask.strokes = [];
  redraw();
  canvas.dataset.state = "ready";
  regionNote(`Showing ${what}: correct it with the brush and the eraser.`);
  return true;
}

async function autoMask() {
  // The server's person mask for this photo (the same segmentation as --regions auto).
  const canvas = $("mask-canvas");
  const form = new FormData();
  if (state.photoFile) form.append("photo", state.photoFile); else if (state.sample) form.append("sample", state.sample);
  else return;
  form.append("size", String(Math.max(mask.width, mask.height)));
  const ticket = ++mask.request;
  canvas.dataset.state = "loading";
  regionNote("Finding the person…");
  let response;
  try {
    response = await fetch("/api/mask", { method: "POST", body: form });
  } catch (err) {
    regionNote("Could not reach the brushwork server for the mask. Is it still running?");
    canvas.dataset.state = "ready";
    return;
  }
  if (ticket !== mask.request) return;
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    regionNote(`No mask: ${body && body.detail ? body.detail : `the server answered ${response.status}`}.`);
    canvas.dataset.state = "ready";
    return;
  }
  const warning = response.headers.get("X-Brushwork-Warning");
  await setBase(await response.blob(), "the person the server found");
  if (warning) regionNote("No person was found in this photo: paint the part that gets its own setting, or the whole photo gets the background’s.");
}

function clearBase() {
  if (!mask.base) return;
  mask.base.getContext("2d").clearRect(0, 0, mask.width, mask.height);
}

function drawStroke(ctx, stroke, from = 0) {
  // One stroke (or its points from ``from`` on) into the mask: round caps and joins, white or erased.
  if (stroke.tool === "clear") { ctx.clearRect(0, 0, mask.width, mask.height); return; }
  ctx.save();
  ctx.globalCompositeOperation = stroke.tool === "eraser" ? "destination-out" : "source-over";
  ctx.strokeStyle = ctx.fillStyle = "#fff";
  ctx.lineWidth = stroke.size;
  ctx.lineCap = ctx.lineJoin = "round";
  const pts = stroke.points;
  if (pts.length === 1) {
    ctx.beginPath();
    ctx.arc(pts[0][0], pts[0][1], stroke.size / 2, 0, 2 * Math.PI);
    ctx.fill();
  } else {
    ctx.beginPath();
    const start = Math.max(0, from - 1);
    ctx.moveTo(pts[start][0], pts[start][1]);
    for (let i = start + 1; i < pts.length; i++) ctx.lineTo(pts[i][0], pts[i][1]);
    ctx.stroke();
  }
  ctx.restore();
}

function redraw() {
  // The mask from its base and every stroke, then the picture on the page.
  if (!mask.layer) return;
  const ctx = mask.layer.getContext("2d");
  ctx.clearRect(0, 0, mask.width, mask.height);
  ctx.drawImage(mask.base, 0, 0);
  for (const stroke of mask.strokes) drawStroke(ctx, stroke);
  strokesChanged();
}

function strokesChanged() {
  $("mask-undo").disabled = mask.strokes.length === 0;
  $("mask-canvas").dataset.share = maskShare().toFixed(4);
  paintOverlay();
}

function maskShare() {
  // The share of the photo in the painted part (what the job's "white" region covers).
  if (!mask.layer) return 0;
  const d = mask.layer.getContext("2d").getImageData(0, 0, mask.width, mask.height).data;
  let on = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] >= 128) on++;
  return on / (mask.width * mask.height);
}

function paintOverlay() {
  // The photo with the painted part tinted (the canvas the user draws on).
  if (!mask.photo) return;
  const tint = mask.tint.getContext("2d");
  tint.globalCompositeOperation = "source-over";
  tint.clearRect(0, 0, mask.width, mask.height);
  tint.drawImage(mask.layer, 0, 0);
  tint.globalCompositeOperation = "source-in";
  tint.fillStyle = OVERLAY;
  tint.fillRect(0, 0, mask.width, mask.height);
  const ctx = $("mask-canvas").getContext("2d");
  ctx.globalAlpha = 1;
  ctx.drawImage(mask.photo, 0, 0, mask.width, mask.height);
  ctx.globalAlpha = OVERLAY_ALPHA;
  ctx.drawImage(mask.tint, 0, 0);
  ctx.globalAlpha = 1;
}

function maskPoint(e) {
  const rect = $("mask-canvas").getBoundingClientRect();
  return [(e.clientX - rect.left) * mask.width / rect.width, (e.clientY - rect.top) * mask.height / rect.height];
}

function wireMaskCanvas() {
  const canvas = $("mask-canvas");
  canvas.addEventListener("pointerdown", (e) => {
    if (!mask.photo || mask.drawing || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* a synthetic or finished pointer */ }
    const tool = document.querySelector('input[name="mask-tool"]:checked').value;
    const size = Number($("brush-size").value) * mask.width / Math.max(1, canvas.getBoundingClientRect().width);
    const stroke = { tool, size: Math.max(1, size), points: [maskPoint(e)] };
    mask.drawing = { id: e.pointerId, stroke };
    drawStroke(mask.layer.getContext("2d"), stroke);
    paintOverlay();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!mask.drawing || e.pointerId !== mask.drawing.id) return;
    e.preventDefault();
    const { stroke } = mask.drawing;
    const from = stroke.points.length;
    stroke.points.push(maskPoint(e));
    drawStroke(mask.layer.getContext("2d"), stroke, from);
    if (!mask.frame) mask.frame = requestAnimationFrame(() => { mask.frame = 0; paintOverlay(); });
  });
  const finish = (e) => {
    if (!mask.drawing || e.pointerId !== mask.drawing.id) return;
    mask.strokes.push(mask.drawing.stroke);
    mask.drawing = null;
    redraw(); // replayed whole: the stroke's segments drawn one by one overlap at their joins
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
}

function wireRegions() {
  wireMaskCanvas();
  $("regions").addEventListener("toggle", () => { loadMaskPhoto(); updateMethods(); });
  $("regions-auto").addEventListener("change", async (e) => {
    if (!mask.photo) { await loadMaskPhoto(); return; }
    if (e.target.checked) {
      await autoMask();
    } else {
      clearBase();
      redraw();
      regionNote("Auto is off: the brush’s strokes are the painted part.");
    }
  });
  $("mask-undo").addEventListener("click", () => { mask.strokes.pop(); redraw(); });
  $("mask-clear").addEventListener("click", () => {
    if (!mask.layer) return;
    mask.strokes.push({ tool: "clear" });
    redraw();
    regionNote("Cleared: paint the part that gets its own setting (Undo stroke brings it back).");
  });
  for (const id of ["brush-size", "feather", "region-person-strength", "region-background-strength"]) {
    $(id).addEventListener("input", updateRegionOutputs);
  }
  for (const id of ["region-person", "region-background"]) $(id).addEventListener("change", updateRegionOutputs);
  updateRegionOutputs();
}

function fillRegionChoices(styles) {
  // Each region: the painting chosen above, the photo itself, or a gallery painting.
  for (const id of ["region-person", "region-background"]) {
    const select = $(id);
    const options = [["default", "The style chosen above"], ["none", "Keep the photo"]];
    for (const style of styles) if (style.painting) options.push([style.id, style.title]);
    select.replaceChildren(...options.map(([value, text]) => new Option(text, value)));
  }
  $("region-person").value = "none";         // the usual wish: the person as they are,
  $("region-background").value = "default";  // the rest painted
}

function updateRegionOutputs() {
  $("brush-size-out").textContent = `${$("brush-size").value} px`;
  $("feather-out").textContent = Number($("feather").value) ? `${$("feather").value} px` : "hard edge";
  const blending = apiMethod() === "arbitrary" && $("blend-on").checked;
  for (const id of ["region-person", "region-background"]) {
    const value = $(id).value;
    const slider = $(`${id}-strength`);
    slider.closest(".slider").hidden = value === "none";
    // A blend of two paintings takes the job's own strength (a region cannot give it another).
    slider.disabled = blending && value === "default";
    $(`${id}-strength-out`).textContent = slider.disabled ? "the blend’s" : `${slider.value} %`;
  }
  const strengthRow = $("strength").closest(".slider"); // with regions, each region has its own
  strengthRow.hidden = regionsOpen();
}

function regionSpec(name, id) {
  const value = $(id).value;
  const slider = $(`${id}-strength`);
  if (value === "none") return `${name}=none`;
  if (slider.disabled) return `${name}=${value}`;
  return `${name}=${value}:${(Number(slider.value) / 100).toFixed(2)}`;
}

async function appendRegions(form) {
  // The mask as drawn (two flat colours) and a setting per region present; false (with a message) when
  // there is nothing to send.
  if (mask.drawing || $("mask-canvas").dataset.state === "loading") {
    showError("The mask is still being made; please wait a moment.");
    return false;
  }
  const d = mask.layer.getContext("2d").getImageData(0, 0, mask.width, mask.height);
  let white = 0;
  for (let i = 0; i < d.data.length; i += 4) {
    const on = d.data[i + 3] >= 128;
    if (on) white++;
    d.data[i] = d.data[i + 1] = d.data[i + 2] = on ? 255 : 0;
    d.data[i + 3] = 255;
  }
  const black = mask.width * mask.height - white;
  if (!white && !$("regions-auto").checked) {
    showError("Paint the part of the photo that gets its own setting (or switch on auto: person / background), or close Regions.");
    return false;
  }
  const out = makeCanvas(mask.width, mask.height);
  out.getContext("2d").putImageData(d, 0, 0);
  const blob = await new Promise((resolve) => out.toBlob(resolve, "image/png"));
  form.append("mask", blob, "mask.png");
  if (white) form.append("region", regionSpec("white", "region-person"));
  if (black) form.append("region", regionSpec("black", "region-background"));
  form.append("feather", $("feather").value);
  return true;
}

function fillRegions(job) {
  // A job from the strip: its regions back in the form, its mask in the editor (once its photo is there).
  const regions = job.regions;
  if (!regions) return;
  $("regions").open = true;
  $("regions-auto").checked = regions.source === "auto";
  $("feather").value = Math.round(regions.feather);
  for (const spec of regions.region) {
    const [name, rest] = [spec.slice(0, spec.indexOf("=")), spec.slice(spec.indexOf("=") + 1)];
    const id = ["white", "255", "person"].includes(name.toLowerCase()) ? "region-person" : "region-background";
    const [value, strength] = rest.split(":");
    if ([...$(id).options].some((opt) => opt.value === value)) $(id).value = value;
    $(`${id}-strength`).value = strength === undefined ? 100 : Math.round(100 * Number(strength));
  }
  if (job.urls.mask) {
    mask.pendingURL = job.urls.mask;
    mask.key = null; // load it over the job's photo
  }
  updateRegionOutputs();
}

// --- wiring -----------------------------------------------------------------------------------
function wire() {
  const zone = $("dropzone");
  $("photo-input").addEventListener("change", (e) => { if (e.target.files[0]) choosePhoto(e.target.files[0]); });
  $("camera-input").addEventListener("change", (e) => { if (e.target.files[0]) choosePhoto(e.target.files[0]); });
  document.addEventListener("paste", pastedPhoto);
  $("compare-picked").addEventListener("click", showGrid);
  wireRegions();
  $("grid-close").addEventListener("click", () => $("grid-dialog").close());
  wireCompare();
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
      if (e.target.value === UPLOAD && !state.paintingFile) $("painting-input").click();
      avoidSameSecond(e.target.value);
      updateMethods();
    }
  });
  $("upload-card").addEventListener("click", (e) => {
    // Clicking the card again (already selected) lets the user pick a different painting.
    if ($("upload-radio").checked && state.paintingFile && e.target.closest(".card-art")) $("painting-input").click();
  });
  $("painting-input").addEventListener("change", (e) => { if (e.target.files[0]) choosePainting(e.target.files[0]); });
  document.querySelectorAll('input[name="method"]').forEach((el) => el.addEventListener("change", updateMethods));
  $("use-model").addEventListener("change", (e) => { state.useModel = e.target.checked; updateMethods(); });
  $("blend-on").addEventListener("change", updateMethods);
  $("second-style").addEventListener("change", updateSecond);
  $("second-upload").addEventListener("click", () => $("second-input").click());
  $("second-input").addEventListener("change", (e) => { if (e.target.files[0]) chooseSecond(e.target.files[0]); });
  $("size").addEventListener("input", () => { state.sizeTouched = true; });
  for (const id of ["size", "strength", "style-weight", "iterations", "mix"]) $(id).addEventListener("input", updateOutputs);
  $("photo-thumb").addEventListener("load", updateOutputs);
  $("job-form").addEventListener("submit", submit);
  $("cancel").addEventListener("click", cancel);
  $("retry").addEventListener("click", () => $("job-form").requestSubmit());
  $("compare-range").addEventListener("input", (e) => setCompare(e.target.value));
  $("after").addEventListener("error", () => { // never a broken-image icon: hide it, and do not show it again
    state.brokenAfter = $("after").getAttribute("src");
    hideAfter();
    loadPendingAfter();
  });
  $("after").addEventListener("load", loadPendingAfter);
}

function fillForm(job) {
  const o = job.options;
  $("size").value = o.size;
  state.sizeTouched = true; // the job's size stays, whatever method is picked next
  $("iterations").value = o.iterations || 0;
  $("style-weight").value = weightToSlider(o.style_weight);
  $("strength").value = Math.round(100 * (o.strength === undefined ? 1 : o.strength));
  $("preserve").checked = o.preserve_colors;
  const style = document.querySelector(`input[name="style"][value="${CSS.escape(job.style)}"]`);
  if (style) style.checked = true;
  const shown = job.method === "gatys" ? "gatys" : "fast";
  state.useModel = job.method === "model";
  const method = document.querySelector(`input[name="method"][value="${shown}"]`);
  if (method && !method.disabled) method.checked = true;
  if (job.second_style) {
    $("blend-on").checked = true;
    const known = [...$("second-style").options].some((opt) => opt.value === job.second_style);
    $("second-style").value = known ? job.second_style : UPLOAD;
    $("mix").value = Math.round(100 * (o.second_weight === null || o.second_weight === undefined ? 0.5 : o.second_weight));
    updateSecond();
  }
  fillRegions(job);
  updateMethods();
}

async function fileFrom(url, name) {
  // A stored input of an earlier job, as a File the form can send again.
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the server answered ${response.status}`);
  const blob = await response.blob();
  return new File([blob], name, { type: blob.type || "image/png" });
}

async function adoptInputs(job) {
  // After a reload (or a restart) the page knows the job but not its files: take the job's stored
  // photo and uploaded paintings, so "Paint it" and "Try again" work without choosing them again.
  // A video job's stored photo is only its first frame: the video itself must be chosen again.
  try {
    if (job.kind !== "video" && !state.photoFile && !state.sample) {
      state.photoFile = await fileFrom(job.urls.photo, "photo.png");
      state.photoIsVideo = false;
      $("photo-label").textContent = "the photo of this painting";
      $("dropzone").classList.add("has-photo");
      const thumb = $("photo-thumb");
      thumb.src = job.urls.photo;
      thumb.hidden = false;
    }
    loadMaskPhoto(); // its regions over its photo
    if (job.urls.painting && !state.paintingFile) {
      const file = await fileFrom(job.urls.painting, "painting.png");
      state.paintingFile = file;
      const art = $("upload-art");
      art.innerHTML = "";
      const img = document.createElement("img");
      img.alt = "";
      img.src = job.urls.painting;
      art.appendChild(img);
      $("upload-credit").textContent = "your painting";
      $("upload-radio").checked = true;
      updateMethods();
    }
    if (job.urls.second_painting && !state.secondFile) {
      await chooseSecond(await fileFrom(job.urls.second_painting, "second painting.png"));
    }
  } catch (err) { /* the inputs are gone (deleted with old jobs): the user chooses them again */ }
}

async function resumeFromAddress() {
  const match = /^#job=([0-9a-f]{32})$/.exec(location.hash);
  if (!match) return;
  try {
    const { body } = await api(`/api/jobs/${match[1]}`);
    fillForm(body);
    startJob(body);
    if (!isOver(body)) setBusy(true);
    await adoptInputs(body);
  } catch (err) {
    history.replaceState(null, "", location.pathname);
    showError(`That earlier painting is no longer here. ${err.message}`);
  }
}

// Live camera: its script, styles and the onnxruntime-web runtime load only when it is opened.
async function openLive() {
  try {
    const live = await import("/static/live.js");
    await live.openLive();
  } catch (err) {
    showError(`Live could not start: ${err.message}`);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  wire();
  updateOutputs();
  $("live-open").addEventListener("click", openLive);
  if (location.hash === "#live") openLive();
  loadCatalogue().then(resumeFromAddress).catch((err) => showError(err.message));
  loadHistory();
});
