// The detail view of one image: larger picture (or the video at the keyframe's time), its
// metadata and the actions of its card.
import { h } from "../api.js";
import { createClass, selectClass } from "./classes.js";
import { discoverItem } from "./discover.js";
import { loadItemTags } from "./enrich.js";
import { shownScore } from "./grid.js";
import { addToClassItems } from "./menu.js";
import { searchSimilar } from "./search.js";
import { mark } from "./selection.js";
import { readOnlyReason } from "./sharing.js";
import { $, baseName, fmtTime, state } from "./state.js";

let shown = null; // the item in the dialog

function row(label, value, testid) {
  if (value === null || value === undefined || value === "") return null;
  return [h("dt", {}, label), h("dd", { testid }, value)];
}

function markText(v) {
  return v === 1 ? "positive" : v === -1 ? "negative" : "not marked";
}

export function openDetail(item) {
  const dlg = $("detail");
  shown = item;
  const id = item.item_id;
  const name = baseName(item.path) || `item ${id}`;
  const original = item.original_url || `/v1/items/${id}/original`;
  const isVideo = item.time != null;
  const size = h("dd", { testid: "detail-size" }, "…");
  let media;
  if (isVideo) {
    media = h("video", {
      src: `${original}#t=${Number(item.time).toFixed(2)}`,
      poster: item.thumbnail_url || `/v1/items/${id}/thumbnail`,
      controls: true,
      preload: "metadata",
      class: "detail-img",
      testid: "detail-video",
    });
    media.addEventListener("loadedmetadata", () => {
      size.textContent = `${media.videoWidth} × ${media.videoHeight}`;
    });
  } else {
    media = h("img", { src: original, alt: name, class: "detail-img", testid: "detail-image" });
    media.addEventListener("load", () => {
      size.textContent = `${media.naturalWidth} × ${media.naturalHeight}`;
    });
  }
  const score = shownScore(item, state.round);
  $("detail-h").textContent = name;
  $("detail-media").replaceChildren(media);
  $("detail-meta").replaceChildren(
    ...[
      row("Item id", String(id), "detail-id"),
      row("Path", item.path, "detail-path"),
      row("Kind", item.kind, "detail-kind"),
      row("Collection", state.collection, "detail-collection"),
      [h("dt", {}, isVideo ? "Frame size" : "Size"), size],
      row(score.label, score.value.toFixed(4), "detail-score"),
      state.round && item.verdict ? row("Model says", item.verdict, "detail-verdict") : null,
      state.cls ? row(`Mark in “${state.cls.name}”`, markText(state.labels.get(id)), "detail-mark") : null,
      isVideo ? row("Video", item.video || item.path, "detail-video-path") : null,
      isVideo ? row("Time", `${fmtTime(Number(item.time))} (${Number(item.time).toFixed(2)} s)`, "detail-time") : null,
      isVideo ? row("Shot", item.shot == null ? null : String(item.shot), "detail-shot") : null,
      item.folded ? row("Folded keyframes", String(item.folded), "detail-folded") : null,
    ]
      .flat()
      .filter(Boolean),
  );
  const close = (fn) => () => {
    dlg.close();
    fn();
  };
  $("detail-actions").replaceChildren(
    ...[
      state.cls
        ? h(
            "div",
            { class: "detail-pn", role: "group", "aria-label": "Set positive or negative", title: readOnlyReason() },
            h("button", { type: "button", class: "pn pos", testid: "detail-positive", "aria-pressed": "false", disabled: Boolean(readOnlyReason()), onclick: () => mark([id], 1, { toggle: true }) }, "+ positive"),
            h("button", { type: "button", class: "pn neg", testid: "detail-negative", "aria-pressed": "false", disabled: Boolean(readOnlyReason()), onclick: () => mark([id], -1, { toggle: true }) }, "− negative"),
          )
        : null,
      h("button", { type: "button", testid: "detail-search-similar", onclick: close(() => searchSimilar([id])) }, "⌕ Search similar"),
      h("button", { type: "button", testid: "detail-create-class", onclick: close(() => createClass([id])) }, "Create class from this image"),
      h("button", { type: "button", testid: "detail-discover", title: "Classes of other users and institutions that fire on this image", onclick: close(() => discoverItem(item)) }, "Discover classes that fire on it"),
      h("div", { class: "menu-h" }, "Add image to existing class"),
      ...addToClassItems(id),
      h("a", { class: "button ghost", href: isVideo ? `${original}#t=${Number(item.time).toFixed(2)}` : original, target: "_blank", rel: "noopener", testid: "detail-original" }, "Open original ↗"),
    ].filter(Boolean),
  );
  if (!dlg.open) dlg.showModal();
  refreshDetail(id);
  loadItemTags(id, () => shown === item && dlg.open, (c) => {
    dlg.close();
    selectClass(c);
  });
}

/** Keep the dialog's mark buttons in step with the card's. */
export function refreshDetail(id) {
  if (!shown || shown.item_id !== id || !$("detail").open) return;
  const v = state.cls ? state.labels.get(id) : undefined;
  const dlg = $("detail");
  dlg.querySelector("[data-testid=detail-positive]")?.setAttribute("aria-pressed", String(v === 1));
  dlg.querySelector("[data-testid=detail-negative]")?.setAttribute("aria-pressed", String(v === -1));
  const m = dlg.querySelector("[data-testid=detail-mark]");
  if (m) m.textContent = markText(v);
}

export function initDetail() {
  const dlg = $("detail");
  dlg.addEventListener("close", () => {
    $("detail-media").replaceChildren(); // stops a playing video
    shown = null;
  });
  // p / n mark the image shown, as they do the pointed card.
  dlg.addEventListener("keydown", (ev) => {
    if (!shown || ev.ctrlKey || ev.metaKey || ev.altKey || ev.target.tagName === "VIDEO") return;
    if (ev.key === "p" || ev.key === "n") {
      ev.preventDefault();
      mark([shown.item_id], ev.key === "p" ? 1 : -1);
    }
  });
  $("detail-close").addEventListener("click", () => dlg.close());
}
