// HTTP client of docs/api.md and the toast shared by the search page and the admin page.

export class ApiError extends Error {
  constructor(status, detail, title) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.detail = detail || title || `HTTP ${status}`;
  }
}

// Listeners called with (remaining, limit) whenever a response carries the RateLimit headers.
export const quotaListeners = [];
// Called on any 401 so that the page can show its login form.
export const authListeners = [];

function readQuota(res) {
  const rl = res.headers.get("RateLimit");
  const policy = res.headers.get("RateLimit-Policy");
  if (!rl) return;
  const r = /r=(\d+)/.exec(rl);
  const q = policy ? /q=(\d+)/.exec(policy) : null;
  if (r) quotaListeners.forEach((fn) => fn(Number(r[1]), q ? Number(q[1]) : null));
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The value of the non-HttpOnly `furet_csrf` cookie the server sets (double-submit token). */
export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === "furet_csrf") return decodeURIComponent(v.join("="));
  }
  return "";
}

/**
 * Call the API. `body` is sent as JSON, or as multipart when it is a FormData.
 * Resolves to the parsed JSON (null for 204); rejects with an ApiError carrying the problem's
 * `detail`.
 */
export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (UNSAFE.has(method.toUpperCase())) {
    const token = csrfToken();
    if (token) init.headers["X-CSRF-Token"] = token;
  }
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "The server cannot be reached: check that furet serve is running.");
  }
  readQuota(res);
  if (res.status === 204) return null;
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    if (res.status === 401) authListeners.forEach((fn) => fn());
    let detail = data && (data.detail ?? data.title);
    if (Array.isArray(detail)) {
      // FastAPI's validation errors: [{loc, msg}, ...]
      detail = detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    }
    if (res.status === 429) {
      const after = res.headers.get("Retry-After");
      detail = `${detail || "Daily quota reached"}${after ? ` (retry in ${after} s)` : ""}`;
    }
    throw new ApiError(res.status, detail || `${res.status} ${res.statusText}`);
  }
  return data;
}

let toastBox = null;

/** Show a short message; kind is "error" (stays 8 s) or "info" (3 s). */
export function toast(message, kind = "error") {
  if (!toastBox) {
    toastBox = document.createElement("div");
    toastBox.className = "toasts";
    toastBox.setAttribute("role", "status");
    toastBox.setAttribute("aria-live", "polite");
    document.body.append(toastBox);
  }
  const el = document.createElement("div");
  el.className = `toast toast-${kind}`;
  el.dataset.testid = kind === "error" ? "toast-error" : "toast";
  const text = document.createElement("span");
  text.textContent = message;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "toast-close";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => el.remove());
  el.append(text, close);
  toastBox.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 3000);
}

/** The error toasts on screen now. */
export function errorToasts() {
  return toastBox ? [...toastBox.querySelectorAll(".toast-error")] : [];
}

/** Take `toasts` (default: every error toast) off the screen: a later action succeeded. */
export function dismissErrors(toasts = errorToasts()) {
  for (const el of toasts) el.remove();
}

/** Report a failed call in a toast (the page never goes blank). */
export function showError(err) {
  if (err instanceof ApiError && err.status === 401) return; // the login form says it
  console.error(err);
  toast(err instanceof ApiError ? err.detail : String(err.message || err));
}

/**
 * Tiny element builder: h("button", {class: "x", onclick: fn}, "text", child).
 * `style` takes an object of CSSOM properties ({width: "40%"}): the Content-Security-Policy
 * refuses style attributes, not styles set from script.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "testid") el.dataset.testid = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") {
      if (typeof v === "string") throw new TypeError("h(): style must be an object (CSP)");
      Object.assign(el.style, v);
    }
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
