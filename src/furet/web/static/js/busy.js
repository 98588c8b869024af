// The busy bar, and the rule for errors: an error stays on screen until the next action
// that succeeds (or its close button, or its timer).
import { dismissErrors, errorToasts, showError } from "../api.js";
import { $, state } from "./state.js";

/**
 * Run the action `fn` under the busy bar. A failure is shown in a toast (the page never goes
 * blank); a success takes the errors shown before it off the screen.
 */
export async function busy(fn) {
  const stale = errorToasts();
  state.busy += 1;
  $("busy").hidden = false;
  try {
    const out = await fn();
    dismissErrors(stale);
    return out;
  } catch (err) {
    showError(err);
    return undefined;
  } finally {
    state.busy -= 1;
    if (state.busy === 0) $("busy").hidden = true;
  }
}
