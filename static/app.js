/**
 * The page's controller: the topic form, the one event stream of the job on view, the job id in
 * the URL, recent jobs, and the API token prompt.
 *
 * Browsers allow six HTTP/1.1 connections per origin, and every open EventSource holds one. So a
 * tab keeps at most one stream (the job it shows), closes it when the tab is hidden and reopens
 * it, resuming after the last event seen, when the tab is visible again.
 *
 * @module
 */

import { ApiClient, ApiError } from "/static/api_client.js";
import { JobView } from "/static/job_view.js";

const JOB_EVENTS = ["status", "progress", "delta", "complete", "error", "cancelled"];
const TERMINAL = new Set(["complete", "error", "cancelled"]);
const RECENT_LIMIT = 10;
const RECENT_REFRESH_MS = 10_000;

const $ = (id) => document.getElementById(id);

const api = new ApiClient(askToken);
const view = new JobView();

/**
 * The job on view. `lastId` is the newest event applied: events at or below it are ignored,
 * so a resumed or doubled stream never duplicates text.
 * @type {{ job: Record<string, unknown>, lastId: number, source: EventSource | null,
 *   retry: number | undefined, retries: number } | null}
 */
let current = null;

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

// --- The job on view -------------------------------------------------------------------------

/** Shows `job` and follows its stream from the start (a replay rebuilds the view). */
function openJob(job, { push = true } = {}) {
  closeStream();
  clearTimeout(current?.retry);
  current = { job, lastId: 0, source: null, retry: undefined, retries: 0 };
  view.reset(job);
  setConnection("");
  const url = new URL(location.href);
  if (url.searchParams.get("job") !== job.id) {
    url.searchParams.set("job", job.id);
    history[push ? "pushState" : "replaceState"]({ job: job.id }, "", url);
  }
  markRecent();
  connect();
}

/** Closes the view's stream, leaving its state for a later resume. */
function closeStream() {
  if (current?.source) {
    current.source.close();
    current.source = null;
  }
}

/** Opens the stream of the job on view, resuming after the last event applied. */
function connect() {
  if (!current || current.source || view.finished && current.lastId > 0) return;
  const watched = current;
  const source = new EventSource(api.eventsUrl(watched.job, watched.lastId));
  watched.source = source;
  for (const type of JOB_EVENTS) {
    source.addEventListener(type, (event) => {
      // A connection failure also arrives as `error`, but as a plain Event with no data.
      if (event instanceof MessageEvent) onJobEvent(watched, type, event);
      else onConnectionError(watched, source);
    });
  }
  source.addEventListener("open", () => {
    if (watched !== current) return;
    watched.retries = 0;
    setConnection("");
  });
  source.addEventListener("shutdown", () => {
    if (watched === current) setConnection("The server is restarting. Reconnecting…");
  });
}

function onJobEvent(watched, type, event) {
  if (watched !== current) return;
  const id = Number(event.lastEventId);
  if (!(id > watched.lastId)) return; // seen already: a replay overlapping what we have
  watched.lastId = id;
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return;
  }
  view.apply(type, data);
  if (TERMINAL.has(type)) {
    // The server ends the stream here; close it so EventSource does not reconnect.
    closeStream();
    setConnection("");
    loadRecent();
  }
}

function onConnectionError(watched, source) {
  if (watched !== current || watched.source !== source) return;
  if (source.readyState === EventSource.CONNECTING) {
    // EventSource reconnects by itself and sends Last-Event-ID.
    setConnection("Connection lost. Reconnecting…");
    return;
  }
  // Closed for good (an HTTP error such as an expired token): check the job, then retry.
  watched.source = null;
  scheduleRecovery(watched);
}

function scheduleRecovery(watched) {
  setConnection("Connection lost. Reconnecting…");
  const wait = Math.min(30_000, 1000 * 2 ** watched.retries++);
  watched.retry = setTimeout(() => recover(watched), wait);
}

async function recover(watched) {
  if (watched !== current || document.hidden) return;
  try {
    const job = await api.getJob(watched.job.id);
    if (watched !== current) return;
    watched.job = { ...watched.job, streamToken: job.streamToken };
    connect();
  } catch (error) {
    if (watched !== current) return;
    if (error instanceof ApiError && error.status === 404) {
      setConnection("");
      view.apply("error", { message: "this job no longer exists on the server." });
      return;
    }
    scheduleRecovery(watched);
  }
}

function setConnection(message) {
  const element = $("connection");
  element.textContent = message;
  element.hidden = message === "";
}

document.addEventListener("visibilitychange", () => {
  if (!current) return;
  if (document.hidden) {
    // A hidden tab gives its connection back, so other tabs can watch their jobs.
    if (current.source) {
      closeStream();
      setConnection("Paused while the tab is hidden.");
    }
  } else if (!view.finished && !current.source) {
    setConnection("Resuming…");
    connect();
    loadRecent();
  }
});

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
      setConnection(`Could not cancel: ${error.message}`);
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

let recentJobs = [];

async function loadRecent() {
  try {
    recentJobs = (await api.listJobs(RECENT_LIMIT)).jobs;
  } catch {
    return; // the list is a convenience; the next refresh tries again
  }
  const list = $("recent");
  list.replaceChildren(...recentJobs.map((job) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "recent-job";
    button.dataset.id = job.id;
    const topic = document.createElement("span");
    topic.className = "recent-topic";
    topic.textContent = job.topic;
    const status = document.createElement("span");
    status.className = "badge";
    status.dataset.status = job.status;
    status.textContent = job.status;
    const time = document.createElement("time");
    time.dateTime = job.createdAt;
    time.textContent = new Date(job.createdAt).toLocaleTimeString();
    button.append(topic, status, time);
    button.addEventListener("click", () => openJob(job));
    item.append(button);
    return item;
  }));
  $("recent-empty").hidden = recentJobs.length > 0;
  markRecent();
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

// --- Start: the job in the URL, if any --------------------------------------------------------

async function showJobFromUrl({ push }) {
  const id = new URL(location.href).searchParams.get("job");
  if (!id) {
    closeStream();
    current = null;
    $("job").hidden = true;
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
