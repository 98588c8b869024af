// Near-duplicates of the current collection: groups of re-encoded, resized or lightly cropped
// copies (GET /v1/collections/{name}/duplicates), each image opening its detail view.
import { api, h } from "../api.js";
import { busy } from "./busy.js";
import { $, state } from "./state.js";

function groupItem(group, n) {
  return h(
    "li",
    { class: "dup-group", testid: "dup-group" },
    h("span", { class: "muted small dup-n" }, `${n}.`),
    ...group.items.map((it) =>
      h(
        "figure",
        { class: "dup-item", testid: "dup-item", dataset: { itemId: it.item_id } },
        h("img", { src: it.thumbnail_url, alt: it.path, title: it.url || it.path, loading: "lazy" }),
        h("figcaption", { class: "small muted" }, it.path.split("/").pop()),
      ),
    ),
  );
}

async function load() {
  const name = state.collection;
  if (!name) return;
  const threshold = Number($("dup-threshold").value);
  const q = new URLSearchParams({ threshold: String(threshold), limit: "200" });
  const data = await busy(() => api("GET", `/v1/collections/${encodeURIComponent(name)}/duplicates?${q}`));
  if (!data) return;
  $("dup-h").textContent = `Near-duplicates in “${name}”`;
  $("dup-list").replaceChildren(...data.groups.map((g, i) => groupItem(g, i + 1)));
  $("dup-note").textContent = data.total
    ? `${data.total} group${data.total === 1 ? "" : "s"} (${data.candidates} neighbour pairs compared${data.total > data.groups.length ? `; the first ${data.groups.length} shown` : ""}).`
    : `No near-duplicates at this threshold (${data.candidates} neighbour pairs compared).`;
}

export async function openDuplicates() {
  const dlg = $("dup-dialog");
  await load();
  if (!dlg.open) dlg.showModal();
}

export function initDuplicates() {
  $("duplicates-btn").addEventListener("click", openDuplicates);
  $("dup-refresh").addEventListener("click", load);
  $("dup-close").addEventListener("click", () => $("dup-dialog").close());
}
