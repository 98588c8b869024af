// My Classes: list, pick, create (from images, a selection or an uploaded image), add to,
// rename, export, delete; the current class's counts and spot-check precision.
import { api, h, toast } from "../api.js";
import { busy } from "./busy.js";
import { paintAll, resetResults } from "./grid.js";
import { nextRound, renderModes } from "./search.js";
import { clearSelection, renderSelection } from "./selection.js";
import { renderEnrichButtons, tagCountBadge } from "./enrich.js";
import { accessLine, canEdit, canOwn, classSections, forkClass, originLink, readOnlyReason, renderAccess, sectionOf } from "./sharing.js";
import { $, plural, saveStore, state } from "./state.js";

function classItem(c) {
  const current = state.cls && state.cls.class_id === c.class_id;
  return h(
    "li",
    { class: current ? "current" : "", dataset: { right: c.right } },
    h(
      "button",
      {
        type: "button",
        class: "class-btn",
        "aria-pressed": String(Boolean(current)),
        testid: "class-item",
        dataset: { classId: c.class_id, right: c.right, section: sectionOf(c) },
        onclick: () => selectClass(current ? null : c),
        title: current ? "Stop using this class" : canEdit(c) ? "Teach this class" : "Use this class (read only)",
      },
      h("span", { class: "class-name" }, c.name),
      h(
        "span",
        { class: "class-meta" },
        h("span", { class: "pos", testid: "class-positives" }, `${c.positives}+`),
        " ",
        h("span", { class: "neg", testid: "class-negatives" }, `${c.negatives}−`),
        h("span", { class: "muted" }, ` · ${c.collection}`),
        tagCountBadge(c),
      ),
      accessLine(c),
      originLink(c, (o) => selectClass(o)),
    ),
    canOwn(c)
      ? h(
          "button",
          {
            type: "button",
            class: "class-del",
            "aria-label": `Delete class ${c.name}`,
            title: "Delete class",
            onclick: () => deleteClass(c),
          },
          "×",
        )
      : h(
          "button",
          {
            type: "button",
            class: "class-fork",
            testid: "class-item-fork",
            "aria-label": `Fork ${c.owner}/${c.name}`,
            title: `Fork: copy ${c.owner}/${c.name} (marks and model) into your classes`,
            onclick: () => forkClass(c, addForked),
          },
          "fork",
        ),
  );
}

export function renderClasses() {
  const sections = classSections(state.classes);
  const many = sections.length > 1;
  $("classes").replaceChildren(
    ...sections.map(([key, title, list]) =>
      h(
        "section",
        { class: "class-section", testid: `classes-${key}`, "aria-label": title },
        many ? h("h3", { class: "class-section-h" }, title, h("span", { class: "muted" }, ` ${list.length}`)) : null,
        h("ul", { class: "classes" }, ...list.map(classItem)),
      ),
    ),
  );
  $("classes-empty").hidden = state.classes.length > 0;
  renderCurrentClass();
}

/** A fork made here: it joins Mine and becomes the current class. */
export function addForked(copy) {
  state.classes = [copy, ...state.classes.filter((x) => x.class_id !== copy.class_id)];
  selectClass(copy);
}

/** Fetch My Classes again (classes shared with me since, rights changed). */
export async function reloadClasses() {
  await busy(async () => {
    state.classes = await api("GET", "/v1/classes");
    if (state.cls) {
      const now = state.classes.find((x) => x.class_id === state.cls.class_id);
      if (now) Object.assign(state.cls, now);
      else selectClass(null);
    }
    renderClasses();
  });
}

export function renderCurrentClass() {
  const c = state.cls;
  document.body.classList.toggle("has-class", Boolean(c));
  $("class-name").textContent = c ? c.name : "none";
  $("class-counts").textContent = c ? `${c.positives}+ ${c.negatives}−` : "";
  $("class-counts").hidden = !c;
  $("class-rename").hidden = !canOwn(c);
  $("class-export").hidden = !c;
  renderModes();
  renderPrecision();
  renderAccess((o) => selectClass(o));
  renderEnrichButtons();
  $("class-similar").hidden = !c;
  $("class-community").hidden = !c;
  if (!c) $("round-info").textContent = "Create or pick a class to run rounds";
  else if (!canEdit(c)) $("round-info").textContent = readOnlyReason(c);
}

export function selectClass(c, { run = false } = {}) {
  state.cls = c;
  state.labels.clear();
  state.rounds = 0;
  state.precision = null;
  saveStore({ class_id: c ? c.class_id : null });
  if (c && c.collection !== state.collection) {
    state.collection = c.collection;
    $("collection").value = c.collection;
    resetResults();
    document.dispatchEvent(new CustomEvent("furet:collection"));
  }
  $("round-info").textContent = "";
  renderClasses();
  paintAll();
  renderSelection();
  if (c) refreshPrecision();
  if (c && run) nextRound("search");
}

export function updateClassCounts(classId, positives, negatives) {
  const c = state.classes.find((x) => x.class_id === classId);
  if (c) Object.assign(c, { positives, negatives });
  if (state.cls && state.cls.class_id === classId) Object.assign(state.cls, { positives, negatives });
  renderClasses();
}

export function replaceClass(c) {
  state.classes = state.classes.map((x) => (x.class_id === c.class_id ? { ...x, ...c } : x));
  if (state.cls && state.cls.class_id === c.class_id) Object.assign(state.cls, c);
  renderClasses();
}

async function deleteClass(c) {
  if (!confirm(`Delete the class “${c.name}” and all its marks?`)) return;
  await busy(async () => {
    await api("DELETE", `/v1/classes/${c.class_id}`);
    state.classes = state.classes.filter((x) => x.class_id !== c.class_id);
    if (state.cls && state.cls.class_id === c.class_id) selectClass(null);
    renderClasses();
    toast(`Class “${c.name}” deleted`, "info");
  });
}

/** Ask for a class name in the dialog; resolves to the name or null. */
function askClassName(what, { title = "Create class", submit = "Create", value = "" } = {}) {
  const dlg = $("new-class");
  $("new-class-h").textContent = title;
  $("new-class-what").textContent = what;
  $("new-class-submit").textContent = submit;
  const input = $("new-class-name");
  input.value = value;
  dlg.showModal();
  input.focus();
  input.select();
  return new Promise((resolve) => {
    const form = $("new-class-form");
    const done = (name) => {
      form.removeEventListener("submit", onSubmit);
      $("new-class-cancel").removeEventListener("click", onCancel);
      dlg.removeEventListener("cancel", onCancel);
      if (dlg.open) dlg.close();
      resolve(name);
    };
    const onSubmit = (ev) => {
      ev.preventDefault();
      const name = input.value.trim();
      if (name) done(name);
    };
    const onCancel = (ev) => {
      ev.preventDefault();
      done(null);
    };
    form.addEventListener("submit", onSubmit);
    $("new-class-cancel").addEventListener("click", onCancel);
    dlg.addEventListener("cancel", onCancel);
  });
}

export async function createClass(itemIds) {
  if (!state.collection) return toast("No collection to teach a class on");
  const n = itemIds.length;
  const name = await askClassName(
    n === 1 ? `From this image, in ${state.collection}` : `From ${n} images, in ${state.collection}`,
  );
  if (!name) return;
  await busy(async () => {
    const c = await api("POST", "/v1/classes", { name, collection: state.collection, item_ids: itemIds });
    state.classes = [c, ...state.classes.filter((x) => x.class_id !== c.class_id)];
    toast(`Class “${c.name}” created`, "info");
    clearSelection();
    selectClass(c);
    for (const id of itemIds) state.labels.set(id, 1);
    await nextRound("search");
  });
}

export async function createClassFromQuery() {
  const file = state.queryFiles[0];
  if (!file) return;
  const name = await askClassName(`From the query image ${file.name}`);
  if (!name) return;
  await busy(async () => {
    const form = new FormData();
    form.append("image", file);
    form.append("name", name);
    form.append("collection", state.collection);
    // The summary counts the uploaded image as a positive (as the round's "n pos" does).
    const c = await api("POST", "/v1/classes/from-image", form);
    state.classes = [c, ...state.classes.filter((x) => x.class_id !== c.class_id)];
    toast(`Class “${c.name}” created`, "info");
    selectClass(c);
    await nextRound("search");
  });
}

/** "Add image to existing class": mark `itemIds` positive in `c` (any class, not only the current one). */
export async function addToClass(c, itemIds) {
  await busy(async () => {
    const r = await api("POST", `/v1/classes/${c.class_id}/labels`, { positive: itemIds });
    updateClassCounts(c.class_id, r.positives, r.negatives);
    if (state.cls && state.cls.class_id === c.class_id) {
      for (const id of itemIds) state.labels.set(id, 1);
      paintAll();
    }
    toast(`Added ${plural(itemIds.length, "image")} to “${c.name}”`, "info");
  });
}

export async function renameClass() {
  const c = state.cls;
  if (!c) return;
  const name = await askClassName(`New name of “${c.name}”`, { title: "Rename class", submit: "Rename", value: c.name });
  if (!name || name === c.name) return;
  await busy(async () => {
    const renamed = await api("PATCH", `/v1/classes/${c.class_id}`, { name });
    replaceClass(renamed);
    toast(`Class renamed “${renamed.name}”`, "info");
  });
}

/** Download the class (labels, their history, the latest model) as `<name>.json`. */
export async function exportClass() {
  const c = state.cls;
  if (!c) return;
  await busy(async () => {
    const data = await api("GET", `/v1/classes/${c.class_id}/export`);
    const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: `${c.name}.json`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
}

// ---------------------------------------------------------------- spot-check precision

let precisionSeq = 0;

/** Ask the server for the current class's spot-check estimate (GET /v1/classes/{id}). */
export async function refreshPrecision() {
  const c = state.cls;
  if (!c) return;
  const seq = ++precisionSeq;
  try {
    const full = await api("GET", `/v1/classes/${c.class_id}`);
    if (seq !== precisionSeq || state.cls !== c) return;
    state.precision = { spot_checked: full.spot_checked || 0, precision: full.precision ?? null };
    renderPrecision();
  } catch {
    // Not worth a toast: the next mark or round asks again.
  }
}

/** After marks: the estimate moves when the marks touch spot-checked images. */
export function afterMarks() {
  const spotChecking = state.round && state.round.mode === "classify_random";
  if (spotChecking || (state.precision && state.precision.spot_checked)) refreshPrecision();
}

export function renderPrecision() {
  const el = $("precision");
  const p = state.precision;
  const spotChecking = state.round && state.round.mode === "classify_random";
  if (!state.cls || !p || (!p.spot_checked && !spotChecking)) {
    el.hidden = true;
    return;
  }
  el.hidden = false;
  el.title =
    "Spot check: the images of Classify Random Images pages that you marked. Precision = share of " +
    "those the model calls positive that you marked positive, with its 95% (Wilson) interval.";
  const est = p.precision;
  if (!p.spot_checked) {
    el.textContent = "Precision: mark this page to estimate it";
  } else if (!est || est.value == null) {
    el.textContent = `Precision: not enough marks (${p.spot_checked} spot-checked)`;
  } else {
    el.textContent =
      `Precision ${est.value.toFixed(2)} [${est.low.toFixed(2)}, ${est.high.toFixed(2)}] ` +
      `(${p.spot_checked} spot-checked)`;
  }
}
