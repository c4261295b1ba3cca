/**
 * Calls to the Quillflow API with the session's token. A 401 asks the page for a token (once;
 * it is kept in sessionStorage for the tab's session) and retries the call.
 *
 * @module
 */

const TOKEN_KEY = "quillflow.apiToken";

/** An API error: the HTTP status and the service's error code and message. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** Talks to the API; `askToken` resolves with a token typed by the user. */
export class ApiClient {
  /** @param {() => Promise<string>} askToken */
  constructor(askToken) {
    this.askToken = askToken;
  }

  /** The token in use, if any. */
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  /**
   * Sends a request; returns the parsed JSON body, or throws an ApiError.
   * @param {string} path
   * @param {{ method?: string, body?: unknown }} [options]
   */
  async request(path, options = {}) {
    for (;;) {
      const headers = { accept: "application/json" };
      if (options.body !== undefined) headers["content-type"] = "application/json";
      const token = this.token;
      if (token) headers.authorization = `Bearer ${token}`;
      let response;
      try {
        response = await fetch(path, {
          method: options.method ?? "GET",
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
        });
      } catch {
        throw new ApiError(0, "network", "Cannot reach the server. Check your connection.");
      }
      if (response.status === 401) {
        if (token) sessionStorage.removeItem(TOKEN_KEY);
        sessionStorage.setItem(TOKEN_KEY, await this.askToken(Boolean(token)));
        continue;
      }
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        const error = body?.error ?? {};
        throw new ApiError(
          response.status,
          error.code ?? "http_error",
          error.message ?? `Request failed with status ${response.status}`,
        );
      }
      return body;
    }
  }

  /** Starts a job. @param {string} topic */
  createJob(topic) {
    return this.request("/api/jobs", { method: "POST", body: { topic } });
  }

  /** A job's snapshot. @param {string} id */
  getJob(id) {
    return this.request(`/api/jobs/${encodeURIComponent(id)}`);
  }

  /** The newest jobs. @param {number} limit */
  listJobs(limit) {
    return this.request(`/api/jobs?limit=${limit}`);
  }

  /** Cancels a job. @param {string} id */
  cancelJob(id) {
    return this.request(`/api/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  /**
   * Opens an event stream at `path` with the session's token; a 401 asks for the token and
   * tries again. Returns the response, whatever its status; throws when the network fails.
   * @param {string} path
   * @param {Record<string, string>} headers
   * @param {AbortSignal} signal
   */
  async stream(path, headers, signal) {
    for (;;) {
      const token = this.token;
      const response = await fetch(path, {
        headers: {
          accept: "text/event-stream",
          ...headers,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        cache: "no-store",
        signal,
      });
      if (response.status !== 401) return response;
      await response.body?.cancel();
      if (token) sessionStorage.removeItem(TOKEN_KEY);
      sessionStorage.setItem(TOKEN_KEY, await this.askToken(Boolean(token)));
    }
  }
}
