// How long to wait before the next reconnect: internal, shared by the gateway link and the
// view session, so both back off the same way.
//
// It grows on every failed attempt and starts over only when the caller says an attempt
// succeeded (for a link: its host service said `link.ready`). Growing on failure alone is
// the point: a dead host service behind a live gateway answers every attempt quickly (a 200
// and then `connect_failed`), and counting any answer as success kept thousands of guests
// retrying every ~200 ms at a gateway that could not help them.

/** First delay (ms) when nothing else is said. */
export const BACKOFF_INITIAL_MS = 250;
/** Cap on the delay (ms) when nothing else is said. */
export const BACKOFF_MAX_MS = 30_000;

/**
 * @typedef {object} BackoffOptions
 * @property {number} [initialMs] the first delay's cap (default 250 ms)
 * @property {number} [maxMs] no delay is longer (default 30 s)
 * @property {() => number} [random] in [0, 1), for the jitter; default Math.random
 */

/**
 * Capped exponential backoff with jitter: the n-th delay in a row is drawn from
 * [cap/2, cap), cap = min(maxMs, initialMs * 2^n). Half fixed, so the delay really grows;
 * half random, so a crowd of guests cut off by one outage does not come back in step.
 */
export class Backoff {
  #initialMs;
  #maxMs;
  #random;
  #failures = 0;

  /** @param {BackoffOptions} [options] */
  constructor({ initialMs = BACKOFF_INITIAL_MS, maxMs = BACKOFF_MAX_MS, random = Math.random } = {}) {
    if (!(initialMs > 0 && maxMs >= initialMs)) {
      throw new RangeError(`backoff needs 0 < initialMs <= maxMs: ${initialMs}, ${maxMs}`);
    }
    this.#initialMs = initialMs;
    this.#maxMs = maxMs;
    this.#random = random;
  }

  /** @returns {number} failed attempts since the last success */
  get failures() {
    return this.#failures;
  }

  /** @returns {number} the delay before the next attempt (ms); each call counts one failure */
  next() {
    const cap = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(this.#failures, 30));
    this.#failures++;
    return cap / 2 + (this.#random() * cap) / 2;
  }

  /** An attempt succeeded: the next delay is the first one again. */
  reset() {
    this.#failures = 0;
  }
}
