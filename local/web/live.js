// Live updates of one session's images, shared by the demo page and the Uppy page: the
// lifecycle messages over a WebSocket while one can be had, polling while not.
//
// POST /sessions/{id}/events hands out a socket URL whose ticket opens one socket within a
// minute, so every connection asks for a new URL. A socket can drop at any time (API Gateway
// closes them after 10 idle minutes or 2 hours) and what is sent meanwhile is lost: the page
// polls until a socket is open again, then polls once more to catch up. While live, it still
// polls now and then: delivery is at least once but not certain (the notifier gives up on an
// event after three tries, a socket may be recorded a moment after an event went out).

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;
const POLL_EVERY_MS = 2_000;
const LIVE_POLL_EVERY_MS = 30_000;
// A socket that stayed open this long counts as a success: the next drop retries after a second.
const STABLE_AFTER_MS = 10_000;

export const LIVE = "live";
export const POLLING = "polling";

export class SessionUpdates {
  #sessionId;
  #onMessage;
  #poll;
  #onState;
  #running = false;
  #socket = null;
  #failures = 0;
  #retryTimer = null;
  #pollTimer = null;
  #pollInFlight = false;

  // onMessage({type, imageId, sessionId, status, error}): one lifecycle message.
  // poll(): ask the API for what may have changed (every 2 s while the socket is down, once when
  //   it comes back, every 30 s while it is up). onState(state, retryInMs): LIVE, or POLLING with
  //   the delay before the next try.
  constructor(sessionId, { onMessage, poll, onState = () => {} }) {
    this.#sessionId = sessionId;
    this.#onMessage = onMessage;
    this.#poll = poll;
    this.#onState = onState;
  }

  start() {
    this.#running = true;
    this.#pollEvery(POLL_EVERY_MS);
    this.#onState(POLLING, 0);
    this.#connect();
    return this;
  }

  stop() {
    this.#running = false;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#pollTimer);
    const socket = this.#socket;
    this.#socket = null;  // its close is ours: no reconnection
    if (socket) socket.close();
  }

  async #connect() {
    try {
      const url = await this.#socketUrl();
      if (this.#running) this.#watch(new WebSocket(url));
    } catch (error) {
      console.warn("live updates: no socket:", error.message);
      this.#retryLater();
    }
  }

  #watch(socket) {
    this.#socket = socket;
    let openedAt = 0;
    const current = () => this.#socket === socket;
    socket.onopen = () => {
      if (!current()) return;
      openedAt = Date.now();
      this.#opened();
    };
    socket.onmessage = (event) => current() && this.#received(event.data);
    // A refused upgrade (a stale ticket: 401) and a drop both end here, after any onerror.
    socket.onclose = () => current() && this.#closed(openedAt);
  }

  async #socketUrl() {
    const path = `/sessions/${encodeURIComponent(this.#sessionId)}/events`;
    const response = await fetch(path, { method: "POST" });
    if (!response.ok) throw new Error(`POST ${path} answered ${response.status}`);
    return (await response.json()).url;
  }

  #opened() {
    this.#pollEvery(LIVE_POLL_EVERY_MS);
    this.#onState(LIVE, 0);
    this.#pollOnce();  // whatever happened while there was no socket
  }

  #closed(openedAt) {
    this.#socket = null;
    if (openedAt && Date.now() - openedAt >= STABLE_AFTER_MS) this.#failures = 0;
    this.#pollEvery(POLL_EVERY_MS);
    this.#retryLater();
  }

  #retryLater() {
    if (!this.#running) return;
    const delay = Math.min(FIRST_RETRY_MS * 2 ** this.#failures, MAX_RETRY_MS);
    this.#failures += 1;
    this.#onState(POLLING, delay);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #received(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      console.warn("live updates: not JSON:", data);
      return;
    }
    if (message.sessionId !== this.#sessionId) return;
    try {
      this.#onMessage(message);
    } catch (error) {
      console.error("live updates: handling", message, error);
    }
  }

  #pollEvery(ms) {
    clearInterval(this.#pollTimer);
    this.#pollTimer = setInterval(() => this.#pollOnce(), ms);
  }

  async #pollOnce() {
    if (this.#pollInFlight) return;  // a slow API is not asked twice at once
    this.#pollInFlight = true;
    try {
      await this.#poll();
    } catch (error) {
      console.warn("live updates: polling failed:", error.message);
    } finally {
      this.#pollInFlight = false;
    }
  }
}

// The onState of SessionUpdates for a small badge: data-state is "live" or "polling".
export function liveBadge(element) {
  return (state, retryInMs) => {
    element.dataset.state = state;
    if (state === LIVE) {
      element.textContent = "live";
      element.title = "status changes arrive over a WebSocket";
    } else {
      const next = retryInMs ? `reconnecting in ${Math.round(retryInMs / 1000)} s` : "connecting";
      element.textContent = `polling · ${next}`;
      element.title = "no live socket: the page asks the API every couple of seconds";
    }
  };
}

// task(key), at most one run at a time per key; a call during a run gets one more run after it,
// so that the last answer shown always comes from a request made after the last call. (Two
// GETs of one image in flight at once could otherwise answer in the wrong order.)
export function oneAtATime(task) {
  const runs = new Map();
  return (key) => {
    const run = runs.get(key);
    if (run) {
      run.again = true;
      return run.done;
    }
    const fresh = { again: true, done: null };
    runs.set(key, fresh);
    fresh.done = (async () => {
      try {
        while (fresh.again) {
          fresh.again = false;
          await task(key);
        }
      } finally {
        runs.delete(key);
      }
    })();
    return fresh.done;
  };
}
