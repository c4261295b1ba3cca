/**
 * The live view of one job, built only from its snapshot and its events in order: replaying a
 * job's stream from the start rebuilds the same view. Streamed text goes in as text nodes, never
 * as markup; only the final article is rendered, through the safe Markdown renderer.
 *
 * @module
 */

import { renderMarkdown } from "/static/render_markdown.js";

const STEPS = ["outline", "content", "style"];
const STATE_LABELS = {
  pending: "pending",
  running: "in progress",
  done: "done",
  failed: "failed",
  stopped: "stopped",
};

/** Finds an element by id, failing loudly when the page and script disagree. */
function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`Missing element #${id}`);
  return element;
}

/** Renders one job into the page's `#job` section. */
export class JobView {
  constructor() {
    this.root = byId("job");
    this.topic = byId("job-topic");
    this.banner = byId("offline-banner");
    this.progress = byId("progress");
    this.progressLabel = byId("progress-label");
    this.steps = byId("steps");
    this.errorBox = byId("error-box");
    this.outlineBlock = byId("outline-block");
    this.outline = byId("outline");
    this.live = byId("live");
    this.liveOutline = byId("live-outline");
    this.liveSections = byId("live-sections");
    this.liveStyle = byId("live-style");
    this.result = byId("result");
    this.articleElement = byId("article");
    this.cancelButton = byId("cancel");
    this.usageLine = byId("usage");
    /** @type {string | null} The final Markdown, once complete. */
    this.article = null;
    this.status = "queued";
  }

  /** Clears the view for `job`, ready for its events from the start. */
  reset(job) {
    this.job = job;
    this.article = null;
    this.status = job.status;
    /** Whether the job's end (its terminal event) has been applied. */
    this.ended = false;
    // A finished job replays its whole history: never offer to cancel it meanwhile.
    this.snapshotFinished = !isActive(job.status);
    this.root.hidden = false;
    this.root.dataset.status = job.status;
    this.topic.textContent = job.topic;
    // The offline provider is a template writer: say so, so nobody mistakes it for a model.
    this.banner.hidden = job.provider !== "offline";
    this.setProgress(0, "Waiting to start");
    for (const step of STEPS) this.setStep(step, "pending");
    this.errorBox.hidden = true;
    this.errorBox.textContent = "";
    this.outlineBlock.hidden = true;
    this.outline.replaceChildren();
    this.live.hidden = true;
    this.liveOutline.hidden = true;
    this.liveOutline.textContent = "";
    this.liveSections.replaceChildren();
    this.liveSections.hidden = false;
    this.liveStyle.hidden = true;
    this.liveStyle.textContent = "";
    this.result.hidden = true;
    this.articleElement.replaceChildren();
    this.cancelButton.hidden = !isActive(job.status);
    this.cancelButton.disabled = false;
    for (const step of STEPS) this.stepItem(step).querySelector(".step-meta").textContent = "";
    this.usageLine.hidden = true;
    this.usageLine.textContent = "";
  }

  /** Whether the job can still change. */
  get finished() {
    return !isActive(this.status);
  }

  /**
   * Applies one event of the job's stream.
   * @param {string} type
   * @param {Record<string, unknown>} data
   */
  apply(type, data) {
    if (type === "complete" || type === "error" || type === "cancelled") this.ended = true;
    switch (type) {
      case "status":
        this.setStatus(data.status);
        if (data.status === "running") {
          this.setStep("outline", "running");
          this.setProgress(data.progress, "Outlining");
        } else if (data.status === "queued") {
          this.setProgress(data.progress, "Queued: waiting for a free writer");
        }
        break;
      case "progress":
        this.onProgress(data);
        break;
      case "delta":
        this.onDelta(data);
        break;
      case "usage":
        this.showUsage(data);
        break;
      case "complete":
        this.onComplete(data);
        this.showUsage(data);
        break;
      case "error":
        this.setStatus("failed");
        this.stopSteps("failed", data.step);
        this.showError(`The job failed: ${data.message ?? "unknown error"}`);
        this.setProgress(this.progress.value, "Failed");
        break;
      case "cancelled":
        this.setStatus("cancelled");
        this.stopSteps("stopped");
        this.showError("The job was cancelled.");
        this.setProgress(this.progress.value, "Cancelled");
        break;
    }
  }

  onProgress(data) {
    if (this.status === "queued") this.setStatus("running");
    if (data.step === "outline") {
      this.setStep("outline", "done");
      this.setStep("content", "running");
      this.showOutline(Array.isArray(data.sections) ? data.sections : []);
      this.liveOutline.hidden = true;
      this.setProgress(data.progress, "Writing sections");
    } else if (data.step === "content") {
      this.setStep("outline", "done");
      const block = this.sectionBlock(Number(data.index), String(data.section ?? ""));
      block.dataset.state = "done";
      const label = `Writing sections: ${data.completed} of ${data.total} done`;
      if (data.completed === data.total) this.setStep("content", "done");
      this.setProgress(data.progress, label);
    } else if (data.step === "style") {
      this.setStep("outline", "done");
      this.setStep("content", "done");
      if (data.stage === "finished") {
        this.setStep("style", "done");
        this.setProgress(data.progress, "Finishing");
      } else {
        this.setStep("style", "running");
        this.liveSections.hidden = true;
        this.setProgress(data.progress, "Styling");
      }
    }
  }

  onDelta(data) {
    const target = this.deltaTarget(data);
    if (!target) return;
    this.live.hidden = false;
    target.hidden = false;
    // `reset`: what was streamed for this step/section so far is void; the call starts over.
    if (data.reset) target.textContent = "";
    if (typeof data.text === "string" && data.text !== "") target.append(data.text);
  }

  deltaTarget(data) {
    if (data.step === "outline") return this.liveOutline;
    if (data.step === "style") return this.liveStyle;
    if (data.step === "content") {
      const block = this.sectionBlock(Number(data.index ?? 0), null);
      return block.querySelector(".stream");
    }
    return null;
  }

  onComplete(data) {
    this.setStatus("completed");
    for (const step of STEPS) this.setStep(step, "done");
    if (Array.isArray(data.sections) && this.outline.childElementCount === 0) {
      this.showOutline(data.sections);
    }
    this.article = String(data.article ?? "");
    this.articleElement.replaceChildren(renderMarkdown(this.article));
    this.live.hidden = true;
    this.result.hidden = false;
    this.setProgress(100, "Done: the article is ready");
  }

  /**
   * Shows tokens, cost and time per step, and the job's totals, from a `usage` or `complete`
   * event. Unknown figures say so: a server that counts nothing, a model without a price.
   */
  showUsage(data) {
    const { usage, costUsd, steps } = data;
    if (steps === undefined) return;
    const offline = this.job?.provider === "offline";
    for (const step of STEPS) {
      const timing = steps[step];
      const meta = this.stepItem(step).querySelector(".step-meta");
      if (!timing) continue;
      const parts = [];
      if (typeof timing.durationMs === "number") parts.push(seconds(timing.durationMs));
      const tokens = usage?.byStep?.[step];
      if (tokens) {
        parts.push(`${count(tokens.totalTokens)} tokens`);
        if (tokens.costUsd !== null) parts.push(dollars(tokens.costUsd));
      }
      if (timing.attempts > 1 && step !== "content") parts.push(`${timing.attempts} requests`);
      meta.textContent = parts.join(" · ");
    }
    const total = Object.values(steps).reduce((n, t) => n + (t?.durationMs ?? 0), 0);
    const tokens = offline
      ? "no tokens (offline demo writer)"
      : usage
      ? `${count(usage.totalTokens)} tokens (${count(usage.promptTokens)} prompt, ${
        count(usage.completionTokens)
      } completion)`
      : "tokens unknown (the server reported none)";
    const cost = offline
      ? ""
      : costUsd === null || costUsd === undefined
      ? " · cost unknown"
      : ` · ${dollars(costUsd)}`;
    this.usageLine.textContent = `${seconds(total)} of steps · ${tokens}${cost}`;
    this.usageLine.hidden = false;
  }

  /** The live block of section `index`, created on first use. */
  sectionBlock(index, title) {
    let block = this.liveSections.querySelector(`[data-index="${index}"]`);
    if (!block) {
      block = document.createElement("section");
      block.className = "live-section";
      block.dataset.index = String(index);
      block.dataset.state = "running";
      const heading = document.createElement("h4");
      const body = document.createElement("p");
      body.className = "stream";
      block.append(heading, body);
      // Keep sections in outline order whatever order their text arrives in.
      const next = [...this.liveSections.children].find((b) => Number(b.dataset.index) > index);
      this.liveSections.insertBefore(block, next ?? null);
    }
    const heading = block.querySelector("h4");
    const known = title ?? this.job?.sections?.[index] ?? this.outlineTitles?.[index];
    if (known && heading) heading.textContent = known;
    else if (heading && !heading.textContent) heading.textContent = `Section ${index + 1}`;
    return block;
  }

  showOutline(sections) {
    this.outlineTitles = sections;
    this.outline.replaceChildren(...sections.map((title) => {
      const item = document.createElement("li");
      item.textContent = title;
      return item;
    }));
    this.outlineBlock.hidden = sections.length === 0;
    sections.forEach((title, index) => this.sectionBlock(index, title));
  }

  showError(message) {
    this.errorBox.textContent = message;
    this.errorBox.hidden = false;
    this.cancelButton.hidden = true;
  }

  setStatus(status) {
    this.status = status;
    this.root.dataset.status = status;
    this.cancelButton.hidden = this.snapshotFinished || !isActive(status);
  }

  /** Marks the running step (or `step`) `state`, and pending ones stopped. */
  stopSteps(state, step) {
    for (const name of STEPS) {
      const item = this.stepItem(name);
      if (name === step || item?.dataset.state === "running") this.setStep(name, state);
      else if (item?.dataset.state === "pending") this.setStep(name, "stopped");
    }
  }

  stepItem(step) {
    return this.steps.querySelector(`[data-step="${step}"]`);
  }

  setStep(step, state) {
    const item = this.stepItem(step);
    if (!item) return;
    item.dataset.state = state;
    const label = item.querySelector(".step-state");
    if (label) label.textContent = STATE_LABELS[state] ?? state;
    if (state === "running") item.setAttribute("aria-current", "step");
    else item.removeAttribute("aria-current");
  }

  setProgress(value, label) {
    const percent = Math.max(0, Math.min(100, Number(value) || 0));
    this.progress.value = percent;
    this.progressLabel.textContent = `${label} (${percent}%)`;
  }
}

function seconds(ms) {
  return `${(ms / 1_000).toFixed(1)} s`;
}

function count(n) {
  return Number(n).toLocaleString("en-US");
}

function dollars(amount) {
  return `$${amount.toFixed(amount < 0.01 ? 6 : 4)}`;
}

/** Whether a job in `status` can still change. */
export function isActive(status) {
  return status === "queued" || status === "running";
}
