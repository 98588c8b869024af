// Current Selection and marks. The rule, shown in the selection bar: marking a selection
// (its buttons or the keys p / n) marks every selected image and clears the selection; with
// no selection, a key marks the image under the mouse (or the last one clicked).
import { api, dismissErrors, errorToasts, showError, toast } from "../api.js";
import { afterMarks, updateClassCounts } from "./classes.js";
import { closeMenu } from "./menu.js";
import { paintCard } from "./grid.js";
import { settings, spreadMarks } from "./settings.js";
import { readOnlyReason } from "./sharing.js";
import { $, plural, state } from "./state.js";

export function onCardClick(ev, id) {
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

export function clearSelection() {
  const was = [...state.selection];
  state.selection.clear();
  for (const id of was) paintCard(id);
  renderSelection();
}

export function renderSelection() {
  const n = state.selection.size;
  $("sel-count").textContent = String(n);
  $("sel-clear").disabled = n === 0;
  $("sel-new-class").disabled = n === 0;
  const readOnly = readOnlyReason();
  for (const b of [$("mark-pos"), $("mark-neg")]) {
    b.disabled = n === 0 || Boolean(readOnly);
    b.title = readOnly || "";
  }
  $("mark-hint").textContent = readOnly
    ? "read only: no marks"
    : n
      ? `p / n: mark the ${plural(n, "selected image")}, then the selection clears`
      : "p / n: mark the image under the mouse";
}

/** Mark the selection, or (none) the pointed image: what p / n and the bar's buttons do. */
export function markTarget(value) {
  if (state.selection.size) return mark([...state.selection], value, { fromSelection: true });
  const id = state.hover ?? state.lastClicked;
  return mark(id == null ? [] : [id], value);
}

/**
 * Mark `ids` positive (1) or negative (-1) in the current class; with `toggle`, the same mark
 * again unmarks. `fromSelection`: the ids are the selection, which the mark clears.
 */
export async function mark(ids, value, { toggle = false, fromSelection = false } = {}) {
  const c = state.cls;
  if (!c) return toast("Pick a class in My Classes, or create one from an image, to mark images");
  if (readOnlyReason(c)) return toast(readOnlyReason(c), "info");
  if (!ids.length) return toast("Select images first, or point at one", "info");
  const stale = errorToasts();
  const unmark = toggle && ids.every((id) => state.labels.get(id) === value);
  const before = new Map(ids.map((id) => [id, state.labels.get(id)]));
  const selected = fromSelection ? [...state.selection] : null;
  if (fromSelection) clearSelection();
  for (const id of ids) {
    if (unmark) state.labels.delete(id);
    else state.labels.set(id, value);
    paintCard(id);
  }
  const body = unmark ? { unlabel: ids } : value > 0 ? { positive: ids } : { negative: ids };
  if (!unmark && spreadMarks()) {
    // On by default: a keyframe's mark goes to its shot (bounded by the Temporal Range if set).
    const range = settings().temporal_range;
    body.spread_range = range > 0 ? range : 3600;
  }
  try {
    const r = await api("POST", `/v1/classes/${c.class_id}/labels`, body);
    updateClassCounts(c.class_id, r.positives, r.negatives);
    dismissErrors(stale);
    afterMarks();
  } catch (err) {
    for (const [id, v] of before) {
      if (v === undefined) state.labels.delete(id);
      else state.labels.set(id, v);
      paintCard(id);
    }
    if (selected && !state.selection.size) {
      // Nothing was marked: the selection comes back.
      const shown = new Set(state.cards.keys());
      for (const id of selected) if (shown.has(id)) state.selection.add(id);
      for (const id of selected) paintCard(id);
      renderSelection();
    }
    showError(err);
  }
}
