// The Settings panel: values sent with every round, kept in localStorage, each explained.
import { $, loadStore, saveStore } from "./state.js";

/** [input id, key, converter, one-line explanation] */
export const SETTINGS = [
  ["s-page-size", "page_size", Number, "How many images a round or a search shows."],
  ["s-discovery", "discovery_rate", Number, "Discovery mode: the share of the page drawn at random between Sampling Min and Max (the rest is Search)."],
  ["s-temporal", "temporal_range", Number, "Video: keyframes of one video closer than this many seconds to a better one fold into it (0: off)."],
  ["s-smin", "sampling_min", Number, "Discovery mode: the lowest class probability of the images drawn at random."],
  ["s-smax", "sampling_max", Number, "Discovery mode: the highest class probability of the images drawn at random."],
  ["s-size", "picture_size", Number, "The size of the thumbnails in the grid."],
];
export const SPREAD_HELP =
  "A mark on a video keyframe also marks the keyframes of its shot (within the Temporal Range when it is set).";

export function settings() {
  const out = {};
  for (const [id, key, conv] of SETTINGS) out[key] = conv($(id).value);
  out.page_size = Math.max(1, Math.min(200, Math.round(out.page_size) || 15));
  return out;
}

export function spreadMarks() {
  return $("s-spread").checked;
}

function save() {
  saveStore({ settings: { ...settings(), spread: spreadMarks() } });
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
  save();
}

export function initSettings() {
  const saved = loadStore().settings || {};
  for (const [id, key, , help] of SETTINGS) {
    if (saved[key] !== undefined) $(id).value = saved[key];
    $(id).addEventListener("input", onSettings);
    const label = $(id).closest("label");
    label.title = help;
    label.dataset.help = help;
  }
  $("s-spread").closest("label").title = SPREAD_HELP;
  if (saved.spread !== undefined) $("s-spread").checked = saved.spread;
  $("s-spread").addEventListener("change", save);
  onSettings();
}
