// The grid of results: one card per image, its score labelled by what ranked the page.
import { h, toast } from "../api.js";
import { openDetail, refreshDetail } from "./detail.js";
import { closeMenu, openMenu } from "./menu.js";
import { searchSimilar } from "./search.js";
import { mark, onCardClick, renderSelection } from "./selection.js";
import { readOnlyReason } from "./sharing.js";
import { $, baseName, fmtTime, plural, state } from "./state.js";

/** What a card shows as its score: {kind, label, value, title}. */
export function shownScore(item, round) {
  const score = Number(item.score);
  if (!round) {
    return { kind: "similarity", label: "Similarity", value: score, title: "Cosine similarity to the query" };
  }
  if (round.score_kind === "tags") {
    const known = item.confidence != null;
    return {
      kind: "tags",
      label: known ? "Confidence" : "Probability",
      value: Number(known ? item.confidence : item.probability),
      title:
        `Tag of “${round.class_name}”: decision value ${score.toFixed(3)} (threshold ${Number(round.threshold).toFixed(3)}, ` +
        `${item.decision ? "tagged" : "below it"})${known ? "; confidence: the calibrated chance it is a positive" : ""}`,
    };
  }
  if (round.score_kind === "similarity" && item.similarity != null) {
    return {
      kind: "similarity",
      label: "Similarity",
      value: Number(item.similarity),
      title: "Cosine similarity to the class's positives: no model yet, this ranked the page",
    };
  }
  return {
    kind: "probability",
    label: "Probability",
    value: Number(item.probability),
    title: `Probability of the class under the model that ranked this page (decision value ${score.toFixed(3)}; model says ${item.verdict || "?"})`,
  };
}

export function resetResults() {
  state.results = [];
  state.round = null;
  state.cards.clear();
  state.selection.clear();
  state.hover = state.lastClicked = state.anchor = null;
  $("grid").replaceChildren();
  $("empty").hidden = false;
  $("query-info").textContent = "";
  $("result-count").textContent = "";
  renderSelection();
  document.dispatchEvent(new CustomEvent("furet:results", { detail: null }));
}

/** Show `items`; `round` is the round's answer without its page (null for a search). */
export function showResults(items, round) {
  closeMenu();
  state.results = items;
  state.round = round;
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
  grid.classList.toggle("is-round", Boolean(round));
  $("empty").hidden = items.length > 0;
  $("result-count").textContent = `Search result: ${plural(items.length, "image")}`;
  if (!items.length) toast("No result", "info");
  for (const id of state.cards.keys()) paintCard(id);
  renderSelection();
  document.dispatchEvent(new CustomEvent("furet:results", { detail: round }));
  window.scrollTo({ top: 0 });
}

function makeCard(item, index, round) {
  const id = item.item_id;
  const name = baseName(item.path) || `item ${id}`;
  const time = item.time;
  const original = item.original_url || `/v1/items/${id}/original`;
  const thumb = item.thumbnail_url || `/v1/items/${id}/thumbnail`;
  const shown = shownScore(item, round);
  const bar = Math.max(0, Math.min(1, shown.value));
  const showVerdict = round && item.verdict && (round.mode === "classify_random" || round.mode === "refine");
  return h(
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
      showVerdict
        ? h(
            "span",
            { class: `verdict verdict-${item.verdict}`, title: "The model's verdict", testid: "verdict", dataset: { verdict: item.verdict } },
            item.verdict === "positive" ? "model: yes" : "model: no",
          )
        : null,
    ),
    h(
      "div",
      { class: "meta" },
      h(
        "span",
        { class: "score", testid: "score", title: shown.title, dataset: { scoreKind: shown.kind } },
        `${shown.label}: ${shown.value.toFixed(4)}`,
      ),
      h("span", { class: "bar", "aria-hidden": "true" }, h("span", { style: { width: `${(bar * 100).toFixed(1)}%` } })),
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
            item.folded
              ? h("span", { class: "folded", title: "Nearby keyframes of the same video folded into this one (Temporal Range)" }, ` +${item.folded}`)
              : null,
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
      h("button", { type: "button", class: "icon", "aria-label": `Details of ${name}`, "aria-haspopup": "dialog", title: "Details: larger image, metadata, actions", testid: "open-detail", onclick: () => openDetail(item) }, "⤢"),
      h("button", { type: "button", class: "icon", "aria-label": `More actions on ${name}`, "aria-haspopup": "menu", title: "Create class, add to class, open", testid: "card-more", onclick: (ev) => openMenu(ev.currentTarget, item) }, "⋯"),
    ),
  );
}

/** Show the card's mark and selection (and the detail view's, when it shows this image). */
export function paintCard(id) {
  refreshDetail(id);
  const card = state.cards.get(id);
  if (!card) return;
  const v = state.cls ? state.labels.get(id) : undefined;
  const selected = state.selection.has(id);
  card.classList.toggle("is-pos", v === 1);
  card.classList.toggle("is-neg", v === -1);
  card.classList.toggle("is-selected", selected);
  card.querySelector(".thumb").setAttribute("aria-pressed", String(selected));
  const readOnly = readOnlyReason();
  for (const [sel, on] of [[".pn.pos", v === 1], [".pn.neg", v === -1]]) {
    const b = card.querySelector(sel);
    b.setAttribute("aria-pressed", String(on));
    b.disabled = Boolean(readOnly);
    if (readOnly) b.title = readOnly;
    else b.removeAttribute("title");
  }
  card.querySelector(".mark-badge").textContent = v === 1 ? "+" : v === -1 ? "−" : "";
}

export function paintAll() {
  for (const id of state.cards.keys()) paintCard(id);
}
