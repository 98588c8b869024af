// furet's search and teaching page: one ES module, no build step. Talks to docs/api.md.
import { api, authListeners, h, quotaListeners, showError, toast } from "./api.js";

const MODES = [
  ["search", "Search"],
  ["most_useful", "Most useful"],
  ["ambiguous", "Ambiguous"],
  ["discovery", "Discovery"],
  ["refine", "Refine"],
  ["classify_random", "Classify Random Images"],
];
const MODE_LABEL = Object.fromEntries(MODES);
const STORE = "furet.ui";

const $ = (id) => document.getElementById(id);

const state = {
  me: null,
  collections: [],
  collection: null, // name
  classes: [],
  cls: null, // current class summary
  mode: "search",
  results: [], // items shown, in grid order
  cards: new Map(), // item_id -> card element
  labels: new Map(), // item_id -> 1 | -1 (marks of the current class known here)
  selection: new Set(),
  anchor: null, // item_id of the last plain click (shift-click range start)
  hover: null, // item_id under the mouse or keyboard focus
  lastClicked: null,
  rounds: 0,
  seq: 0, // request counter: a late answer to an older request is dropped
  busy: 0,
  queryUrls: [],
  queryFiles: [],
};

// ---------------------------------------------------------------- settings (persisted)

function loadStore() {
  try {
    return JSON.parse(localStorage.getItem(STORE) || "{}");
  } catch {
    return {};
  }
}

function saveStore(patch) {
  localStorage.setItem(STORE, JSON.stringify({ ...loadStore(), ...patch }));
}

const SETTINGS = [
  ["s-page-size", "page_size", Number],
  ["s-discovery", "discovery_rate", Number],
  ["s-temporal", "temporal_range", Number],
  ["s-smin", "sampling_min", Number],
  ["s-smax", "sampling_max", Number],
  ["s-size", "picture_size", Number],
];

function settings() {
  const out = {};
  for (const [id, key, conv] of SETTINGS) out[key] = conv($(id).value);
  out.page_size = Math.max(1, Math.min(200, Math.round(out.page_size) || 15));
  return out;
}

function initSettings() {
  const saved = loadStore().settings || {};
  for (const [id, key] of SETTINGS) {
    if (saved[key] !== undefined) $(id).value = saved[key];
    $(id).addEventListener("input", onSettings);
  }
  if (saved.spread !== undefined) $("s-spread").checked = saved.spread;
  $("s-spread").addEventListener("change", () => saveStore({ settings: { ...settings(), spread: $("s-spread").checked } }));
  onSettings();
}

function onSettings() {
  const s = settings();
  if (s.sampling_min > s.sampling_max) {
    // Keep Min <= Max by moving the other end.
    if (document.activeElement === $("s-smin")) $("s-smax").value = s.sampling_min;
    else $("s-smin").value = s.sampling_max;
  }
  const t = settings();
  $("o-discovery").textContent = t.discovery_rate.toFixed(2);
  $("o-smin").textContent = t.sampling_min.toFixed(2);
  $("o-smax").textContent = t.sampling_max.toFixed(2);
  document.documentElement.style.setProperty("--thumb", `${t.picture_size}px`);
  saveStore({ settings: { ...t, spread: $("s-spread").checked } });
}

// ---------------------------------------------------------------- busy indicator

async function busy(fn) {
  state.busy += 1;
  $("busy").hidden = false;
  try {
    return await fn();
  } catch (err) {
    showError(err);
    return undefined;
  } finally {
    state.busy -= 1;
    if (state.busy === 0) $("busy").hidden = true;
  }
}

// ---------------------------------------------------------------- login

function showLogin(message = "") {
  $("app").hidden = true;
  $("login").hidden = false;
  document.querySelector('[data-testid="login-error"]').textContent = message;
  $("login").querySelector("input[name=username]").focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const body = { username: form.username.value.trim(), password: form.password.value };
  const err = form.querySelector(".login-error");
  err.textContent = "";
  try {
    await api("POST", "/v1/auth/login", body);
  } catch (e) {
    err.textContent = e.detail || String(e);
    return;
  }
  form.password.value = "";
  await start();
}

async function onLogout() {
  await api("POST", "/v1/auth/logout").catch(() => null);
  state.me = null;
  resetResults();
  showLogin();
}

// ---------------------------------------------------------------- start

async function start() {
  let me;
  try {
    me = await api("GET", "/v1/me");
  } catch (e) {
    if (e.status === 401) return showLogin();
    showError(e);
    return showLogin(e.detail);
  }
  state.me = me;
  $("login").hidden = true;
  $("app").hidden = false;
  $("user-name").textContent = me.name;
  $("admin-link").hidden = me.role !== "admin";
  await busy(async () => {
    const [cols, classes] = await Promise.all([
      api("GET", "/v1/collections"),
      api("GET", "/v1/classes"),
    ]);
    state.collections = cols;
    state.classes = classes;
    renderCollections();
    renderClasses();
    const saved = loadStore();
    const cls = classes.find((c) => c.class_id === saved.class_id);
    if (cls) selectClass(cls, { run: false });
  });
}

function renderCollections() {
  const sel = $("collection");
  sel.replaceChildren(
    ...state.collections.map((c) =>
      h("option", { value: c.name }, `${c.name} (${c.items} items, ${c.model})`),
    ),
  );
  if (!state.collections.length) {
    sel.append(h("option", { value: "" }, "no collection: run furet ingest"));
    state.collection = null;
    return;
  }
  const saved = loadStore().collection;
  const pick = state.collections.find((c) => c.name === (state.collection || saved));
  state.collection = (pick || state.collections[0]).name;
  sel.value = state.collection;
}

function setCollection(name) {
  if (name === state.collection) return;
  state.collection = name;
  $("collection").value = name;
  saveStore({ collection: name });
  if (state.cls && state.cls.collection !== name) selectClass(null);
  resetResults();
}

// ---------------------------------------------------------------- classes

function renderClasses() {
  const list = $("classes");
  list.replaceChildren(
    ...state.classes.map((c) => {
      const current = state.cls && state.cls.class_id === c.class_id;
      return h(
        "li",
        { class: current ? "current" : "" },
        h(
          "button",
          {
            type: "button",
            class: "class-btn",
            "aria-pressed": String(Boolean(current)),
            testid: "class-item",
            dataset: { classId: c.class_id },
            onclick: () => selectClass(current ? null : c),
            title: current ? "Stop teaching this class" : "Teach this class",
          },
          h("span", { class: "class-name" }, c.name),
          h(
            "span",
            { class: "class-meta" },
            h("span", { class: "pos" }, `${c.positives}+`),
            " ",
            h("span", { class: "neg" }, `${c.negatives}−`),
            h("span", { class: "muted" }, ` · ${c.collection}`),
          ),
        ),
        h(
          "button",
          {
            type: "button",
            class: "class-del",
            "aria-label": `Delete class ${c.name}`,
            title: "Delete class",
            onclick: () => deleteClass(c),
          },
          "×",
        ),
      );
    }),
  );
  $("classes-empty").hidden = state.classes.length > 0;
  renderCurrentClass();
}

function renderCurrentClass() {
  const c = state.cls;
  document.body.classList.toggle("has-class", Boolean(c));
  $("class-name").textContent = c ? c.name : "none";
  $("class-counts").textContent = c ? `${c.positives}+ ${c.negatives}−` : "";
  $("class-counts").hidden = !c;
  for (const b of $("modes").children) {
    b.setAttribute("aria-pressed", String(b.dataset.mode === state.mode));
  }
  $("next-round").disabled = !c;
  if (!c) $("round-info").textContent = "Create or pick a class to run rounds";
}

function selectClass(c, { run = false } = {}) {
  state.cls = c;
  state.labels.clear();
  state.rounds = 0;
  saveStore({ class_id: c ? c.class_id : null });
  if (c && c.collection !== state.collection) {
    state.collection = c.collection;
    $("collection").value = c.collection;
    resetResults();
  }
  $("round-info").textContent = "";
  renderClasses();
  for (const id of state.cards.keys()) paintCard(id);
  if (c && run) nextRound("search");
}

function updateClassCounts(classId, positives, negatives) {
  const c = state.classes.find((x) => x.class_id === classId);
  if (c) Object.assign(c, { positives, negatives });
  if (state.cls && state.cls.class_id === classId) Object.assign(state.cls, { positives, negatives });
  renderClasses();
}

async function deleteClass(c) {
  if (!confirm(`Delete the class “${c.name}” and all its marks?`)) return;
  await busy(async () => {
    await api("DELETE", `/v1/classes/${c.class_id}`);
    state.classes = state.classes.filter((x) => x.class_id !== c.class_id);
    if (state.cls && state.cls.class_id === c.class_id) selectClass(null);
    renderClasses();
    toast(`Class “${c.name}” deleted`, "info");
  });
}

/** Ask for a name in the dialog; resolves to the name or null. */
function askClassName(what) {
  const dlg = $("new-class");
  $("new-class-what").textContent = what;
  const input = $("new-class-name");
  input.value = "";
  dlg.showModal();
  input.focus();
  return new Promise((resolve) => {
    const form = $("new-class-form");
    const done = (value) => {
      form.removeEventListener("submit", onSubmit);
      $("new-class-cancel").removeEventListener("click", onCancel);
      dlg.removeEventListener("cancel", onCancel);
      if (dlg.open) dlg.close();
      resolve(value);
    };
    const onSubmit = (ev) => {
      ev.preventDefault();
      const name = input.value.trim();
      if (name) done(name);
    };
    const onCancel = (ev) => {
      ev.preventDefault();
      done(null);
    };
    form.addEventListener("submit", onSubmit);
    $("new-class-cancel").addEventListener("click", onCancel);
    dlg.addEventListener("cancel", onCancel);
  });
}

async function createClass(itemIds) {
  if (!state.collection) return toast("No collection to teach a class on");
  const n = itemIds.length;
  const name = await askClassName(
    n === 1 ? "From this image, in " + state.collection : `From ${n} images, in ${state.collection}`,
  );
  if (!name) return;
  await busy(async () => {
    const c = await api("POST", "/v1/classes", {
      name,
      collection: state.collection,
      item_ids: itemIds,
    });
    state.classes = [c, ...state.classes.filter((x) => x.class_id !== c.class_id)];
    toast(`Class “${c.name}” created`, "info");
    clearSelection();
    selectClass(c);
    for (const id of itemIds) state.labels.set(id, 1);
    await nextRound("search");
  });
}

async function createClassFromQuery() {
  const file = state.queryFiles[0];
  if (!file) return;
  const name = await askClassName(`From the query image ${file.name}`);
  if (!name) return;
  await busy(async () => {
    const form = new FormData();
    form.append("image", file);
    form.append("name", name);
    form.append("collection", state.collection);
    const c = await api("POST", "/v1/classes/from-image", form);
    state.classes = [c, ...state.classes];
    toast(`Class “${c.name}” created`, "info");
    selectClass(c);
    await nextRound("search");
  });
}

async function addToClass(c, itemIds) {
  await busy(async () => {
    const r = await api("POST", `/v1/classes/${c.class_id}/labels`, { positive: itemIds });
    updateClassCounts(c.class_id, r.positives, r.negatives);
    if (state.cls && state.cls.class_id === c.class_id) {
      for (const id of itemIds) {
        state.labels.set(id, 1);
        paintCard(id);
      }
    }
    toast(`Added ${itemIds.length} image${itemIds.length > 1 ? "s" : ""} to “${c.name}”`, "info");
  });
}

// ---------------------------------------------------------------- marks

/** Mark `ids` positive (1) or negative (-1) in the current class; same mark again = unmark. */
async function mark(ids, value, { toggle = false } = {}) {
  const c = state.cls;
  if (!c) return toast("Pick a class in My Classes, or create one from an image, to mark images");
  if (!ids.length) return toast("Select images first, or point at one", "info");
  const unmark = toggle && ids.every((id) => state.labels.get(id) === value);
  const before = new Map(ids.map((id) => [id, state.labels.get(id)]));
  for (const id of ids) {
    if (unmark) state.labels.delete(id);
    else state.labels.set(id, value);
    paintCard(id);
  }
  const body = unmark
    ? { unlabel: ids }
    : value > 0
      ? { positive: ids }
      : { negative: ids };
  if (!unmark && $("s-spread").checked) {
    // On by default: a keyframe's mark goes to its shot (bounded by the Temporal Range if set).
    const range = settings().temporal_range;
    body.spread_range = range > 0 ? range : 3600;
  }
  try {
    const r = await api("POST", `/v1/classes/${c.class_id}/labels`, body);
    updateClassCounts(c.class_id, r.positives, r.negatives);
  } catch (err) {
    for (const [id, v] of before) {
      if (v === undefined) state.labels.delete(id);
      else state.labels.set(id, v);
      paintCard(id);
    }
    showError(err);
  }
}

function targetIds() {
  if (state.selection.size) return [...state.selection];
  const id = state.hover ?? state.lastClicked;
  return id == null ? [] : [id];
}

// ---------------------------------------------------------------- rounds and searches

async function nextRound(mode = state.mode) {
  state.mode = mode;
  renderCurrentClass();
  const c = state.cls;
  if (!c) {
    toast("Create a class from an image (or pick one in My Classes) to run rounds", "info");
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
    $("query-info").replaceChildren(`${MODE_LABEL[r.mode] || r.mode} page of “${r.class_name}”`);
    showResults(r.page, { round: true });
  });
}

function searchDone(seq, data, what) {
  if (seq !== state.seq) return;
  $("query-info").replaceChildren(...(Array.isArray(what) ? what : [what]));
  showResults(data.results, { round: false });
}

async function searchImages(files) {
  files = [...files].filter((f) => f.type.startsWith("image/") || /\.(jpe?g|png|webp|gif|bmp|tiff?)$/i.test(f.name));
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
    ]);
  });
}

async function searchText(text) {
  text = text.trim();
  if (!text) return;
  if (!state.collection) return toast("No collection to search");
  const seq = ++state.seq;
  await busy(async () => {
    const data = await api(
      "POST",
      `/v1/collections/${encodeURIComponent(state.collection)}/search/text`,
      { text, k: settings().page_size },
    );
    searchDone(seq, data, `Text: “${text}”`);
  });
}

async function searchSimilar(ids) {
  if (!state.collection || !ids.length) return;
  const s = settings();
  const seq = ++state.seq;
  const negatives = state.cls ? [...state.labels].filter(([, v]) => v < 0).map(([id]) => id) : [];
  await busy(async () => {
    const data = await api(
      "POST",
      `/v1/collections/${encodeURIComponent(state.collection)}/search`,
      { item_ids: ids, negative_item_ids: negatives, k: s.page_size, temporal_range: s.temporal_range },
    );
    searchDone(seq, data, ids.length === 1 ? `Similar to image ${ids[0]}` : `Similar to ${ids.length} images`);
  });
}

// ---------------------------------------------------------------- grid

function resetResults() {
  state.results = [];
  state.cards.clear();
  state.selection.clear();
  state.hover = state.lastClicked = state.anchor = null;
  $("grid").replaceChildren();
  $("empty").hidden = false;
  $("query-info").textContent = "";
  renderSelection();
}

function showResults(items, { round }) {
  closeMenu();
  state.results = items;
  state.cards.clear();
  // The selection survives only for the images still shown.
  const shown = new Set(items.map((i) => i.item_id));
  for (const id of [...state.selection]) if (!shown.has(id)) state.selection.delete(id);
  if (!shown.has(state.hover)) state.hover = null;
  if (!shown.has(state.lastClicked)) state.lastClicked = null;
  const frag = document.createDocumentFragment();
  items.forEach((item, index) => {
    const card = makeCard(item, index, round);
    state.cards.set(item.item_id, card);
    frag.append(card);
  });
  const grid = $("grid");
  grid.replaceChildren(frag);
  grid.classList.toggle("is-round", round);
  $("empty").hidden = items.length > 0;
  if (!items.length) toast("No result", "info");
  for (const id of state.cards.keys()) paintCard(id);
  renderSelection();
  window.scrollTo({ top: 0 });
}

function fmtTime(t) {
  const m = Math.floor(t / 60);
  const s = t - m * 60;
  return `${m}:${s.toFixed(1).padStart(4, "0")}`;
}

function baseName(path) {
  return String(path || "").split(/[\\/]/).pop();
}

function makeCard(item, index, round) {
  const id = item.item_id;
  const name = baseName(item.path) || `item ${id}`;
  const time = item.time ?? item.video_time;
  const original = item.original_url || `/v1/items/${id}/original`;
  const thumb = item.thumbnail_url || `/v1/items/${id}/thumbnail`;
  const score = Number(item.score);
  const prob = item.probability ?? (round ? null : Math.max(0, Math.min(1, score)));
  // As in Snoop, a round shows the class score in [0, 1] (the model's probability); the raw
  // decision value (> 0: positive) is in the tooltip. A search shows the cosine similarity.
  const shown = round && item.probability != null ? Number(item.probability) : score;
  const shownTitle = round
    ? `Probability of the class (decision value ${score.toFixed(3)}; model says ${item.verdict || "?"})`
    : "Cosine similarity to the query";
  const card = h(
    "div",
    {
      class: "card",
      role: "listitem",
      testid: "card",
      dataset: { itemId: id, index },
      onmouseenter: () => (state.hover = id),
      onmouseleave: () => state.hover === id && (state.hover = null),
      onfocusin: () => (state.hover = id),
    },
    h(
      "button",
      {
        type: "button",
        class: "thumb",
        "aria-pressed": "false",
        "aria-label": `Select ${name}`,
        title: `${name} — click to select, Shift-click for a range`,
        testid: "card-select",
        onclick: (ev) => onCardClick(ev, id),
      },
      h("img", { src: thumb, alt: name, loading: "lazy", draggable: "false" }),
      h("span", { class: "check", "aria-hidden": "true" }, "✓"),
      h("span", { class: "mark-badge", "aria-hidden": "true" }),
      item.verdict && (state.mode === "classify_random" || state.mode === "refine") && round
        ? h("span", { class: `verdict verdict-${item.verdict}`, title: "The model's verdict" }, item.verdict === "positive" ? "model: yes" : "model: no")
        : null,
    ),
    h(
      "div",
      { class: "meta" },
      h("span", { class: "score", testid: "score", title: shownTitle }, `Score: ${shown.toFixed(4)}`),
      prob == null ? null : h("span", { class: "bar", "aria-hidden": "true" }, h("span", { style: `width:${(prob * 100).toFixed(1)}%` })),
    ),
    time == null
      ? null
      : h(
          "div",
          { class: "video-meta" },
          h(
            "span",
            { testid: "timestamp", title: `${baseName(item.video || item.path)}${item.shot != null ? `, shot ${item.shot}` : ""}` },
            `◷ ${fmtTime(Number(time))}`,
            item.folded ? h("span", { class: "folded", title: "Nearby keyframes of the same video folded into this one (Temporal Range)" }, ` +${item.folded}`) : null,
          ),
          h(
            "a",
            { href: `${original}#t=${Number(time).toFixed(2)}`, target: "_blank", rel: "noopener", testid: "play", class: "play" },
            "▶ play",
          ),
        ),
    h(
      "div",
      { class: "actions" },
      h(
        "span",
        { class: "setpn", role: "group", "aria-label": "Set positive or negative", title: "Set positive or negative" },
        h("button", { type: "button", class: "pn pos", "aria-pressed": "false", "aria-label": `Set ${name} positive`, testid: "set-positive", onclick: () => mark([id], 1, { toggle: true }) }, "+"),
        h("button", { type: "button", class: "pn neg", "aria-pressed": "false", "aria-label": `Set ${name} negative`, testid: "set-negative", onclick: () => mark([id], -1, { toggle: true }) }, "−"),
      ),
      h("button", { type: "button", class: "icon", "aria-label": `Search images similar to ${name}`, title: "Search similar", testid: "search-similar", onclick: () => searchSimilar([id]) }, "⌕"),
      h("button", { type: "button", class: "icon", "aria-label": `More actions on ${name}`, "aria-haspopup": "menu", title: "Create class, add to class, open", testid: "card-more", onclick: (ev) => openMenu(ev.currentTarget, item) }, "⋯"),
    ),
  );
  return card;
}

function paintCard(id) {
  const card = state.cards.get(id);
  if (!card) return;
  const v = state.cls ? state.labels.get(id) : undefined;
  const selected = state.selection.has(id);
  card.classList.toggle("is-pos", v === 1);
  card.classList.toggle("is-neg", v === -1);
  card.classList.toggle("is-selected", selected);
  card.querySelector(".thumb").setAttribute("aria-pressed", String(selected));
  card.querySelector(".pn.pos").setAttribute("aria-pressed", String(v === 1));
  card.querySelector(".pn.neg").setAttribute("aria-pressed", String(v === -1));
  card.querySelector(".mark-badge").textContent = v === 1 ? "+" : v === -1 ? "−" : "";
}

function onCardClick(ev, id) {
  closeMenu();
  const ids = state.results.map((i) => i.item_id);
  if (ev.shiftKey && state.anchor != null && ids.includes(state.anchor)) {
    const [a, b] = [ids.indexOf(state.anchor), ids.indexOf(id)].sort((x, y) => x - y);
    for (const x of ids.slice(a, b + 1)) state.selection.add(x);
  } else {
    if (state.selection.has(id)) state.selection.delete(id);
    else state.selection.add(id);
    state.anchor = id;
  }
  state.lastClicked = id;
  for (const x of ids) paintCard(x);
  renderSelection();
}

function clearSelection() {
  const was = [...state.selection];
  state.selection.clear();
  for (const id of was) paintCard(id);
  renderSelection();
}

function renderSelection() {
  const n = state.selection.size;
  $("sel-count").textContent = String(n);
  $("sel-clear").disabled = n === 0;
  $("sel-new-class").disabled = n === 0;
  $("mark-pos").disabled = n === 0;
  $("mark-neg").disabled = n === 0;
}

// ---------------------------------------------------------------- per-image menu

function closeMenu() {
  const m = $("card-menu");
  if (!m.hidden) {
    m.hidden = true;
    m.replaceChildren();
  }
}

function openMenu(anchor, item) {
  const m = $("card-menu");
  if (!m.hidden && m.dataset.itemId === String(item.item_id)) return closeMenu();
  const id = item.item_id;
  const run = (fn) => () => {
    closeMenu();
    fn();
  };
  const others = state.classes.filter((c) => c.collection === state.collection);
  m.dataset.itemId = id;
  m.replaceChildren(
    h("button", { type: "button", role: "menuitem", testid: "create-class", onclick: run(() => createClass([id])) }, "Create class from this image"),
    h("button", { type: "button", role: "menuitem", testid: "menu-search-similar", onclick: run(() => searchSimilar([id])) }, "Search similar"),
    h("div", { class: "menu-h" }, "Existing classes"),
    others.length
      ? others.map((c) =>
          h(
            "button",
            { type: "button", role: "menuitem", testid: "add-to-class", dataset: { classId: c.class_id }, onclick: run(() => addToClass(c, [id])) },
            `Add image to existing class “${c.name}”`,
          ),
        )
      : h("div", { class: "menu-empty" }, "none yet"),
    h("div", { class: "menu-sep" }),
    h("a", { role: "menuitem", href: item.original_url || `/v1/items/${id}/original`, target: "_blank", rel: "noopener" }, "Open original"),
  );
  m.hidden = false;
  const r = anchor.getBoundingClientRect();
  const w = m.offsetWidth;
  const hgt = m.offsetHeight;
  m.style.left = `${Math.max(8, Math.min(window.innerWidth - w - 8, r.right - w)) + window.scrollX}px`;
  const below = r.bottom + 4;
  m.style.top = `${(below + hgt > window.innerHeight ? r.top - hgt - 4 : below) + window.scrollY}px`;
  m.querySelector("button")?.focus();
}

// ---------------------------------------------------------------- keyboard, drop

const NOT_TYPED = new Set(["range", "checkbox", "radio", "button", "submit", "reset", "file", "color"]);

function isTyping(el) {
  if (!el) return false;
  if (el.tagName === "INPUT") return !NOT_TYPED.has(el.type);
  return el.isContentEditable || /^(TEXTAREA|SELECT)$/.test(el.tagName);
}

function onKey(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (document.querySelector("dialog[open]")) return;
  if (!$("login").hidden) return;
  if (ev.key === "Escape") {
    closeMenu();
    clearSelection();
    return;
  }
  if (isTyping(ev.target)) return;
  const key = ev.key;
  if (key === "?") {
    ev.preventDefault();
    $("help").showModal();
  } else if (key === "p" || key === "n") {
    ev.preventDefault();
    mark(targetIds(), key === "p" ? 1 : -1);
  } else if (key === "x") {
    const id = state.hover ?? state.lastClicked;
    if (id != null) onCardClick({ shiftKey: false }, id);
  } else if (key === " " || key === "Enter") {
    // Buttons and links outside the grid keep their own meaning of Space and Enter.
    const t = ev.target.closest ? ev.target.closest("button, a, [role=menu]") : null;
    if (t && !t.closest("#grid")) return;
    ev.preventDefault();
    nextRound();
  } else if (/^[1-6]$/.test(key)) {
    ev.preventDefault();
    nextRound(MODES[Number(key) - 1][0]);
  }
}

function hasFiles(ev) {
  return ev.dataTransfer && [...ev.dataTransfer.types].includes("Files");
}

function initDrop() {
  let depth = 0;
  const overlay = $("drop-overlay");
  window.addEventListener("dragenter", (ev) => {
    if (!hasFiles(ev) || $("app").hidden) return;
    depth += 1;
    overlay.hidden = false;
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.hidden = true;
  });
  window.addEventListener("dragover", (ev) => {
    if (hasFiles(ev)) ev.preventDefault();
  });
  window.addEventListener("drop", (ev) => {
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    depth = 0;
    overlay.hidden = true;
    if (!$("app").hidden) searchImages(ev.dataTransfer.files);
  });
}

// ---------------------------------------------------------------- wiring

function init() {
  $("modes").replaceChildren(
    ...MODES.map(([mode, label], i) =>
      h(
        "button",
        {
          type: "button",
          class: "mode",
          "aria-pressed": String(mode === state.mode),
          dataset: { mode },
          testid: `mode-${mode}`,
          title: `${label} (${i + 1})`,
          onclick: () => nextRound(mode),
        },
        h("kbd", { "aria-hidden": "true" }, String(i + 1)),
        " ",
        label,
      ),
    ),
  );
  initSettings();
  initDrop();
  document.querySelector('[data-testid="login-form"]').addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  $("collection").addEventListener("change", (ev) => setCollection(ev.target.value));
  $("text-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    searchText($("text-query").value);
  });
  $("upload").addEventListener("change", (ev) => {
    const files = [...ev.target.files];
    ev.target.value = "";
    if (files.length) searchImages(files);
  });
  $("help-btn").addEventListener("click", () => $("help").showModal());
  $("next-round").addEventListener("click", () => nextRound());
  $("sel-clear").addEventListener("click", clearSelection);
  $("mark-pos").addEventListener("click", () => mark([...state.selection], 1));
  $("mark-neg").addEventListener("click", () => mark([...state.selection], -1));
  $("sel-new-class").addEventListener("click", () => createClass([...state.selection]));
  document.addEventListener("keydown", onKey);
  document.addEventListener("click", (ev) => {
    if (!ev.target.closest("#card-menu, [data-testid=card-more]")) closeMenu();
    // A mouse click must not leave a toolbar button focused: Space would click it again
    // instead of running the next round in the current mode.
    const b = ev.target.closest(".modebar button, .selbar button");
    if (b && ev.detail > 0) b.blur();
  });
  quotaListeners.push((r, q) => {
    $("quota").textContent = q ? `${r} / ${q} today` : `${r} left today`;
  });
  authListeners.push(() => {
    if (state.me) {
      state.me = null;
      showLogin("Your session has ended: log in again.");
    }
  });
  window.addEventListener("error", (ev) => toast(`Unexpected error: ${ev.message}`));
  window.addEventListener("unhandledrejection", (ev) => showError(ev.reason));
  renderSelection();
  renderCurrentClass();
  start();
}

init();
