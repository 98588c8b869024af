// Model discovery: the classes other users and institutions made (shared with my groups, or
// public) that fire on an image, an item, or that resemble one of my classes, ranked, each
// with its owner, groups and evidence, and one click to use it or fork it.
import { api, h } from "../api.js";
import { busy } from "./busy.js";
import { addForked, reloadClasses, selectClass } from "./classes.js";
import { RIGHT_HELP, forkClass, sharedWith } from "./sharing.js";
import { $, baseName, state } from "./state.js";

const fmt = (x, digits = 2) => (x == null ? "?" : Number(x).toFixed(digits));
const pct = (x) => `${Math.round(100 * Number(x))}%`;

let last = null; // {title, fetch}: what the dialog shows, to ask again with "include mine"

/** Make the class with `ref.class_id` the current class ("use"), fetching My Classes if new. */
export async function useClass(ref) {
  let c = state.classes.find((x) => x.class_id === ref.class_id);
  if (!c) {
    await reloadClasses();
    c = state.classes.find((x) => x.class_id === ref.class_id);
  }
  if (c) selectClass(c);
}

/** The buttons of a class found elsewhere: Use it, Fork it (when it is not mine). */
export function classActions(ref, after = () => {}) {
  const actions = ref.actions || ["use"];
  return h(
    "span",
    { class: "found-actions" },
    h(
      "button",
      {
        type: "button",
        class: "small-btn",
        testid: "found-use",
        title: `Use ${ref.owner}/${ref.name}: make it the current class (${RIGHT_HELP[ref.right] || ref.right})`,
        onclick: async () => {
          after();
          await useClass(ref);
        },
      },
      "Use",
    ),
    actions.includes("fork")
      ? h(
          "button",
          {
            type: "button",
            class: "small-btn primary",
            testid: "found-fork",
            title: `Fork ${ref.owner}/${ref.name}: copy its marks and model into your classes`,
            onclick: async () => {
              after();
              await forkClass(ref, addForked);
            },
          },
          "Fork",
        )
      : null,
  );
}

function evidenceText(ev) {
  if (!ev) return "";
  if ("fires" in ev) {
    const marked = ev.marked_positive ? " · its owner marked this very image positive" : "";
    return (
      `${ev.fires ? "fires" : "does not fire"}: probability ${fmt(ev.probability)}, ` +
      `scores it above ${pct(ev.percentile)} of its collection${marked}`
    );
  }
  const parts = [
    `its model on my positives ${fmt(ev.theirs_on_mine)}`,
    `mine on its positives ${fmt(ev.mine_on_theirs)}`,
    `weight cosine ${fmt(ev.weight_cosine)}`,
  ];
  if (ev.top_overlap != null) parts.push(`top-${ev.top_k} overlap ${pct(ev.top_overlap)}`);
  if (ev.shared_positives != null) parts.push(`${ev.shared_positives} positives in common`);
  return parts.join(" · ");
}

function thumbs(items, title) {
  if (!items || !items.length) return null;
  return h(
    "span",
    { class: "found-similar", title },
    ...items.map((it) =>
      h("img", {
        src: it.thumbnail_url || `/v1/items/${it.item_id}/thumbnail`,
        alt: baseName(it.path) || `item ${it.item_id}`,
        title: `${baseName(it.path)}${it.score != null ? ` (similarity ${fmt(it.score)})` : ""}`,
        loading: "lazy",
      }),
    ),
  );
}

function foundItem(f, rank) {
  const close = () => $("discover-dialog").close();
  const sharing = sharedWith(f);
  return h(
    "li",
    { class: "found", testid: "found", dataset: { classId: f.class_id } },
    h(
      "div",
      { class: "found-head" },
      h("span", { class: "found-rank" }, `${rank}.`),
      h("strong", { testid: "found-name" }, f.name),
      h("span", { testid: "found-owner" }, f.mine ? "mine" : `by ${f.owner}`),
      h("span", { class: `vis vis-${f.public ? "public" : "groups"}`, testid: "found-sharing", title: "Shared with" }, sharing),
      h("span", { class: `right right-${f.right}`, testid: "found-right", title: RIGHT_HELP[f.right] }, f.right),
      h("span", { class: "muted small" }, `${f.collection} · version ${f.version}`),
      h("span", { class: "spacer" }),
      h("span", { class: "found-score", testid: "found-score", title: "Ranking score: how far above its usual scores this class puts the query (standardised)" }, `score ${fmt(f.score)}`),
    ),
    h("div", { class: "found-evidence small", testid: "found-evidence" }, evidenceText(f.evidence)),
    h(
      "div",
      { class: "found-foot" },
      thumbs(f.similar, "Its positive images most similar to the query"),
      f.evidence && f.evidence.shared_top ? thumbs(f.evidence.shared_top, "Images in both top lists") : null,
      h("span", { class: "spacer" }),
      classActions(f, close),
    ),
  );
}

function skippedText(skipped) {
  const why = {
    untrained: "without a trained model",
    without_positives: "without positives",
    other_space: "in another embedding space",
    model_unavailable: "whose model could not be loaded",
  };
  const parts = Object.entries(skipped || {}).map(([k, n]) => `${n} ${why[k] || k}`);
  return parts.length ? ` (not compared: ${parts.join(", ")})` : "";
}

function renderDiscovery(title, data) {
  $("discover-h").textContent = title;
  const list = $("discover-results");
  list.replaceChildren(...data.results.map((f, i) => foundItem(f, i + 1)));
  $("discover-note").textContent =
    (data.results.length
      ? `${data.results.length} of ${data.compared} classes compared, best first`
      : `No class of other users fires here (${data.compared} compared)`) + skippedText(data.skipped);
}

async function discover(title, fetch) {
  last = { title, fetch };
  const data = await busy(() => fetch($("discover-mine").checked));
  if (!data) return;
  renderDiscovery(title, data);
  const dlg = $("discover-dialog");
  if (!dlg.open) dlg.showModal();
}

const mineQuery = (mine, more = {}) => new URLSearchParams({ include_mine: String(mine), ...more });

/** The shared and public classes that fire on item `item` of the collection. */
export function discoverItem(item) {
  const name = baseName(item.path) || `item ${item.item_id}`;
  return discover(`Classes that fire on ${name}`, (mine) =>
    api("GET", `/v1/discovery/items/${item.item_id}?${mineQuery(mine)}`),
  );
}

/** The same for uploaded images (the query of a search by image). */
export function discoverImages(files) {
  const label = files.length === 1 ? files[0].name : `${files.length} images`;
  return discover(`Classes that fire on ${label}`, (mine) => {
    const form = new FormData();
    for (const f of files) form.append("images", f, f.name);
    const more = state.collection ? { collection: state.collection } : {};
    return api("POST", `/v1/discovery/image?${mineQuery(mine, more)}`, form);
  });
}

/** The classes of others that resemble class `c` (it needs a model: a round). */
export function discoverSimilar(c = state.cls) {
  if (!c) return undefined;
  return discover(`Classes like “${c.name}”`, (mine) =>
    api("GET", `/v1/classes/${c.class_id}/similar?${mineQuery(mine)}`),
  );
}

export function initDiscover() {
  $("discover-mine").addEventListener("change", () => last && discover(last.title, last.fetch));
  $("discover-close").addEventListener("click", () => $("discover-dialog").close());
  $("class-similar").addEventListener("click", () => discoverSimilar());
}
