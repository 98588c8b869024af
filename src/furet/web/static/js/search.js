// Rounds of the current class and searches (by images, by items, by text).
import { api, h, toast } from "../api.js";
import { busy } from "./busy.js";
import { createClassFromQuery, refreshPrecision, renderCurrentClass, renderPrecision } from "./classes.js";
import { showResults } from "./grid.js";
import { discoverImages } from "./discover.js";
import { settings } from "./settings.js";
import { readOnlyReason } from "./sharing.js";
import { $, MODE_HELP, MODE_LABEL, MODES, currentCollection, state } from "./state.js";

/** The mode buttons, each with its one-line explanation as tooltip; the current one's below. */
export function initModes(onMode) {
  $("modes").replaceChildren(
    ...MODES.map(([mode, label, help], i) =>
      h(
        "button",
        {
          type: "button",
          class: "mode",
          "aria-pressed": String(mode === state.mode),
          dataset: { mode, help },
          testid: `mode-${mode}`,
          title: `${label} (key ${i + 1}): ${help}`,
          onclick: () => onMode(mode),
        },
        h("kbd", { "aria-hidden": "true" }, String(i + 1)),
        " ",
        label,
      ),
    ),
  );
}

export function renderModes() {
  for (const b of $("modes").children) {
    b.setAttribute("aria-pressed", String(b.dataset.mode === state.mode));
  }
  $("mode-help").textContent = `${MODE_LABEL[state.mode]}: ${MODE_HELP[state.mode]}`;
}

export async function nextRound(mode = state.mode) {
  state.mode = mode;
  renderCurrentClass();
  const c = state.cls;
  if (!c) {
    toast("Create a class from an image (or pick one in My Classes) to run rounds", "info");
    return;
  }
  if (readOnlyReason(c)) {
    toast(readOnlyReason(c), "info");
    return;
  }
  const s = settings();
  const seq = ++state.seq;
  await busy(async () => {
    const r = await api("POST", `/v1/classes/${c.class_id}/rounds`, {
      mode,
      page_size: s.page_size,
      discovery_rate: s.discovery_rate,
      sampling_min: s.sampling_min,
      sampling_max: s.sampling_max,
      temporal_range: s.temporal_range,
    });
    if (seq !== state.seq) return;
    state.rounds += 1;
    for (const p of r.page) {
      if (p.label === 1 || p.label === -1) state.labels.set(p.item_id, p.label);
    }
    const cv = r.cv_score == null ? "" : ` · cv ${Number(r.cv_score).toFixed(2)}`;
    $("round-info").textContent =
      `${MODE_LABEL[r.mode] || r.mode} · version ${r.version} · ${Number(r.round_ms).toFixed(0)} ms · ` +
      `${r.n_pos} pos / ${r.n_neg} neg${r.n_weak ? ` (+${r.n_weak} weak)` : ""}${cv} · ` +
      `${r.collection_size} items`;
    const ranked =
      r.score_kind === "similarity"
        ? "ranked by similarity to the positives (no model yet)"
        : "scores: the class model's probability";
    $("query-info").replaceChildren(`${MODE_LABEL[r.mode] || r.mode} page of “${r.class_name}” · ${ranked}`);
    const { page, ...meta } = r;
    showResults(page, meta);
    if (r.mode === "classify_random") refreshPrecision();
    else renderPrecision();
  });
}

function searchDone(seq, data, what) {
  if (seq !== state.seq) return;
  $("query-info").replaceChildren(...(Array.isArray(what) ? what : [what]).filter((x) => x != null && x !== false));
  showResults(data.results, null);
  renderPrecision();
}

const IMAGE_NAME = /\.(jpe?g|png|webp|gif|bmp|tiff?)$/i;

export async function searchImages(files) {
  files = [...files].filter((f) => f.type.startsWith("image/") || IMAGE_NAME.test(f.name));
  if (!files.length) return toast("Drop image files (JPEG, PNG, WebP…)");
  if (files.length > 5) {
    toast("At most 5 query images: the first 5 are used", "info");
    files = files.slice(0, 5);
  }
  if (!state.collection) return toast("No collection to search");
  const k = settings().page_size;
  const form = new FormData();
  for (const f of files) form.append("images", f, f.name);
  form.append("k", String(k));
  const seq = ++state.seq;
  for (const u of state.queryUrls) URL.revokeObjectURL(u);
  state.queryUrls = files.map((f) => URL.createObjectURL(f));
  state.queryFiles = files;
  await busy(async () => {
    const data = await api(
      "POST",
      `/v1/collections/${encodeURIComponent(state.collection)}/search/image?k=${k}`,
      form,
    );
    searchDone(seq, data, [
      "Similar to ",
      ...state.queryUrls.map((u) => h("img", { class: "query-thumb", src: u, alt: "query image" })),
      files.length === 1
        ? h(
            "button",
            { type: "button", class: "ghost small-btn", onclick: createClassFromQuery, testid: "class-from-query" },
            "Create class from this image",
          )
        : null,
      h(
        "button",
        {
          type: "button",
          class: "ghost small-btn",
          onclick: () => discoverImages(files),
          testid: "discover-query",
          title: "Model discovery: the classes of other users and institutions that fire on the query",
        },
        "Discover classes",
      ),
    ]);
  });
}

/** The text-capable spaces of the current collection (null: the server does not say). */
function textSpaces() {
  const col = currentCollection();
  return col && Array.isArray(col.text_spaces) ? col.text_spaces : null;
}

export const TEXT_MODEL = "clip-vit-b32";

/** The text search box says, before any typing, whether this collection can be searched by text. */
export function renderTextSearch() {
  const spaces = textSpaces();
  const input = $("text-query");
  const note = $("text-note");
  const choice = $("text-space");
  const off = Boolean(state.collection) && spaces !== null && spaces.length === 0;
  input.disabled = off;
  $("text-submit").disabled = off;
  $("text-form").classList.toggle("is-off", off);
  if (off) {
    const cmd = `furet embed -c ${state.collection} --model ${TEXT_MODEL}`;
    input.placeholder = `Text search: furet embed --model ${TEXT_MODEL}`;
    input.title = note.title = `No text search in “${state.collection}”: it has no text-capable space (clip, mclip). Add one with: ${cmd}`;
    note.replaceChildren("No text model here. Add one: ", h("code", {}, cmd));
    note.hidden = false;
  } else {
    input.placeholder = "Describe what you look for…";
    input.title = spaces && spaces.length ? `Text search in the ${spaces[0]} space` : "";
    note.hidden = true;
  }
  const many = Boolean(spaces) && spaces.length > 1;
  choice.hidden = !many;
  if (many) choice.replaceChildren(...spaces.map((s) => h("option", { value: s }, s)));
}

export async function searchText(text) {
  text = text.trim();
  if (!text) return;
  if (!state.collection) return toast("No collection to search");
  const spaces = textSpaces();
  const body = { text, k: settings().page_size };
  if (spaces && spaces.length) body.space = spaces.length > 1 ? $("text-space").value : spaces[0];
  const seq = ++state.seq;
  await busy(async () => {
    const data = await api("POST", `/v1/collections/${encodeURIComponent(state.collection)}/search/text`, body);
    searchDone(seq, data, `Text: “${text}”${data.space ? ` (${data.space})` : ""}`);
  });
}

export async function searchSimilar(ids) {
  if (!state.collection || !ids.length) return;
  const s = settings();
  const seq = ++state.seq;
  // The class's negatives steer the query away (the API takes at most 100 of them).
  const negatives = state.cls
    ? [...state.labels].filter(([id, v]) => v < 0 && !ids.includes(id)).map(([id]) => id).slice(-100)
    : [];
  await busy(async () => {
    const data = await api("POST", `/v1/collections/${encodeURIComponent(state.collection)}/search`, {
      item_ids: ids,
      negative_item_ids: negatives,
      k: s.page_size,
      temporal_range: s.temporal_range,
    });
    searchDone(seq, data, ids.length === 1 ? `Similar to image ${ids[0]}` : `Similar to ${ids.length} images`);
  });
}
