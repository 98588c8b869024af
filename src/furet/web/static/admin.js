// Administration page: users and groups (role admin). Uses GET/POST/PATCH /v1/admin/*.
import { api, h, showError, toast } from "./api.js";

const $ = (id) => document.getElementById(id);
let groups = [];

async function load() {
  let me;
  try {
    me = await api("GET", "/v1/me");
  } catch (err) {
    if (err.status === 401) {
      location.href = "/";
      return;
    }
    showError(err);
    return;
  }
  $("who").textContent = `${me.name} (${me.role})`;
  if (me.role !== "admin") {
    $("denied").hidden = false;
    $("denied").textContent = "This page is for administrators only.";
    return;
  }
  $("users-panel").hidden = false;
  $("groups-panel").hidden = false;
  await Promise.all([loadUsers(), loadGroups()]);
}

async function loadUsers() {
  const users = await api("GET", "/v1/admin/users");
  $("users").replaceChildren(
    ...users.map((u) =>
      h(
        "tr",
        { testid: "user-row", dataset: { userId: u.user_id } },
        h("td", {}, h("strong", {}, u.name)),
        h("td", {}, h("span", { class: "badge" }, u.role)),
        h("td", {}, u.daily_quota ?? "default"),
        h("td", {}, (u.groups || []).map((g) => (typeof g === "string" ? g : g.name)).join(", ") || "—"),
        h("td", {}, u.disabled ? h("span", { class: "badge off" }, "disabled") : "active"),
        h(
          "td",
          {},
          h(
            "button",
            {
              type: "button",
              class: "small-btn",
              "aria-label": `${u.disabled ? "Enable" : "Disable"} ${u.name}`,
              onclick: () => setDisabled(u, !u.disabled),
            },
            u.disabled ? "Enable" : "Disable",
          ),
        ),
      ),
    ),
  );
}

async function loadGroups() {
  groups = await api("GET", "/v1/admin/groups");
  $("groups").replaceChildren(
    ...(groups.length ? groups.map((g) => h("li", {}, g.name)) : [h("li", { class: "muted" }, "No group yet")]),
  );
  $("group-choice").replaceChildren(...groups.map((g) => h("option", { value: g.name }, g.name)));
}

async function setDisabled(u, disabled) {
  try {
    await api("PATCH", `/v1/admin/users/${u.user_id}`, { disabled });
    await loadUsers();
  } catch (err) {
    showError(err);
  }
}

async function createUser(ev) {
  ev.preventDefault();
  const f = ev.currentTarget;
  const body = {
    name: f.name.value.trim(),
    password: f.password.value,
    role: f.role.value,
    groups: [...f.groups.selectedOptions].map((o) => o.value),
  };
  if (f.daily_quota.value !== "") body.daily_quota = Number(f.daily_quota.value);
  try {
    await api("POST", "/v1/admin/users", body);
    toast(`User ${body.name} created`, "info");
    f.reset();
    await loadUsers();
  } catch (err) {
    showError(err);
  }
}

async function createGroup(ev) {
  ev.preventDefault();
  const f = ev.currentTarget;
  try {
    await api("POST", "/v1/admin/groups", { name: f.name.value.trim() });
    toast(`Group ${f.name.value.trim()} created`, "info");
    f.reset();
    await loadGroups();
  } catch (err) {
    showError(err);
  }
}

$("user-form").addEventListener("submit", createUser);
$("group-form").addEventListener("submit", createGroup);
load();
