// The window's view of the worker that runs its guest services: where to post, and whether
// the worker is still the one the window's bridges were built on.
//
// Chromium stops a service worker ~30 s after its last event even while it holds open
// fetches and transferred streams, and the window gets no error: reads on the bridge never
// settle. Only a message is an event, so the window pings: often enough (< 20 s) to keep the
// worker alive, and each answer names the worker's realm instance. A stopped worker is
// started again by the ping itself and answers with a new instance; the window's sessions
// then rebuild their bridges (see ViewSession). A worker that does not answer at all is
// reported lost; a dedicated worker is then replaced.

import { pingWorker } from './bridge.js';

/** @typedef {import('./bridge.js').PostTarget} PostTarget */

/**
 * @typedef {object} WatchOptions
 * @property {number} [pingIntervalMs] time between pings (default 15 s; under 20 s keeps a
 *   service worker from being stopped for idleness). 0 turns periodic pings off
 * @property {number} [pingTimeoutMs] a ping without answer this long means the worker is
 *   lost (default 5 s)
 */

/**
 * What a watch reports after each ping: the instance that answered, or `undefined` when
 * none did in time.
 *
 * @callback WatchListener
 * @param {string | undefined} instance
 * @returns {void}
 */

/**
 * The worker a window talks to, watched. Make one per page with {@link GuestWorker.service}
 * or {@link GuestWorker.dedicated} and hand it to every `startViewService` of the page.
 */
export class GuestWorker {
  /** @type {'service' | 'dedicated' | 'custom'} */
  kind;
  /** @type {() => PostTarget | Promise<PostTarget>} */
  #target;
  /** @type {(() => void) | undefined} */
  #replace;
  #pingIntervalMs;
  #pingTimeoutMs;
  /** @type {string | undefined} */
  #instance;
  /** @type {Set<WatchListener>} */
  #listeners = new Set();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #timer;
  /** @type {Promise<string | undefined> | undefined} */
  #checking;
  #closed = false;

  /**
   * Registers `scriptUrl` as a (module) service worker and watches it. Resolves once the
   * registration has an active worker. The page needs no controller: messages go to the
   * registration's active worker directly, so the first visit works without a reload.
   *
   * @param {string | URL} scriptUrl
   * @param {WatchOptions & {scope?: string, type?: WorkerType}} [options]
   * @returns {Promise<GuestWorker>}
   */
  static async service(scriptUrl, { scope, type = 'module', ...watch } = {}) {
    const registration = await navigator.serviceWorker.register(scriptUrl, { scope, type, updateViaCache: 'none' });
    await activeWorker(registration);
    return new GuestWorker({ kind: 'service', target: () => activeWorker(registration), ...watch });
  }

  /**
   * Starts `scriptUrl` as a (module) dedicated worker and watches it; one that stops
   * answering is terminated and started again.
   *
   * @param {string | URL} scriptUrl
   * @param {WatchOptions & {type?: WorkerType, name?: string}} [options]
   * @returns {GuestWorker}
   */
  static dedicated(scriptUrl, { type = 'module', name, ...watch } = {}) {
    const start = () => new Worker(scriptUrl, { type, name });
    let worker = start();
    return new GuestWorker({
      kind: 'dedicated',
      target: () => worker,
      replace: () => {
        worker.terminate();
        worker = start();
      },
      ...watch,
    });
  }

  /**
   * @param {WatchOptions & {target: () => PostTarget | Promise<PostTarget>, replace?: () => void,
   *   kind?: 'service' | 'dedicated' | 'custom'}} options `target`: where to post now;
   *   `replace`: makes a new worker when the current one is lost
   */
  constructor({ target, replace, kind = 'custom', pingIntervalMs = 15_000, pingTimeoutMs = 5_000 }) {
    this.kind = kind;
    this.#target = target;
    this.#replace = replace;
    this.#pingIntervalMs = pingIntervalMs;
    this.#pingTimeoutMs = pingTimeoutMs;
    this.#schedule();
  }

  /** @returns {string | undefined} the instance that answered the last ping */
  get instance() {
    return this.#instance;
  }

  /** @returns {Promise<PostTarget>} where to post now */
  async target() {
    return this.#target();
  }

  /**
   * Calls `listener` after every ping with the instance that answered (or `undefined`).
   *
   * @param {WatchListener} listener
   * @returns {() => void} unsubscribes
   */
  watch(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Pings now (one ping however many callers ask at once) and tells the listeners. A
   * session calls this when it suspects its bridge (writes wait for answers that do not
   * come).
   *
   * @returns {Promise<string | undefined>} the instance, or undefined if none answered
   */
  check() {
    this.#checking ??= this.#ping().finally(() => {
      this.#checking = undefined;
      this.#schedule();
    });
    return this.#checking;
  }

  /** Stops pinging (a dedicated worker is terminated by its owner, not here). */
  close() {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#listeners.clear();
  }

  async #ping() {
    /** @type {string | undefined} */
    let instance;
    try {
      instance = await pingWorker(await this.#target(), this.#pingTimeoutMs);
    } catch {
      instance = undefined;
    }
    if (this.#closed) return instance;
    this.#instance = instance;
    if (instance === undefined) this.#replace?.();
    for (const listener of [...this.#listeners]) {
      try {
        listener(instance);
      } catch (error) {
        // A listener's bug must not stop the watch; it still shows up in the console.
        setTimeout(() => {
          throw error;
        });
      }
    }
    return instance;
  }

  #schedule() {
    clearTimeout(this.#timer);
    if (this.#closed || this.#pingIntervalMs <= 0) return;
    this.#timer = setTimeout(() => void this.check(), this.#pingIntervalMs);
  }
}

/**
 * The registration's active worker, waiting for an installing or waiting one to activate.
 *
 * @param {ServiceWorkerRegistration} registration
 * @returns {Promise<ServiceWorker>}
 */
async function activeWorker(registration) {
  for (;;) {
    if (registration.active) return registration.active;
    const pending = registration.installing ?? registration.waiting;
    if (!pending) throw new Error('the service worker registration has no worker');
    await new Promise((resolve) => pending.addEventListener('statechange', resolve, { once: true }));
  }
}
