// Shortcuts (the help dialog lists them) and dropping image files anywhere to search.
import { h } from "../api.js";
import { closeMenu } from "./menu.js";
import { nextRound, searchImages } from "./search.js";
import { clearSelection, markTarget, onCardClick } from "./selection.js";
import { SETTINGS, SPREAD_HELP } from "./settings.js";
import { $, MODES, state } from "./state.js";

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
    markTarget(key === "p" ? 1 : -1);
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

/** The help dialog's explanations of the modes and settings, from the same text as their tooltips. */
function fillHelp() {
  $("help-modes").replaceChildren(
    ...MODES.flatMap(([mode, label, help], i) => [
      h("dt", {}, h("kbd", {}, String(i + 1)), " ", label),
      h("dd", { testid: `help-mode-${mode}` }, help),
    ]),
  );
  $("help-settings").replaceChildren(
    ...SETTINGS.flatMap(([id, , , help]) => [
      h("dt", {}, $(id).closest("label").firstChild.textContent.trim()),
      h("dd", { testid: `help-${id}` }, help),
    ]),
    h("dt", {}, "Spread marks to the shot"),
    h("dd", {}, SPREAD_HELP),
  );
}

export function initKeys() {
  document.addEventListener("keydown", onKey);
  initDrop();
  fillHelp();
}
