// The per-image menu (⋯): create a class from it, add it to an existing class, details, open.
import { h } from "../api.js";
import { addToClass, createClass } from "./classes.js";
import { openDetail } from "./detail.js";
import { discoverItem } from "./discover.js";
import { searchSimilar } from "./search.js";
import { canEdit } from "./sharing.js";
import { $, state } from "./state.js";

/** One "Add image to existing class" button per class of the collection (or "none yet"). */
export function addToClassItems(id, wrap = (fn) => fn) {
  const classes = state.classes.filter((c) => c.collection === state.collection && canEdit(c));
  if (!classes.length) return [h("div", { class: "menu-empty" }, "none yet")];
  return classes.map((c) =>
    h(
      "button",
      {
        type: "button",
        role: "menuitem",
        testid: "add-to-class",
        dataset: { classId: c.class_id },
        onclick: wrap(() => addToClass(c, [id])),
      },
      `Add image to existing class “${c.name}”`,
    ),
  );
}

export function closeMenu() {
  const m = $("card-menu");
  if (!m.hidden) {
    m.hidden = true;
    m.replaceChildren();
  }
}

export function openMenu(anchor, item) {
  const m = $("card-menu");
  if (!m.hidden && m.dataset.itemId === String(item.item_id)) return closeMenu();
  const id = item.item_id;
  const run = (fn) => () => {
    closeMenu();
    fn();
  };
  m.dataset.itemId = id;
  m.replaceChildren(
    h("button", { type: "button", role: "menuitem", testid: "create-class", onclick: run(() => createClass([id])) }, "Create class from this image"),
    h("button", { type: "button", role: "menuitem", testid: "menu-search-similar", onclick: run(() => searchSimilar([id])) }, "Search similar"),
    h("button", { type: "button", role: "menuitem", testid: "menu-details", onclick: run(() => openDetail(item)) }, "Details"),
    h("button", { type: "button", role: "menuitem", testid: "menu-discover", title: "Classes of other users and institutions that fire on this image", onclick: run(() => discoverItem(item)) }, "Discover classes that fire on it"),
    h("div", { class: "menu-h" }, "Existing classes"),
    ...addToClassItems(id, run),
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
