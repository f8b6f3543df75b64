// The write side's outbox: every command the window gives the write service is stored
// (IndexedDB in the browser, see outbox-idb.js) and sent to tasks-write, and leaves the store
// only when tasks-write settles it: an `ack` (durable in the log) or a `command.rejected`
// (final). Whatever is still stored when the link to tasks-write is opened again, or when a
// new worker starts, is sent again in the order it was stored. tasks-write applies a command
// id once, so a command sent twice is applied once: a change made while disconnected, or while
// the worker was being restarted, is applied exactly once.
//
// A command is sent while it is being stored, not after: the store's commit (a durable
// IndexedDB transaction, 1-11 ms in Chromium here) stays off the path of every change to the
// screen. Nothing is weaker for it. Until the store says the command is durable the tab's
// session still holds it (the write service answers `outbox.stored` only then), and a tab
// gives what it holds to the next worker; a command that went out before a worker stopped is
// applied once however often it is sent again.
//
// The storage is abstract (OutboxStore) so these rules are tested in Node with a Map.

import { isEventType } from '../src/event.js';
import { keepOpen } from './keep-open.js';

/** @typedef {import('../src/index.js').Event} Event */

/**
 * One stored command. `n` orders the outbox (the order commands were given).
 *
 * @typedef {{id: string, n: number, event: Event}} OutboxRecord
 */

/**
 * Where the outbox keeps its commands. Each method's promise settles once the change is
 * durable (for IndexedDB: the transaction completed).
 *
 * @typedef {object} OutboxStore
 * @property {() => Promise<OutboxRecord[]>} load every record, in any order
 * @property {(record: OutboxRecord) => Promise<void>} put
 * @property {(id: string) => Promise<void>} delete
 */

/**
 * How a command left the outbox (or why it never entered): the event tasks-write answered
 * (`ack` or `command.rejected`), or a `command.rejected` made here (`outbox_full`,
 * `outbox_failed`, `event_too_large`...).
 *
 * @typedef {Event & {data: {ack: string, reason?: string, message?: string, seq?: number}}} Outcome
 */

/**
 * What {@link Outbox#add} answers: stored (durable), refused with an outcome, or gone out but
 * not stored (`sent`: the caller keeps holding it until tasks-write settles it).
 *
 * @typedef {{id: string, stored: true} | {id: string, stored: false, outcome: Outcome} | {id: string, stored: false, sent: true, error: unknown}} AddResult
 */

/** A store in memory: for tests, and for browsers without IndexedDB (nothing survives then). */
export class MemoryOutboxStore {
  /** @type {Map<string, OutboxRecord>} */
  records = new Map();

  async load() {
    return [...this.records.values()].map((r) => structuredClone(r));
  }

  /** @param {OutboxRecord} record */
  async put(record) {
    this.records.set(record.id, structuredClone(record));
  }

  /** @param {string} id */
  async delete(id) {
    this.records.delete(id);
  }
}

/**
 * @param {string} id
 * @param {string} reason
 * @param {string} message
 * @returns {Outcome}
 */
export const rejection = (id, reason, message) => ({ type: 'command.rejected', id, data: { ack: id, reason, message } });

/** A command id made here: unguessable enough that two browsers never make the same one. */
export function newCommandId() {
  return `c-${crypto.randomUUID()}`;
}

/**
 * The outbox's rules. Commands are sent through a sink (the link to tasks-write, see
 * {@link connectOutbox}) one at a time, in stored order; attaching a new sink sends everything
 * still stored again, from the oldest.
 */
export class Outbox {
  #store;
  #limit;
  /** @type {Map<string, OutboxRecord>} in `n` order (insertion order of a Map) */
  #pending = new Map();
  #nextN = 1;
  /** @type {Promise<void>} */
  #loaded;
  /** @type {((event: Event) => Promise<void>) | undefined} */
  #sink;
  #generation = 0;
  /** @type {Promise<void>} sends, in order */
  #queue = Promise.resolve();
  /** @type {Set<(outcome: Outcome, command: Event | undefined) => void>} */
  #onSettled = new Set();
  /** @type {Set<() => void>} */
  #onChange = new Set();
  /** @type {Map<string, Promise<unknown>>} puts not yet finished, by id: a delete waits for its put */
  #storing = new Map();
  /** @type {WeakSet<OutboxRecord>} records handed to a sink at least once */
  #sent = new WeakSet();
  /** @type {Map<string, unknown>} ids pending here that went out but could not be stored, with why */
  #unsaved = new Map();
  /** @type {Promise<void>} admissions, in call order */
  #admissions = Promise.resolve();

  /**
   * @param {{store: OutboxStore, limit?: number}} options `limit`: most commands held (default
   *   1,000); a command over it is refused with `outbox_full` rather than queued without bound
   */
  constructor({ store, limit = 1000 }) {
    this.#store = store;
    this.#limit = limit;
    this.#loaded = store.load().then((records) => {
      records.sort((a, b) => a.n - b.n);
      for (const r of records) {
        this.#pending.set(r.id, r);
        this.#nextN = Math.max(this.#nextN, r.n + 1);
      }
    });
  }

  /** Resolves once what an earlier worker left in the store has been loaded. */
  get loaded() {
    return this.#loaded;
  }

  /** @returns {number} commands stored and not yet settled */
  get size() {
    return this.#pending.size;
  }

  /**
   * @param {string} id
   * @returns {boolean} whether that command is held here, not yet settled
   */
  has(id) {
    return this.#pending.has(id);
  }

  /** @returns {Event[]} the stored commands, oldest first */
  pending() {
    return [...this.#pending.values()].map((r) => r.event);
  }

  /**
   * Stores a command and sends it, both at once (the send does not wait for the store). A
   * command without an `id` gets one; a command whose id is already stored is not stored twice.
   * Commands go out in the order `add` was called, whether or not earlier puts have finished:
   * a caller may add the next command before the last one's answer.
   *
   * A store that fails refuses the command (`outbox_failed`) if it has not gone out yet. If it
   * has, it cannot be taken back: it stays pending here (sent again on a new link while this
   * outbox lives) and the answer says `sent: true`, so the caller keeps holding it until
   * tasks-write settles it.
   *
   * @param {Event} event
   * @returns {Promise<AddResult>} `stored: true` once it is durable in the store; otherwise why not
   */
  add(event) {
    // Admissions run one after another, in call order (a repeated id waits for its put there),
    // so the order commands are numbered and sent in is the order they were given.
    const admitted = this.#admissions.then(() => this.#admit(event));
    this.#admissions = admitted.then(
      () => {},
      () => {},
    );
    return admitted.then((a) => ('done' in a ? a.done : a.result));
  }

  /**
   * @param {Event} event
   * @returns {Promise<{result: AddResult} | {done: Promise<AddResult>}>} an answer now, or the
   *   put to wait for (wrapped: resolving with it would make the next admission wait too)
   */
  async #admit(event) {
    await this.#loaded;
    const id = typeof event.id === 'string' && event.id.length > 0 && event.id.length <= 128 ? event.id : newCommandId();
    // Given again (a tab's session sends what it holds again) while its put runs: the answer
    // waits for that put, whose outcome it is.
    await this.#storing.get(id)?.catch(() => {});
    if (this.#pending.has(id)) {
      return { result: this.#unsaved.has(id) ? { id, stored: false, sent: true, error: this.#unsaved.get(id) } : { id, stored: true } };
    }
    if (!isEventType(event.type) || event.type.startsWith('link.')) {
      // The link would refuse to send it at all: refused here, with the same kind of reason.
      return { result: { id, stored: false, outcome: rejection(id, 'missing_type', 'a command needs a valid "type"') } };
    }
    if (this.#pending.size >= this.#limit) {
      const outcome = rejection(id, 'outbox_full', `${this.#pending.size} changes are waiting to be sent; try again once they are`);
      return { result: { id, stored: false, outcome } };
    }
    const record = { id, n: this.#nextN++, event: { ...event, id } };
    const put = this.#store.put(record);
    this.#storing.set(id, put);
    this.#pending.set(id, record);
    this.#changed();
    this.#enqueue(record, this.#generation);
    return { done: this.#stored(record, put) };
  }

  /**
   * @param {OutboxRecord} record
   * @param {Promise<void>} put
   * @returns {Promise<AddResult>}
   */
  async #stored(record, put) {
    const { id } = record;
    try {
      await put;
      return { id, stored: true };
    } catch (error) {
      if (this.#sent.has(record)) {
        this.#unsaved.set(id, error);
        return { id, stored: false, sent: true, error };
      }
      if (this.#pending.get(id) === record) {
        this.#pending.delete(id);
        this.#changed();
      }
      return { id, stored: false, outcome: rejection(id, 'outbox_failed', `could not keep the change: ${error}`) };
    } finally {
      this.#storing.delete(id);
    }
  }

  /**
   * Settles a command: it leaves the store, and listeners hear how. Unknown ids (settled
   * already, or never ours) are ignored.
   *
   * @param {Outcome} outcome
   */
  async settle(outcome) {
    const id = outcome.data.ack;
    await this.#loaded;
    const record = this.#pending.get(id);
    if (!record) return;
    this.#pending.delete(id);
    this.#unsaved.delete(id);
    this.#changed();
    for (const listener of this.#onSettled) listener(outcome, record.event);
    // An ack can come back before the put has finished: the delete must not run first.
    await this.#storing.get(id)?.catch(() => {});
    // A delete that fails leaves a settled command stored; the next load sends it again. An
    // applied one is answered by its id and not applied twice (the log's command_id is
    // unique), then deleted. A rejected one is judged again, and could now apply where it was
    // refused before: rare (a failed IndexedDB delete, then a reload), left as it is.
    await this.#store.delete(id).catch(() => {});
  }

  /**
   * Sends one stored command again (tasks-write could not take it now: `overloaded`).
   *
   * @param {string} id
   */
  resend(id) {
    const record = this.#pending.get(id);
    if (record) this.#enqueue(record, this.#generation);
  }

  /**
   * Sends through `sink` from now on: first everything stored, oldest first, then each new
   * command. Replaces the previous sink (whose queued sends are dropped).
   *
   * @param {(event: Event) => Promise<void>} sink resolves when the next may be sent
   */
  async attach(sink) {
    const generation = ++this.#generation;
    this.#sink = sink;
    await this.#loaded;
    if (generation !== this.#generation) return;
    for (const record of this.#pending.values()) this.#enqueue(record, generation);
  }

  /** Stops sending (the link is gone); what is stored stays. */
  detach() {
    this.#generation++;
    this.#sink = undefined;
  }

  /**
   * @param {(outcome: Outcome, command: Event | undefined) => void} listener hears each command
   *   settled (with the command; a command refused before it was stored has none here)
   * @returns {() => void}
   */
  onSettled(listener) {
    this.#onSettled.add(listener);
    return () => this.#onSettled.delete(listener);
  }

  /** @param {() => void} listener called when the number of stored commands changes */
  onChange(listener) {
    this.#onChange.add(listener);
    return () => this.#onChange.delete(listener);
  }

  #changed() {
    for (const listener of this.#onChange) listener();
  }

  /**
   * @param {OutboxRecord} record
   * @param {number} generation
   */
  #enqueue(record, generation) {
    this.#queue = this.#queue.then(async () => {
      const sink = this.#sink;
      if (!sink || generation !== this.#generation || this.#pending.get(record.id) !== record) return;
      this.#sent.add(record);
      await sink(record.event).catch(() => {});
    });
  }
}

/**
 * Feeds a tab's commands into the outbox as they come: each is sent at once, without waiting
 * for the puts of the ones before it (a burst goes out together; IndexedDB commits one strict
 * transaction at a time, 1-11 ms each here), with at most `maxStoring` puts unfinished (then it
 * stops reading `commands`: backpressure to the tab). The default is the most writes a tab's
 * session holds unanswered (`maxPending`, 1,024), so one tab's burst is never held back here: at
 * 32 a burst of 200 reached tasks-write in 6-8 clumps, each waiting for the last one's puts.
 * `answer` hears each command's {@link AddResult} in the order the commands came. Resolves when
 * `commands` ends and every command has been answered.
 *
 * @param {AsyncIterable<unknown>} commands
 * @param {Outbox} outbox
 * @param {(result: AddResult) => void} answer
 * @param {{maxStoring?: number}} [options]
 */
export async function takeCommands(commands, outbox, answer, { maxStoring = 1024 } = {}) {
  let storing = 0;
  /** @type {Promise<void>} answers, in order */
  let answered = Promise.resolve();
  /** @type {(() => void) | undefined} */
  let room;
  for await (const command of commands) {
    if (!command || typeof command !== 'object') continue;
    const result = outbox.add(/** @type {Event} */ (command));
    storing++;
    answered = answered
      .then(() => result)
      .then(answer)
      .catch(() => {})
      .finally(() => {
        storing--;
        room?.();
      });
    while (storing >= maxStoring) await new Promise((resolve) => (room = () => resolve(undefined)));
    room = undefined;
  }
  await answered;
}

/** A link to tasks-write as the outbox uses it (a GatewayLink fits). */
/** @typedef {{readable: ReadableStream<Event>, writable: WritableStream<Event>, close(reason?: unknown): Promise<void>}} CommandLink */

/** Non-fatal link.errors naming a command that mean "not taken now, send it again". */
const RETRY = new Set(['overloaded', 'store_failed']);

/**
 * Keeps `outbox` connected to tasks-write: opens a link, attaches it as the outbox's sink,
 * and settles commands from what comes back:
 * - `ack` and `command.rejected` (by `data.ack`) settle their command;
 * - a non-fatal `link.error` naming a command settles it as rejected with that reason
 *   (`event_too_large`: the link refused to send it), except `overloaded` and `store_failed`,
 *   after which the command is sent again;
 * - any other `link.error` goes to `onError`.
 * When the link ends (closed for good), another is opened after `retryMs` and everything
 * stored is sent again.
 *
 * @param {Outbox} outbox
 * @param {() => CommandLink} openLink
 * @param {{onError?: (event: Event) => void, retryMs?: number, setTimeout?: (fn: () => void, ms: number) => unknown}} [options]
 * @returns {() => void} stops (closes the link, opens no other)
 */
export function connectOutbox(outbox, openLink, { onError = () => {}, retryMs = 1000, setTimeout: later = setTimeout } = {}) {
  const stop = keepOpen(
    () => {
      const link = openLink();
      const writer = link.writable.getWriter();
      writer.closed.catch(() => {});
      void outbox.attach((event) => writer.write(event));
      return link;
    },
    async (link) => {
      let served = false;
      let terminal = false;
      for await (const event of link.readable) {
        const data = /** @type {Record<string, unknown>} */ (event.data && typeof event.data === 'object' ? event.data : {});
        if (event.type !== 'link.error') served = true;
        else if (data.reconnect === false) terminal = true;
        // Not awaited: a settle ends with the store's delete, and reading the next answer only
        // after it made a burst's acks wait for one IndexedDB transaction each. Settles still
        // run in order (each takes its command out of the outbox before its delete); the
        // deletes that wait meanwhile go in one transaction (outbox-idb.js), and there are at
        // most as many as the outbox holds commands.
        if ((event.type === 'ack' || event.type === 'command.rejected') && typeof data.ack === 'string') {
          outbox.settle(/** @type {Outcome} */ (event)).catch(() => {});
        } else if (event.type === 'link.error' && !data.fatal && typeof data.event === 'string') {
          const reason = String(data.reason);
          if (RETRY.has(reason)) later(() => outbox.resend(/** @type {string} */ (data.event)), retryMs);
          else outbox.settle(rejection(data.event, reason, String(data.message ?? reason))).catch(() => {});
        } else if (event.type === 'link.error') {
          onError(event);
        }
      }
      return { served, terminal };
    },
    {
      retryMs,
      setTimeout: later,
      // The next link's attach sends everything stored again.
      onEnd: (_, error) => {
        outbox.detach();
        if (error !== undefined) onError({ type: 'link.error', data: { reason: 'connection_lost', message: String(error), fatal: true } });
      },
    },
  );
  return () => {
    outbox.detach();
    stop('stopped');
  };
}
