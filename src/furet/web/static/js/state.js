// The page's state, shared by the modules of the search page, and what is kept in localStorage.

/** The modes of a round: [name, label, one-line explanation]. */
export const MODES = [
  ["search", "Search", "The images the class model scores highest (a new class: the nearest neighbours of its positives)."],
  ["most_useful", "Most useful", "Among the likeliest positives, those the model is least sure of: teaches the model while staying relevant."],
  ["ambiguous", "Ambiguous", "The images the model is least sure about (closest to its boundary)."],
  ["discovery", "Discovery", "A Discovery-rate share drawn at random between Sampling Min and Max, the rest as Search: finds what the model misses."],
  ["refine", "Refine", "Your marks the model contradicts most (likely mistakes), then its top unmarked images: correct them."],
  ["classify_random", "Classify Random Images", "A uniform random sample with the model's verdicts: mark it to estimate the class's precision."],
];
export const MODE_LABEL = Object.fromEntries(MODES.map(([m, label]) => [m, label]));
export const MODE_HELP = Object.fromEntries(MODES.map(([m, , help]) => [m, help]));

const STORE = "furet.ui";

export const $ = (id) => document.getElementById(id);

export const state = {
  me: null,
  collections: [],
  collection: null, // name
  classes: [],
  cls: null, // current class summary
  mode: "search",
  results: [], // items shown, in grid order
  round: null, // the round that produced the grid (null: a search), without its page
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
  precision: null, // {spot_checked, precision} of the current class, once asked
};

export function loadStore() {
  try {
    return JSON.parse(localStorage.getItem(STORE) || "{}");
  } catch {
    return {};
  }
}

export function saveStore(patch) {
  localStorage.setItem(STORE, JSON.stringify({ ...loadStore(), ...patch }));
}

/** The current collection's entry of GET /v1/collections (or undefined). */
export function currentCollection() {
  return state.collections.find((c) => c.name === state.collection);
}

export function baseName(path) {
  return String(path || "").split(/[\\/]/).pop();
}

export function fmtTime(t) {
  const m = Math.floor(t / 60);
  const s = t - m * 60;
  return `${m}:${s.toFixed(1).padStart(4, "0")}`;
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
