// brushwork page: "Make a model of this painting" (POST /api/training, web/training.py).
// A separate script from app.js: it finds its place in the page (after the gallery of step 2), reads
// which painting is chosen from the page itself, follows the training job by Server-Sent Events, and
// adds the new style's card to the gallery when its model is made. Plain JS, no build step.
"use strict";

(() => {
  const UPLOAD_VALUE = "__upload__"; // app.js's value of the "Your own painting" card
  const el = (id) => document.getElementById(id);
  const train = { available: false, reason: "", steps: 0, styles: {}, job: null, events: null };

  function build() {
    const anchor = el("painting-input") || el("gallery");
    if (!anchor) return false;
    const box = document.createElement("div");
    box.className = "train";
    box.id = "train";
    box.innerHTML = `
      <button type="button" class="button small" id="train-open" aria-expanded="false"
              aria-controls="train-form">Make a model of this painting</button>
      <p class="train-hint" id="train-hint"></p>
      <form class="train-form" id="train-form" hidden>
        <label for="train-name">Name of the model</label>
        <input id="train-name" type="text" maxlength="60" required autocomplete="off">
        <button type="submit" class="button primary small" id="train-start">Start training</button>
      </form>
      <div class="train-progress" id="train-progress" hidden>
        <progress id="train-bar" max="100" value="0" aria-label="Training progress"></progress>
        <p id="train-status" role="status" aria-live="polite"></p>
        <p id="train-figure"></p>
        <button type="button" class="button small" id="train-cancel">Cancel training</button>
      </div>`;
    anchor.after(box);
    return true;
  }

  async function json(path, options) {
    const response = await fetch(path, options);
    const type = response.headers.get("content-type") || "";
    const body = type.includes("application/json") ? await response.json() : null;
    if (!response.ok) {
      const detail = body && typeof body.detail === "string" ? body.detail : `the server answered ${response.status}`;
      throw new Error(detail);
    }
    return body;
  }

  // What painting the page has chosen: a gallery style with a painting, or an uploaded file.
  function chosen() {
    const checked = document.querySelector('input[name="style"]:checked');
    if (!checked) return null;
    if (checked.value === UPLOAD_VALUE) {
      const file = (typeof state !== "undefined" && state.paintingFile) || (el("painting-input").files || [])[0];
      return file ? { file, title: file.name.replace(/\.[^.]+$/, "") } : null;
    }
    const style = train.styles[checked.value];
    return style && style.painting ? { style: style.id, title: style.title } : null;
  }

  function refresh() {
    const button = el("train-open");
    if (!button) return;
    const running = train.job && !["done", "failed", "cancelled"].includes(train.job.status);
    const pick = chosen();
    button.disabled = !train.available || !pick || running;
    el("train-hint").textContent = !train.available ? train.reason
      : running ? "" : pick ? `Trains a network for this painting alone on the server (${train.steps} steps, a few minutes).`
      : "Choose a painting above (or upload your own) to make a model of it.";
  }

  function duration(seconds) {
    if (seconds == null) return "";
    const s = Math.max(0, Math.round(seconds));
    return s < 60 ? `about ${s} s left` : `about ${Math.floor(s / 60)} min ${s % 60} s left`;
  }

  function show(job) {
    train.job = job;
    el("train-progress").hidden = false;
    el("train-cancel").hidden = ["done", "failed", "cancelled"].includes(job.status);
    const p = job.progress;
    el("train-bar").value = p.percent;
    let text;
    if (job.status === "queued") text = `“${job.title}”: waiting for the training before it (place ${job.queue_position || 1}).`;
    else if (job.status === "running") {
      text = p.total ? `Training “${job.title}”: step ${p.step} of ${p.total}` : `Training “${job.title}”: starting`;
      if (p.eta_seconds != null) text += `, ${duration(p.eta_seconds)}`;
      text += ".";
    } else if (job.status === "done") text = `“${job.title}” is ready: it is in the gallery.`;
    else text = `Training “${job.title}” ${job.status}: ${job.error || ""}`;
    if (job.note && job.status !== "done") text += ` (${job.note})`;
    el("train-status").textContent = text;
    const v = job.validation;
    let figure = "";
    if (v && v.style_x != null) {
      figure = `Against Fast on held-out photos (step ${v.step}): style ratio ${v.style_x.toFixed(2)}×, `
        + `likeness to the photo (SSIM) ${v.ssim_x.toFixed(2)}× Fast's.`;
    }
    if (job.better_from != null) figure += ` Better than Fast from step ${job.better_from}.`;
    el("train-figure").textContent = figure.trim();
    if (job.status === "done" && job.style) addCard(job.style);
    refresh();
  }

  function addCard(style) {
    if (document.querySelector(`#gallery input[name="style"][value="${CSS.escape(style.id)}"]`)) return;
    train.styles[style.id] = style;
    if (typeof state !== "undefined" && state.styles) state.styles[style.id] = style; // app.js's gallery
    const card = document.createElement("label");
    card.className = "card train-new";
    card.innerHTML = `<input type="radio" name="style" class="visually-hidden">
      <img class="card-art" alt="" loading="lazy" width="256" height="256">
      <span class="card-title"></span><span class="card-credit"></span>`;
    card.querySelector("input").value = style.id;
    card.querySelector("img").src = style.thumbnail;
    card.querySelector(".card-title").textContent = style.title;
    card.querySelector(".card-credit").textContent = style.credit;
    if (style.methods.includes("model")) {
      const pill = document.createElement("span");
      pill.className = "pill";
      pill.textContent = "has a trained model";
      pill.title = "a network trained for this painting alone can paint it too";
      card.appendChild(pill);
    }
    const upload = el("upload-card");
    el("gallery").insertBefore(card, upload);
  }

  function follow(job) {
    if (train.events) train.events.close();
    show(job);
    if (["done", "failed", "cancelled"].includes(job.status)) return;
    const source = new EventSource(job.urls.events);
    train.events = source;
    source.addEventListener("training", (event) => {
      const update = JSON.parse(event.data);
      show(update);
      if (["done", "failed", "cancelled"].includes(update.status)) { source.close(); train.events = null; }
    });
    source.onerror = () => { // the server restarted: the stream reconnects itself (retry); say so meanwhile
      if (train.job && train.job.status === "running") el("train-status").textContent = "Reconnecting to the server…";
    };
  }

  async function start(event) {
    event.preventDefault();
    const pick = chosen();
    const name = el("train-name").value.trim();
    if (!pick || !name) return;
    const form = new FormData();
    form.append("name", name);
    if (pick.file) form.append("painting", pick.file);
    else form.append("style", pick.style);
    el("train-start").disabled = true;
    try {
      const job = await json("/api/training", { method: "POST", body: form });
      el("train-form").hidden = true;
      el("train-open").setAttribute("aria-expanded", "false");
      follow(job);
    } catch (err) {
      el("train-hint").textContent = `Could not start training: ${err.message}`;
    } finally {
      el("train-start").disabled = false;
    }
  }

  async function init() {
    if (!build()) return;
    el("train-open").addEventListener("click", () => {
      const form = el("train-form");
      form.hidden = !form.hidden;
      el("train-open").setAttribute("aria-expanded", String(!form.hidden));
      const pick = chosen();
      if (!form.hidden) {
        if (pick && !el("train-name").value) el("train-name").value = pick.title;
        el("train-name").focus();
      }
    });
    el("train-form").addEventListener("submit", start);
    el("train-cancel").addEventListener("click", async () => {
      if (!train.job) return;
      try { show(await json(train.job.urls.cancel, { method: "POST" })); } catch (err) { el("train-hint").textContent = err.message; }
    });
    el("gallery").addEventListener("change", refresh);
    el("painting-input").addEventListener("change", () => setTimeout(refresh, 0));
    try {
      const [info, styles] = await Promise.all([json("/api/training"), json("/api/styles")]);
      for (const s of styles.styles) train.styles[s.id] = s;
      train.available = info.available;
      train.reason = info.reason || "";
      train.steps = info.steps;
      const active = info.jobs.find((j) => j.status === "running" || j.status === "queued");
      if (active) follow(active); // a reload, or a restart that resumed it
    } catch (err) {
      train.reason = `Training is not available: ${err.message}`;
    }
    refresh();
    // app.js fills the gallery and shows a chosen painting file asynchronously (it checks it first).
    new MutationObserver(refresh).observe(el("gallery"), { subtree: true, childList: true, characterData: true });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
