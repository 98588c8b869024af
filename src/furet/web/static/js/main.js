// furet's search and teaching page: ES modules, no build step. Talks to docs/api.md.
//   state.js     shared state, modes, localStorage      settings.js  the Settings panel
//   busy.js      busy bar, errors cleared by a success  grid.js      result cards and scores
//   selection.js Current Selection and marks            classes.js   My Classes, precision
//   search.js    rounds and searches                    menu.js      the per-image menu
//   detail.js    the detail view of one image           keyboard.js  shortcuts, drop, help
//   sharing.js   sections of My Classes, Share, Fork, read-only classes
//   enrich.js    Enrich dialog, job progress, tags grid and export, an image's classes
//   discover.js  classes of others that fire on an image / item or resemble a class
//   community.js users and groups closest to me or to a class
//   duplicates.js near-identical images of the collection
import { api, authListeners, h, quotaListeners, showError, toast } from "../api.js";
import { busy } from "./busy.js";
import { addForked, createClass, exportClass, reloadClasses, renameClass, renderClasses, renderCurrentClass, replaceClass, selectClass } from "./classes.js";
import { initDetail } from "./detail.js";
import { initCommunity } from "./community.js";
import { initDiscover } from "./discover.js";
import { initDuplicates } from "./duplicates.js";
import { initEnrich, refreshTagCounts, resumeJobs } from "./enrich.js";
import { resetResults } from "./grid.js";
import { initKeys } from "./keyboard.js";
import { closeMenu } from "./menu.js";
import { initModes, nextRound, renderTextSearch, searchImages, searchText } from "./search.js";
import { clearSelection, markTarget, renderSelection } from "./selection.js";
import { initSettings } from "./settings.js";
import { forkClass, openShare } from "./sharing.js";
import { $, loadStore, saveStore, state } from "./state.js";

// ---------------------------------------------------------------- login

function showLogin(message = "") {
  $("app").hidden = true;
  $("login").hidden = false;
  document.querySelector('[data-testid="login-error"]').textContent = message;
  $("login").querySelector("input[name=username]").focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const body = { username: form.username.value.trim(), password: form.password.value };
  const err = form.querySelector(".login-error");
  err.textContent = "";
  try {
    await api("POST", "/v1/auth/login", body);
  } catch (e) {
    err.textContent = e.detail || String(e);
    return;
  }
  form.password.value = "";
  await start();
}

async function onLogout() {
  await api("POST", "/v1/auth/logout").catch(() => null);
  state.me = null;
  resetResults();
  showLogin();
}

// ---------------------------------------------------------------- start

async function start() {
  let me;
  try {
    me = await api("GET", "/v1/me");
  } catch (e) {
    if (e.status === 401) return showLogin();
    showError(e);
    return showLogin(e.detail);
  }
  state.me = me;
  $("login").hidden = true;
  $("app").hidden = false;
  $("user-name").textContent = me.name;
  $("admin-link").hidden = me.role !== "admin";
  await busy(async () => {
    const [cols, classes] = await Promise.all([api("GET", "/v1/collections"), api("GET", "/v1/classes")]);
    state.collections = cols;
    state.classes = classes;
    renderCollections();
    renderClasses();
    const saved = loadStore();
    const cls = classes.find((c) => c.class_id === saved.class_id);
    if (cls) selectClass(cls, { run: false });
  });
  refreshTagCounts();
  resumeJobs();
}

function renderCollections() {
  const sel = $("collection");
  sel.replaceChildren(
    ...state.collections.map((c) => h("option", { value: c.name }, `${c.name} (${c.items} items, ${c.model})`)),
  );
  if (!state.collections.length) {
    sel.append(h("option", { value: "" }, "no collection: run furet ingest"));
    state.collection = null;
    renderTextSearch();
    return;
  }
  const saved = loadStore().collection;
  const pick = state.collections.find((c) => c.name === (state.collection || saved));
  state.collection = (pick || state.collections[0]).name;
  sel.value = state.collection;
  renderTextSearch();
}

function setCollection(name) {
  if (name === state.collection) return;
  state.collection = name;
  $("collection").value = name;
  saveStore({ collection: name });
  if (state.cls && state.cls.collection !== name) selectClass(null);
  resetResults();
  renderTextSearch();
}

// ---------------------------------------------------------------- wiring

/** The sticky bars sit under the top bar, whatever its height (it wraps on narrow screens). */
function trackTopbar() {
  const bar = document.querySelector(".topbar");
  const set = () => document.documentElement.style.setProperty("--top", `${bar.offsetHeight}px`);
  new ResizeObserver(set).observe(bar);
  set();
}

function init() {
  initModes((mode) => nextRound(mode));
  initSettings();
  initKeys();
  initDetail();
  initEnrich();
  initDiscover();
  initCommunity();
  initDuplicates();
  document.addEventListener("furet:tags", renderClasses);
  trackTopbar();
  document.querySelector('[data-testid="login-form"]').addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  $("collection").addEventListener("change", (ev) => setCollection(ev.target.value));
  document.addEventListener("furet:collection", renderTextSearch);
  $("text-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    searchText($("text-query").value);
  });
  $("upload").addEventListener("change", (ev) => {
    const files = [...ev.target.files];
    ev.target.value = "";
    if (files.length) searchImages(files);
  });
  $("help-btn").addEventListener("click", () => $("help").showModal());
  $("next-round").addEventListener("click", () => nextRound());
  $("class-rename").addEventListener("click", renameClass);
  $("class-export").addEventListener("click", exportClass);
  $("class-share").addEventListener("click", () => state.cls && openShare(state.cls, replaceClass));
  $("class-fork").addEventListener("click", () => state.cls && forkClass(state.cls, addForked));
  $("classes-refresh").addEventListener("click", reloadClasses);
  $("sel-clear").addEventListener("click", clearSelection);
  $("mark-pos").addEventListener("click", () => markTarget(1));
  $("mark-neg").addEventListener("click", () => markTarget(-1));
  $("sel-new-class").addEventListener("click", () => createClass([...state.selection]));
  document.addEventListener("click", (ev) => {
    if (!ev.target.closest("#card-menu, [data-testid=card-more]")) closeMenu();
    // A mouse click must not leave a toolbar button focused: Space would click it again
    // instead of running the next round in the current mode.
    const b = ev.target.closest(".modebar button, .selbar button");
    if (b && ev.detail > 0) b.blur();
  });
  quotaListeners.push((r, q) => {
    $("quota").textContent = q ? `${r} / ${q} today` : `${r} left today`;
  });
  authListeners.push(() => {
    if (state.me) {
      state.me = null;
      showLogin("Your session has ended: log in again.");
    }
  });
  window.addEventListener("error", (ev) => toast(`Unexpected error: ${ev.message}`));
  window.addEventListener("unhandledrejection", (ev) => showError(ev.reason));
  renderSelection();
  renderCurrentClass();
  start();
}

init();
