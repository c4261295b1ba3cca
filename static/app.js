/**
 * The page's controller: the topic form, the job on view, the job id in the URL, the live list of
 * recent jobs, and the API token prompt.
 *
 * Everything the page shows live (the job on view, and the progress of every running job in the
 * list) comes through one event stream shared by every tab of this origin
 * (`/static/shared_events.js`): ten open tabs hold one connection, far below the browser's six
 * per origin.
 *
 * @module
 */

import { ApiClient, ApiError } from "/static/api_client.js";
import { JobView } from "/static/job_view.js";
import { SharedEvents } from "/static/shared_events.js";

const TERMINAL = new Set(["complete", "error", "cancelled"]);
const RECENT_LIMIT = 20;
/** Jobs started elsewhere (another browser, the CLI) show up at the next refresh. */
const RECENT_REFRESH_MS = 15_000;
/** Tabs tell each other when they start a job, so every list shows it at once. */
const jobsChannel = typeof BroadcastChannel === "function"
  ? new BroadcastChannel("quillflow-jobs")
  : null;

const $ = (id) => document.getElementById(id);

const api = new ApiClient(askToken);
const view = new JobView();

/**
 * The job on view. `lastId` is the newest event applied: events apply strictly in order.
 * @type {{ job: Record<string, unknown>, lastId: number } | null}
 */
let current = null;

/**
 * The rows of the recent list, by job id; `lastId` is the newest event applied to the row.
 * @type {Map<string, { job: Record<string, unknown>, lastId: number, element: HTMLElement }>}
 */
const rows = new Map();

let connectionState = "open";

const events = new SharedEvents({
  api,
  wants: () => {
    /** @type {Map<string, number>} */
    const wants = new Map();
    // The job on view until its end is applied: from its first event, so a replay rebuilds it.
    if (current && !view.ended) wants.set(current.job.id, current.lastId);
    for (const [id, row] of rows) {
      if (!isActive(row.job.status)) continue;
      wants.set(id, Math.min(wants.get(id) ?? Infinity, row.lastId));
    }
    return wants;
  },
  onEvent,
  onState: (state) => {
    connectionState = state;
    showConnection();
  },
  onGone,
});

// --- API token -------------------------------------------------------------------------------

let tokenRequest = null;

/** Shows the token form; resolves with what the user types. Concurrent 401s share one prompt. */
function askToken(wasRejected) {
  tokenRequest ??= new Promise((resolve) => {
    const panel = $("token-panel");
    const form = $("token-form");
    const input = $("token-input");
    panel.hidden = false;
    panel.querySelector("p").textContent = wasRejected
      ? "That token was not accepted. Try again; it is kept in this tab's session only."
      : "This server asks for a token. It is kept in this tab's session only.";
    input.value = "";
    input.focus();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      panel.hidden = true;
      tokenRequest = null;
      resolve(input.value.trim());
    }, { once: true });
  });
  return tokenRequest;
}

// --- Events ----------------------------------------------------------------------------------

let askAgain;

/** An event arrived out of order (this tab came in midway): ask for the job's events again. */
function requestReplay() {
  askAgain ??= setTimeout(() => {
    askAgain = undefined;
    events.update();
  }, 50);
}

function onEvent(job, eventId, type, data) {
  if (current?.job.id === job && !view.ended) {
    if (eventId === current.lastId + 1) {
      current.lastId = eventId;
      view.apply(type, data);
      if (TERMINAL.has(type)) {
        showConnection();
        loadRecent();
      }
    } else if (eventId > current.lastId + 1) {
      requestReplay();
    }
  }
  const row = rows.get(job);
  if (row && isActive(row.job.status)) {
    if (eventId === row.lastId + 1) {
      row.lastId = eventId;
      applyToRow(row, type, data);
    } else if (eventId > row.lastId + 1) {
      requestReplay();
    }
  }
}

function onGone(job) {
  if (current?.job.id === job && !view.ended) {
    view.apply("error", { message: "this job no longer exists on the server." });
  }
  const row = rows.get(job);
  if (row) {
    row.element.remove();
    rows.delete(job);
  }
}

/** Says how the shared stream is doing, when the job on view is still live. */
function showConnection() {
  const live = current && !view.ended;
  const message = !live || connectionState === "open"
    ? ""
    : connectionState === "restarting"
    ? "The server is restarting. Reconnecting…"
    : "Connection lost. Reconnecting…";
  const element = $("connection");
  element.textContent = message;
  element.hidden = message === "";
}

// --- The job on view -------------------------------------------------------------------------

/** Shows `job` and follows its events from the first (a replay rebuilds the view). */
function openJob(job, { push = true } = {}) {
  current = { job, lastId: 0 };
  view.reset(job);
  showConnection();
  const url = new URL(location.href);
  if (url.searchParams.get("job") !== job.id) {
    url.searchParams.set("job", job.id);
    history[push ? "pushState" : "replaceState"]({ job: job.id }, "", url);
  }
  markRecent();
  events.update();
}

// --- Form and buttons -------------------------------------------------------------------------

$("topic-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("topic");
  const button = $("write");
  const formError = $("form-error");
  formError.textContent = "";
  button.disabled = true;
  try {
    const job = await api.createJob(input.value);
    openJob(job);
    jobsChannel?.postMessage("changed");
    loadRecent();
  } catch (error) {
    formError.textContent = error instanceof Error ? error.message : String(error);
    input.focus();
  } finally {
    button.disabled = false;
  }
});

$("cancel").addEventListener("click", async () => {
  if (!current) return;
  const button = $("cancel");
  button.disabled = true;
  try {
    await api.cancelJob(current.job.id);
  } catch (error) {
    // 409: it finished first; its terminal event is on its way.
    if (!(error instanceof ApiError && error.status === 409)) {
      button.disabled = false;
      const element = $("connection");
      element.textContent = `Could not cancel: ${error.message}`;
      element.hidden = false;
    }
  }
});

$("copy").addEventListener("click", async () => {
  if (view.article === null) return;
  const status = $("copy-status");
  try {
    await navigator.clipboard.writeText(view.article);
  } catch {
    // Clipboard API refused (no permission, or not a secure context): the old way.
    const area = document.createElement("textarea");
    area.value = view.article;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  status.textContent = "Copied the Markdown to the clipboard.";
});

$("download").addEventListener("click", () => {
  if (view.article === null || !current) return;
  const blob = new Blob([view.article], { type: "text/markdown;charset=utf-8" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${slug(String(current.job.topic)) || "article"}.md`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
});

$("refresh").addEventListener("click", () => loadRecent());

/** A file-name-safe form of a topic. */
function slug(text) {
  return text.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")
    .slice(0, 60);
}

// --- Recent jobs ------------------------------------------------------------------------------

/** Whether a job in `status` can still change. */
function isActive(status) {
  return status === "queued" || status === "running";
}

let loading = null;

/** Reads the newest jobs and shows them; the running ones then follow the shared stream. */
function loadRecent() {
  loading ??= (async () => {
    try {
      const jobs = (await api.listJobs(RECENT_LIMIT)).jobs;
      showRecent(jobs);
    } catch {
      // The list is a convenience; the next refresh tries again.
    } finally {
      loading = null;
    }
  })();
  return loading;
}

function showRecent(jobs) {
  const kept = new Map();
  for (const job of jobs) {
    const row = rows.get(job.id);
    // A row that has applied events is ahead of, or level with, any snapshot read meanwhile.
    if (row && row.lastId >= job.lastEventId) kept.set(job.id, row);
    else kept.set(job.id, { job, lastId: job.lastEventId, element: makeRow(job) });
  }
  rows.clear();
  for (const [id, row] of kept) rows.set(id, row);
  $("recent").replaceChildren(...[...rows.values()].map((row) => row.element));
  $("recent-empty").hidden = rows.size > 0;
  for (const row of rows.values()) renderRow(row);
  markRecent();
  events.update();
}

function makeRow(job) {
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "recent-job";
  button.dataset.id = job.id;
  const topic = document.createElement("span");
  topic.className = "recent-topic";
  topic.textContent = job.topic;
  const progress = document.createElement("progress");
  progress.max = 100;
  progress.className = "recent-progress";
  progress.setAttribute("aria-label", `Progress of ${job.topic}`);
  const percent = document.createElement("span");
  percent.className = "recent-percent";
  const status = document.createElement("span");
  status.className = "badge";
  const time = document.createElement("time");
  time.dateTime = job.createdAt;
  time.textContent = new Date(job.createdAt).toLocaleTimeString();
  button.append(topic, progress, percent, status, time);
  button.addEventListener("click", () => {
    const row = rows.get(job.id);
    openJob(row?.job ?? job);
  });
  item.append(button);
  return item;
}

/** Shows a row's status and progress; `data-status` and `data-progress` say them to tests. */
function renderRow(row) {
  const button = row.element.querySelector("button");
  const { status, progress } = row.job;
  button.dataset.status = status;
  button.dataset.progress = String(progress);
  const bar = button.querySelector("progress");
  bar.value = progress;
  bar.hidden = !isActive(status);
  const percent = button.querySelector(".recent-percent");
  percent.textContent = isActive(status) ? `${progress}%` : "";
  const badge = button.querySelector(".badge");
  badge.dataset.status = status;
  badge.textContent = status;
}

function applyToRow(row, type, data) {
  const job = { ...row.job };
  if (type === "status") {
    job.status = data.status;
    job.progress = Math.max(job.progress, Number(data.progress) || 0);
  } else if (type === "progress") {
    job.status = "running";
    job.progress = Math.max(job.progress, Number(data.progress) || 0);
  } else if (type === "complete") {
    Object.assign(job, { status: "completed", progress: 100 });
  } else if (type === "error") {
    job.status = "failed";
  } else if (type === "cancelled") {
    job.status = "cancelled";
  } else {
    return;
  }
  row.job = job;
  renderRow(row);
  if (TERMINAL.has(type)) events.update();
}

function markRecent() {
  for (const button of $("recent").querySelectorAll("button")) {
    if (button.dataset.id === current?.job.id) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

setInterval(() => {
  if (!document.hidden) loadRecent();
}, RECENT_REFRESH_MS);

jobsChannel?.addEventListener("message", () => loadRecent());

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) loadRecent();
});

// --- Start: the job in the URL, if any --------------------------------------------------------

async function showJobFromUrl({ push }) {
  const id = new URL(location.href).searchParams.get("job");
  if (!id) {
    current = null;
    $("job").hidden = true;
    events.update();
    return;
  }
  if (current?.job.id === id) return;
  try {
    openJob(await api.getJob(id), { push });
  } catch (error) {
    $("form-error").textContent = error instanceof ApiError && error.status === 404
      ? "That job is no longer on the server. Start a new one."
      : `Could not open the job: ${error.message}`;
  }
}

addEventListener("popstate", () => showJobFromUrl({ push: false }));

// Listeners are in place: the page is usable while the job and the list load.
document.documentElement.dataset.ready = "true";
await showJobFromUrl({ push: false });
await loadRecent();
