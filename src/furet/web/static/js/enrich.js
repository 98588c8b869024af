// Mass enrichment: the Enrich dialog of a class (collection, calibrated precision, threshold
// or top N), the job's progress while it runs on the server, then its tags as a result grid
// ranked by score with their count, paged, with export downloads; tag counts per class; the
// classes that tag one image (the detail view).
import { api, h, toast } from "../api.js";
import { busy } from "./busy.js";
import { showResults } from "./grid.js";
import { settings } from "./settings.js";
import { $, plural, state } from "./state.js";

const RUNNING = new Set(["queued", "running"]);
const POLL_MS = 300;
const FORMATS = [
  ["csv", "CSV"],
  ["jsonl", "JSON Lines"],
  ["parquet", "Parquet"],
];

/** class_id -> [tag summary per collection] (GET /v1/collections/{name}/tags/counts). */
const tagCounts = new Map();
let job = null; // the enrichment followed in the status bar
let pollTimer = null;
let view = null; // the tags on the grid: {c, collection, offset, total}

const fmt = (x, digits = 2) => (x == null ? "?" : Number(x).toFixed(digits));

function summaryOf(c, collection = c.collection) {
  return (tagCounts.get(c.class_id) || []).find((s) => s.collection === collection) || null;
}

function describe(s) {
  const est = s.estimated_precision == null ? "" : `, estimated precision ${fmt(s.estimated_precision)}`;
  const stale = s.up_to_date === false ? " (new images since: enrich again to tag them)" : "";
  return `${plural(s.tags, "image")} tagged in ${s.collection} (version ${s.version}, threshold ${fmt(s.threshold, 3)}${est})${stale}`;
}

/** The tag count of every readable class, per collection (counts per class). */
export async function refreshTagCounts() {
  const names = state.collections.map((c) => c.name);
  const lists = await Promise.all(
    names.map((n) => api("GET", `/v1/collections/${encodeURIComponent(n)}/tags/counts`).catch(() => [])),
  );
  tagCounts.clear();
  for (const list of lists) {
    for (const s of list) {
      if (!tagCounts.has(s.class_id)) tagCounts.set(s.class_id, []);
      tagCounts.get(s.class_id).push(s);
    }
  }
  document.dispatchEvent(new CustomEvent("furet:tags"));
}

/** " · 12 tags" after a class in My Classes, when it has tags in its collection. */
export function tagCountBadge(c) {
  const s = summaryOf(c);
  if (!s) return null;
  return h("span", { class: "tag-count", testid: "class-tag-count", title: describe(s) }, ` · ${plural(s.tags, "tag")}`);
}

/** The class bar's Enrich and Tags buttons. */
export function renderEnrichButtons() {
  const c = state.cls;
  $("class-enrich").hidden = !c;
  const s = c ? summaryOf(c, state.collection) || summaryOf(c) : null;
  $("class-tags").hidden = !s;
  if (s) {
    $("class-tags").textContent = `Tags (${s.tags})`;
    $("class-tags").title = `Show the tags: ${describe(s)}`;
  }
}

// ---------------------------------------------------------------- the dialog

function ruleBody() {
  const rule = document.querySelector("#enrich-form input[name=rule]:checked").value;
  if (rule === "precision") return { precision: Number($("enrich-precision").value) };
  if (rule === "threshold") return { threshold: Number($("enrich-threshold").value) };
  return { top: Math.round(Number($("enrich-top").value)) };
}

export function openEnrich(c = state.cls) {
  if (!c) return;
  const dlg = $("enrich-dialog");
  $("enrich-h").textContent = `Enrich with “${c.name}”${c.owner && state.me && c.owner !== state.me.name ? ` (${c.owner})` : ""}`;
  const sel = $("enrich-collection");
  sel.replaceChildren(...state.collections.map((x) => h("option", { value: x.name }, `${x.name} (${x.items} items)`)));
  sel.value = c.collection;
  const current = () => {
    const s = summaryOf(c, sel.value);
    $("enrich-current").textContent = s ? `Now: ${describe(s)}.` : `No tags in ${sel.value} yet.`;
  };
  sel.onchange = current;
  current();
  $("enrich-dialog-cancel").onclick = () => dlg.close();
  $("enrich-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const body = { class_ids: [c.class_id], collection: sel.value, ...ruleBody() };
    const started = await busy(() => api("POST", "/v1/enrichments", body));
    if (!started) return; // the toast says why (e.g. too few marks to calibrate)
    dlg.close();
    follow(started, { show: true });
  };
  dlg.showModal();
}

// ---------------------------------------------------------------- the job's progress

function renderJob(j, note = "") {
  const bar = $("enrich-status");
  bar.hidden = false;
  bar.dataset.state = j.state;
  const names = j.classes.map((c) => `“${c.name}”`).join(", ");
  const p = j.progress || {};
  const pct = Math.round(100 * (p.fraction || 0));
  const states = {
    queued: `Enrichment of ${j.collection} with ${names}: queued`,
    running: `Enriching ${j.collection} with ${names}: ${pct}%${p.total ? ` (${p.done} / ${p.total} items)` : ""}`,
    done: `Enriched ${j.collection} with ${names}`,
    failed: `Enrichment with ${names} failed`,
    cancelled: `Enrichment with ${names} cancelled (what it tagged stays; start it again to resume)`,
    interrupted: `Enrichment with ${names} interrupted (start it again to resume)`,
  };
  $("enrich-state").textContent = states[j.state] || j.state;
  const prog = $("enrich-progress");
  prog.value = j.state === "done" ? 1 : p.fraction || 0;
  prog.hidden = !RUNNING.has(j.state) && j.state !== "done";
  $("enrich-cancel").hidden = !RUNNING.has(j.state);
  $("enrich-show").hidden = j.state !== "done";
  let summary = note;
  if (j.state === "done") {
    summary = j.classes
      .map((c) => {
        const est = c.estimated_precision == null ? "" : `, estimated precision ${fmt(c.estimated_precision)}`;
        return `${c.name}: ${plural(c.tags ?? 0, "tag")} (threshold ${fmt(c.threshold, 3)}${est})${c.warning ? ` — ${c.warning}` : ""}`;
      })
      .join(" · ");
  } else if (j.state === "failed") {
    summary = j.error || "";
  }
  $("enrich-summary").textContent = summary;
}

/** Follow `j` in the status bar until it ends; `show`: then show its first class's tags. */
export function follow(j, { show = false } = {}) {
  job = j;
  clearTimeout(pollTimer);
  const seq = state.seq;
  renderJob(j);
  const tick = async () => {
    if (job !== j) return;
    let now;
    try {
      now = await api("GET", `/v1/enrichments/${j.enrichment_id}`);
    } catch (err) {
      renderJob(j, `lost track of it: ${err.detail || err}`);
      return;
    }
    if (job !== j) return;
    j = job = now;
    renderJob(now);
    if (RUNNING.has(now.state)) {
      pollTimer = setTimeout(tick, POLL_MS);
      return;
    }
    if (now.state !== "done") return;
    await refreshTagCounts();
    // The tags take the grid unless the user has searched meanwhile.
    if (show && seq === state.seq) showJobTags(now);
    else toast(`Enrichment done: ${now.classes.map((c) => `${c.name} ${plural(c.tags ?? 0, "tag")}`).join(", ")}`, "info");
  };
  if (RUNNING.has(j.state)) pollTimer = setTimeout(tick, POLL_MS);
  else tick();
}

function showJobTags(j) {
  const first = j.classes[0];
  const c = state.classes.find((x) => x.class_id === first.class_id) || { ...first, collection: j.collection };
  showTags(c, j.collection);
}

/** A job of mine still running when the page was (re)loaded: follow it. */
export async function resumeJobs() {
  const jobs = await api("GET", "/v1/enrichments?limit=1").catch(() => []);
  if (jobs.length && RUNNING.has(jobs[0].state)) follow(jobs[0]);
}

async function cancelJob() {
  if (!job) return;
  const j = job;
  await busy(async () => {
    renderJob(await api("POST", `/v1/enrichments/${j.enrichment_id}/cancel`));
  });
}

// ---------------------------------------------------------------- the tags as a result grid

/** Show the tags of class `c` in `collection`, best first, one page from `offset`. */
export async function showTags(c, collection = c.collection, offset = 0) {
  const limit = settings().page_size;
  const seq = ++state.seq;
  await busy(async () => {
    const q = new URLSearchParams({ collection, offset: String(offset), limit: String(limit) });
    const page = await api("GET", `/v1/classes/${c.class_id}/tags?${q}`);
    if (seq !== state.seq) return;
    if (collection !== state.collection && state.collections.some((x) => x.name === collection)) {
      state.collection = collection;
      $("collection").value = collection;
    }
    const { items, ...meta } = page;
    showResults(items, { ...meta, mode: "tags", score_kind: "tags", class_name: c.name });
    view = { c, collection, offset, total: page.total, limit };
    renderTagsBar(page);
    $("query-info").replaceChildren(`Tags of “${c.name}” · ranked by score`);
    $("result-count").textContent = `Tagged: ${plural(page.total, "image")}`;
  });
}

function renderTagsBar(page) {
  const { c, collection, offset, total, limit } = view;
  $("tags-bar").hidden = false;
  const est = page.estimated_precision == null ? "" : ` · estimated precision ${fmt(page.estimated_precision)}`;
  $("tags-title").replaceChildren(
    h("strong", { testid: "tags-class" }, `“${page.name}”`),
    ` by ${page.owner} in ${collection}: `,
    h("strong", { testid: "tags-count" }, plural(total, "image")),
    ` tagged · threshold ${fmt(page.threshold, 3)}${est} · version ${page.version}`,
    ...(page.up_to_date === false ? [h("span", { class: "stale", title: "Images were added since: enrich again to tag them" }, " · not up to date")] : []),
  );
  $("tags-range").textContent = total ? `${offset + 1}–${Math.min(offset + limit, total)} of ${total}` : "none";
  $("tags-prev").disabled = offset <= 0;
  $("tags-next").disabled = offset + limit >= total;
  const base = `/v1/classes/${c.class_id}/tags/export`;
  $("tags-export").replaceChildren(
    ...FORMATS.map(([f, label]) =>
      h(
        "a",
        {
          class: "button small-btn",
          href: `${base}?${new URLSearchParams({ collection, format: f })}`,
          download: `${page.name}-tags.${f}`,
          testid: `tags-export-${f}`,
          title: `Download the ${total} tags as ${label}, with file paths (and video segments)`,
        },
        label,
      ),
    ),
  );
}

/** Any other grid (a search, a round) takes the tags bar away. */
function onResults(ev) {
  if (!ev.detail || ev.detail.score_kind !== "tags") {
    $("tags-bar").hidden = true;
    view = null;
  }
}

// ---------------------------------------------------------------- one image's classes

/** Fill the detail view's "Classes (from tags)" with the classes that tag `itemId`. */
export async function loadItemTags(itemId, isShown, onPick) {
  const box = $("detail-tags");
  box.replaceChildren(h("div", { class: "menu-h" }, "Classes (from tags)"), h("span", { class: "muted small" }, "…"));
  let tags;
  try {
    tags = await api("GET", `/v1/items/${itemId}/tags`);
  } catch {
    tags = null;
  }
  if (!isShown()) return;
  const list = tags && tags.length
    ? h(
        "ul",
        { class: "item-tags" },
        ...tags.map((t) => {
          const c = state.classes.find((x) => x.class_id === t.class_id);
          const label = `${t.name}${t.owner && state.me && t.owner !== state.me.name ? ` (${t.owner})` : ""}`;
          const conf = t.confidence == null ? `probability ${fmt(t.probability)}` : `confidence ${fmt(t.confidence)}`;
          return h(
            "li",
            { testid: "detail-tag", dataset: { classId: t.class_id } },
            c ? h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); onPick(c); } }, label) : h("strong", {}, label),
            h("span", { class: "muted small" }, ` score ${fmt(t.score, 3)} · ${conf}`),
          );
        }),
      )
    : h("span", { class: "muted small", testid: "detail-no-tags" }, tags ? "No class tags this image (enrich a class to tag it)." : "Tags unavailable.");
  box.replaceChildren(h("div", { class: "menu-h" }, "Classes (from tags)"), list);
}

export function initEnrich() {
  $("class-enrich").addEventListener("click", () => openEnrich());
  $("class-tags").addEventListener("click", () => {
    const c = state.cls;
    if (!c) return;
    const s = summaryOf(c, state.collection) || summaryOf(c);
    showTags(c, s ? s.collection : c.collection);
  });
  $("enrich-cancel").addEventListener("click", cancelJob);
  $("enrich-show").addEventListener("click", () => job && showJobTags(job));
  $("enrich-close").addEventListener("click", () => {
    $("enrich-status").hidden = true;
  });
  $("tags-prev").addEventListener("click", () => view && showTags(view.c, view.collection, Math.max(0, view.offset - view.limit)));
  $("tags-next").addEventListener("click", () => view && showTags(view.c, view.collection, view.offset + view.limit));
  document.addEventListener("furet:results", onResults);
}
