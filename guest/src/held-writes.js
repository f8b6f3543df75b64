// The writes a link (GatewayLink) or a session (ViewSession) holds until they are acknowledged:
// internal, not part of the public API.
//
// Both keep every write with an `id` until the host's answer names it, send each again after a
// reconnect, and drop a write without an `id` once it is sent (nothing could acknowledge it).
// What they share, and what made them slow when each did it alone: acks come in write order,
// so settling the oldest is O(1) (`shift()`, where `splice(0, 1)` on 1,024 held writes cost
// 4 us in V8); and the next unsent write is found from a cursor, not by walking every sent,
// unacknowledged write on each pull.

/**
 * @typedef {object} HeldWrite
 * @property {string | undefined} id what the host's acknowledgement names; none: sent once, then dropped
 * @property {number} size bytes it counts for (0 where nobody bounds bytes)
 * @property {'no' | 'inflight' | 'yes'} sent 'inflight': in a request whose outcome is not known yet
 */

/** @template {HeldWrite} W */
export class HeldWrites {
  /** @type {W[]} in write order */
  #items = [];
  #bytes = 0;
  /**
   * No write before this index is unsent: where {@link takeUnsent} starts looking. A hint, so
   * whatever may make an earlier write unsent again sets it back to 0.
   */
  #unsentFrom = 0;

  /** @returns {number} */
  get length() {
    return this.#items.length;
  }

  /** @returns {number} the sizes of the held writes, summed */
  get bytes() {
    return this.#bytes;
  }

  /** @returns {number} held writes with an `id` (those waiting for their acknowledgement) */
  identified() {
    let n = 0;
    for (const w of this.#items) if (w.id !== undefined) n++;
    return n;
  }

  /** @returns {boolean} whether any held write has gone out (and waits for its answer) */
  anySent() {
    return this.#items.some((w) => w.sent !== 'no');
  }

  /**
   * Whether a write of `size` bytes must wait: `maxCount` writes are held, or it would take the
   * held bytes past `maxBytes`. One write alone always fits, whatever its size.
   *
   * @param {number} size
   * @param {number} maxCount
   * @param {number} [maxBytes]
   */
  full(size, maxCount, maxBytes = Infinity) {
    if (this.#items.length >= maxCount) return true;
    return this.#items.length > 0 && this.#bytes + size > maxBytes;
  }

  /** @param {W} write a new write, unsent */
  add(write) {
    this.#items.push(write);
    this.#bytes += write.size;
  }

  /**
   * Lets go of the write with this `id`: acknowledged, or refused for good.
   *
   * @param {string} id
   * @returns {boolean} whether one was held
   */
  settle(id) {
    const items = this.#items;
    const at = items[0]?.id === id ? 0 : items.findIndex((w) => w.id === id);
    if (at === -1) return false;
    this.#bytes -= items[at].size;
    if (at === 0) items.shift();
    else items.splice(at, 1);
    if (at < this.#unsentFrom) this.#unsentFrom--;
    return true;
  }

  /**
   * The oldest unsent writes, in order: at most `maxCount`, and no more than `maxBytes`
   * together unless the first alone is larger. They stay unsent until the caller marks them.
   *
   * @param {number} maxCount
   * @param {number} [maxBytes]
   * @returns {W[]}
   */
  takeUnsent(maxCount, maxBytes = Infinity) {
    const items = this.#items;
    let i = this.#unsentFrom;
    while (i < items.length && items[i].sent !== 'no') i++;
    this.#unsentFrom = i;
    /** @type {W[]} */
    const batch = [];
    let bytes = 0;
    for (; i < items.length && batch.length < maxCount; i++) {
      const w = items[i];
      if (w.sent !== 'no') continue;
      if (batch.length > 0 && bytes + w.size > maxBytes) break;
      batch.push(w);
      bytes += w.size;
    }
    return batch;
  }

  /** Some write may be unsent again (a request failed): {@link takeUnsent} looks from the start. */
  mayHaveUnsent() {
    this.#unsentFrom = 0;
  }

  /** A new connection: every write sent over the old one goes again ('inflight' ones are the caller's to settle). */
  resendSent() {
    for (const w of this.#items) if (w.sent === 'yes') w.sent = 'no';
    this.#unsentFrom = 0;
  }

  /**
   * Drops the sent writes without an `id` (nothing will acknowledge them), if `sent` had any.
   *
   * @param {W[]} sent what was just marked sent
   */
  forgetUnidentified(sent) {
    if (sent.every((w) => w.id !== undefined)) return;
    this.retain((w) => w.id !== undefined || w.sent !== 'yes');
  }

  /**
   * Keeps only the writes `keep` accepts, in order.
   *
   * @param {(write: W) => boolean} keep
   */
  retain(keep) {
    this.#items = this.#items.filter(keep);
    this.#bytes = 0;
    for (const w of this.#items) this.#bytes += w.size;
    this.#unsentFrom = 0;
  }

  /** Drops every write. */
  clear() {
    this.#items = [];
    this.#bytes = 0;
    this.#unsentFrom = 0;
  }
}
