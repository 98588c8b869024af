// Sharing across institutions: which section of My Classes a class sits in (mine, shared with
// my groups, public), its owner and my right, the Share dialog of the owner, Fork, the link
// from a fork to its origin, and the read-only state of a class I may only read.
import { api, h, toast } from "../api.js";
import { busy } from "./busy.js";
import { $, state } from "./state.js";

export const RIGHT_HELP = {
  read: "read: see it, use it in identify and enrichment, export and fork it",
  edit: "edit: also mark images and run its rounds",
  own: "own: also rename, delete and share it",
};

const SECTIONS = [
  ["mine", "Mine"],
  ["shared", "Shared with my groups"],
  ["public", "Public"],
  ["others", "Other users’ (administrator)"],
];

export function isOwner(c) {
  return Boolean(c && state.me && c.owner === state.me.name);
}

/** Marks and rounds take the edit right (or own). */
export function canEdit(c) {
  return Boolean(c && (c.right === "edit" || c.right === "own"));
}

/** Rename, delete and share take the own right (the owner, or an administrator). */
export function canOwn(c) {
  return Boolean(c && c.right === "own");
}

/** Where a class is listed: mine, shared (a grant to one of my groups), public, others. */
export function sectionOf(c) {
  if (isOwner(c) || !c.owner) return "mine";
  const mine = new Set((state.me && state.me.groups) || []);
  if (Object.keys(c.groups || {}).some((g) => mine.has(g))) return "shared";
  if (c.public) return "public";
  return "others";
}

/** The classes by section, in the server's order: [[key, title, classes]], empty ones out. */
export function classSections(classes) {
  const by = new Map(SECTIONS.map(([key]) => [key, []]));
  for (const c of classes) by.get(sectionOf(c)).push(c);
  return SECTIONS.map(([key, title]) => [key, title, by.get(key)]).filter(
    ([key, , list]) => key === "mine" || list.length,
  );
}

/** "private", "ina (read), bnf (edit)", "public (read)", … : whom a class is shared with. */
export function sharedWith(c) {
  const parts = Object.entries(c.groups || {}).map(([g, r]) => `${g} (${r})`);
  if (c.public) parts.push(`public (${c.public})`);
  return parts.length ? parts.join(", ") : "private";
}

/** The line under a class in My Classes: how mine is shared, or whose it is and my right. */
export function accessLine(c) {
  if (sectionOf(c) === "mine") {
    return h(
      "span",
      { class: "class-access", testid: "class-access", title: `Shared with: ${sharedWith(c)}` },
      h("span", { class: `vis vis-${c.visibility || "private"}`, testid: "class-visibility" }, sharedWith(c)),
    );
  }
  return h(
    "span",
    { class: "class-access", testid: "class-access", title: `${c.owner}’s class; your right is ${RIGHT_HELP[c.right] || c.right}` },
    h("span", { class: "owner", testid: "class-owner" }, `by ${c.owner}`),
    " ",
    h("span", { class: `right right-${c.right}`, testid: "class-right" }, c.right),
  );
}

/** "↳ forked from olga/daisy", a link to the origin when I may see it. */
export function originLink(c, onPick) {
  if (!c.origin) return null;
  const origin = state.classes.find((x) => x.class_id === c.origin_class_id);
  const text = `↳ forked from ${c.origin}`;
  if (!origin) {
    const why = c.origin_class_id == null ? "the origin was deleted" : "you may not see the origin now";
    return h("span", { class: "class-origin", testid: "class-origin", title: `${text} (${why})` }, text);
  }
  return h(
    "a",
    {
      href: "#",
      class: "class-origin",
      testid: "class-origin",
      title: `Show the class this one was forked from: ${c.origin}`,
      onclick: (ev) => {
        ev.preventDefault();
        ev.stopPropagation();
        onPick(origin);
      },
    },
    text,
  );
}

/** Why the current class cannot be marked nor run (null: it can). */
export function readOnlyReason(c = state.cls) {
  if (!c || canEdit(c)) return null;
  return `Read only: ${c.owner} shares “${c.name}” with you for reading. Fork it to mark images and run rounds on your own copy.`;
}

/** The class bar's sharing part: owner and right, origin, Share / Fork, the read-only state. */
export function renderAccess(onPick) {
  const c = state.cls;
  const reason = readOnlyReason(c);
  document.body.classList.toggle("read-only", Boolean(reason));
  $("class-share").hidden = !canOwn(c);
  $("class-fork").hidden = !c;
  const who = $("class-owner");
  who.hidden = !c;
  if (c) {
    who.replaceChildren(
      ...(isOwner(c)
        ? [h("span", { testid: "class-bar-visibility" }, sharedWith(c))]
        : [`by ${c.owner} · `, h("span", { class: `right right-${c.right}`, testid: "class-bar-right", title: RIGHT_HELP[c.right] }, c.right)]),
    );
    who.title = isOwner(c) ? `Shared with: ${sharedWith(c)}` : `${c.owner}’s class: ${RIGHT_HELP[c.right] || c.right}`;
  }
  const origin = c ? originLink(c, onPick) : null;
  $("class-origin-slot").replaceChildren(...(origin ? [origin] : []));
  const note = $("read-only-note");
  note.hidden = !reason;
  note.title = reason || "";
  // Without a class a mode button still picks the mode (and says to make a class).
  $("next-round").disabled = !c || Boolean(reason);
  for (const b of [$("next-round"), ...$("modes").children]) {
    if (b.id !== "next-round") b.disabled = Boolean(reason);
    if (reason) b.dataset.readOnly = "1";
    else delete b.dataset.readOnly;
  }
  // A disabled button shows no tooltip in every browser: the wrapper carries it too.
  $("round-controls").title = reason || "";
}

// ---------------------------------------------------------------- the Share dialog

/** Every group a class may be shared with (the server's list), mine and the granted ones. */
async function knownGroups(c) {
  const names = new Set([...((state.me && state.me.groups) || []), ...Object.keys(c.groups || {})]);
  for (const g of await api("GET", "/v1/groups")) names.add(g.name);
  return [...names].sort((a, b) => a.localeCompare(b));
}

function rightSelect(value, { testid, label, none = "none" }) {
  const sel = h(
    "select",
    { testid, "aria-label": label },
    h("option", { value: "" }, none),
    h("option", { value: "read", title: RIGHT_HELP.read }, "read"),
    h("option", { value: "edit", title: RIGHT_HELP.edit }, "edit"),
  );
  sel.value = value || "";
  return sel;
}

function groupRow(name, right) {
  return h(
    "li",
    { class: "share-group", testid: "share-group", dataset: { group: name } },
    h("span", { class: "share-group-name" }, name),
    rightSelect(right, { testid: "share-group-right", label: `Right of the group ${name}` }),
  );
}

/** The owner's Share dialog: groups with read / edit, public read / edit / not public. */
export async function openShare(c, onSaved) {
  const dlg = $("share-dialog");
  const groups = await busy(() => knownGroups(c));
  if (!groups) return;
  $("share-h").textContent = `Share “${c.name}”`;
  const list = $("share-groups");
  list.replaceChildren(...groups.map((g) => groupRow(g, (c.groups || {})[g])));
  $("share-groups-empty").hidden = groups.length > 0;
  const pub = rightSelect(c.public, { testid: "share-public", label: "Public right", none: "not public" });
  $("share-public-slot").replaceChildren(pub);
  const add = $("share-add-name");
  add.value = "";
  const addGroup = () => {
    const name = add.value.trim();
    if (!name) return;
    const row = list.querySelector(`[data-group="${CSS.escape(name)}"]`);
    if (row) row.querySelector("select").value ||= "read";
    else list.append(groupRow(name, "read"));
    $("share-groups-empty").hidden = true;
    add.value = "";
  };
  $("share-add").onclick = addGroup;
  add.onkeydown = (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      addGroup();
    }
  };
  $("share-cancel").onclick = () => dlg.close();
  $("share-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const body = { groups: {}, public: pub.value || null };
    for (const row of list.children) {
      const right = row.querySelector("select").value;
      if (right) body.groups[row.dataset.group] = right;
    }
    const saved = await busy(async () => {
      const out = await api("PUT", `/v1/classes/${c.class_id}/sharing`, body);
      toast(`“${out.name}” is now shared with: ${sharedWith(out)}`, "info");
      return out;
    });
    if (saved) {
      dlg.close();
      onSaved(saved);
    }
  };
  dlg.showModal();
}

// ---------------------------------------------------------------- fork

/** Copy a class I may read into my classes (one click: the server names the copy). */
export async function forkClass(c, onForked) {
  return busy(async () => {
    const copy = await api("POST", `/v1/classes/${c.class_id}/fork`, {});
    toast(`Forked ${c.owner}/${c.name} into your classes as “${copy.name}”`, "info");
    onForked(copy);
    return copy;
  });
}
