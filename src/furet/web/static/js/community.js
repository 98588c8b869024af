// User communities: the users and groups (institutions) whose classes are closest to mine, or
// to one class, with the pairs of classes that make them close, and one click to use or fork
// theirs.
import { api, h } from "../api.js";
import { busy } from "./busy.js";
import { classActions } from "./discover.js";
import { $, state } from "./state.js";

const fmt = (x, digits = 2) => (x == null ? "?" : Number(x).toFixed(digits));

function pairItem(p) {
  const close = () => $("community-dialog").close();
  return h(
    "li",
    { class: "pair", testid: "pair", dataset: { mine: p.mine.class_id, theirs: p.theirs.class_id } },
    h("span", { class: "pair-text" },
      "your ",
      h("strong", { testid: "pair-mine" }, `“${p.mine.name}”`),
      " ↔ ",
      h("strong", { testid: "pair-theirs" }, `“${p.theirs.name}”`),
      ` (${p.theirs.owner})`,
      h("span", { class: "muted small", title: "Resemblance of the two classes (1: as high as on their own positives)" }, ` · ${fmt(p.score)}`),
    ),
    classActions(p.theirs, close),
  );
}

function neighbourItem(n) {
  return h(
    "li",
    { class: "neighbour", testid: "neighbour", dataset: { kind: n.kind, name: n.name } },
    h(
      "div",
      { class: "neighbour-head" },
      h("strong", { testid: "neighbour-name" }, n.name),
      h("span", { class: "muted small" }, ` ${n.classes} class${n.classes === 1 ? "" : "es"} compared`),
      h("span", { class: "spacer" }),
      h("span", { class: "found-score", testid: "neighbour-score", title: "Closeness: the mean, over the classes asked about, of the best resemblance with one of theirs" }, `closeness ${fmt(n.score)}`),
    ),
    h("ul", { class: "pairs" }, ...n.pairs.map(pairItem)),
  );
}

function section(title, testid, neighbours, empty) {
  return h(
    "section",
    { class: "community-section", testid },
    h("h3", { class: "dialog-sub" }, title),
    neighbours.length ? h("ol", { class: "neighbours" }, ...neighbours.map(neighbourItem)) : h("p", { class: "muted small" }, empty),
  );
}

function render(title, data, subject) {
  $("community-h").textContent = title;
  $("community-body").replaceChildren(
    section("Users", "community-users", data.users, `No other user has classes close to ${subject} yet.`),
    section("Groups (institutions)", "community-groups", data.groups, `No group has classes close to ${subject} yet.`),
  );
  const skipped = Object.entries(data.skipped || {}).map(([k, n]) => `${n} ${k.replace("_", " ")}`);
  $("community-note").textContent =
    `Made from the classes you may read${skipped.length ? ` (not compared: ${skipped.join(", ")})` : ""}.`;
  const dlg = $("community-dialog");
  if (!dlg.open) dlg.showModal();
}

/** The users and groups closest to me. */
export async function openCommunities() {
  const data = await busy(() => api("GET", "/v1/communities/me"));
  if (data) render("Users and groups closest to you", data, "yours");
}

/** The users (and groups) who made classes like `c`. */
export async function openClassCommunity(c = state.cls) {
  if (!c) return;
  const data = await busy(() => api("GET", `/v1/classes/${c.class_id}/community`));
  if (data) render(`Who made classes like “${c.name}”`, data, `“${c.name}”`);
}

export function initCommunity() {
  $("communities-btn").addEventListener("click", openCommunities);
  $("class-community").addEventListener("click", () => openClassCommunity());
  $("community-close").addEventListener("click", () => $("community-dialog").close());
}
