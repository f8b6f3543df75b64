// The worker's copy of one board: ONE link to tasks-read's `board` service and one to
// presence-read's `presence` per board, whatever the number of tabs showing it, and a feed
// per tab. The hub applies tasks-read's snapshot and changes with the board rules
// (board-state.js) and keeps the last `historyLimit` changes; each tab's feed holds a
// position in that history, not a queue: it is pull-based, so a tab that does not read
// costs a number, and a tab that fell out of the history gets the whole board again.
//
// Events a tab gets (none carries a top-level `seq`: a new worker's first answer is a whole
// board, which the window's session must not drop as a replay):
//   board.state    {board, seq, tasks}            the whole board as of log position seq
//   task.*         {...change, seq}               one change, as tasks-read sent it
//   presence.state {board, viewers, you}          who is here, coalesced
//   board.status   {board, presence}              the state of the two host links (LinkStatus)
//   board.error    {reason, message, link}        a link.error met on a host link

import { BoardState, PresenceState } from './board-state.js';
import { keepOpen } from './keep-open.js';

/** @typedef {import('../src/index.js').Event} Event */
/** @typedef {import('../src/index.js').LinkStatus} LinkStatus */
/** @typedef {{readable: ReadableStream<Event>, writable: WritableStream<Event>, close(reason?: unknown): Promise<void>}} HostLink */

/**
 * @callback OpenLink opens a link to a host service (a GatewayLink in the worker)
 * @param {'board' | 'presence'} service
 * @param {Record<string, string>} params the download's query
 * @param {(status: LinkStatus) => void} onStatus
 * @returns {HostLink}
 */

/**
 * @param {string} service
 * @param {string} message
 * @returns {Event}
 */
const linkEnded = (service, message) => ({
  type: 'link.error',
  data: { reason: 'link_ended', message: `${service}: ${message}; another link opens shortly`, fatal: true },
});

export class BoardHub {
  board;
  #open;
  #historyLimit;
  #errorLimit;
  state = new BoardState();
  /** @type {number | undefined} log position of `state` */
  seq;
  /** bumped on each whole board (snapshot) applied; 0 until the first */
  epoch = 0;
  /** @type {Event[]} the changes since the snapshot, at most `historyLimit` */
  history = [];
  /** absolute index of history[0] */
  historyStart = 0;
  presence = new PresenceState();
  presenceVersion = 0;
  /** @type {{board: LinkStatus, presence: LinkStatus}} */
  status = { board: 'connecting', presence: 'connecting' };
  statusVersion = 0;
  /** @type {Event[]} the last `errorLimit` errors */
  errors = [];
  errorCount = 0;
  /** @type {{tasks: import('./board-state.js').Task[], seq: number | undefined} | undefined} a snapshot arriving in parts */
  #partial;
  /** @type {Set<() => void>} */
  #waiters = new Set();
  /** @type {((reason?: unknown) => void)[]} what stops each host link's keepOpen */
  #stops = [];
  #closed = false;

  #retryMs;
  #later;

  /**
   * @param {{board: string, openLink: OpenLink, historyLimit?: number, errorLimit?: number, retryMs?: number,
   *   setTimeout?: (fn: () => void, ms: number) => unknown}} options `retryMs`: how long after a
   *   link ended for good another is opened
   */
  constructor({ board, openLink, historyLimit = 500, errorLimit = 16, retryMs = 1000, setTimeout: later = setTimeout }) {
    this.board = board;
    this.#open = openLink;
    this.#historyLimit = historyLimit;
    this.#errorLimit = errorLimit;
    this.#retryMs = retryMs;
    this.#later = later;
  }

  /** Opens the two host links and applies what they bring until {@link close}. */
  start() {
    if (this.#closed) return;
    for (const service of /** @type {const} */ (['board', 'presence'])) {
      // Should a link end for good (keep-open.js), the tabs are told, as a board.error, and
      // keep the board they have until the next link's snapshot.
      const stop = keepOpen(
        () =>
          this.#open(service, { board: this.board }, (status) => {
            this.status = { ...this.status, [service]: status };
            this.statusVersion++;
            this.#wake();
          }),
        (link) => this.#read(service, link),
        {
          retryMs: this.#retryMs,
          setTimeout: this.#later,
          onEnd: (_, error) =>
            this.#error(service, linkEnded(service, error === undefined ? 'the host ended the link' : String(error))),
        },
      );
      this.#stops.push(stop);
    }
  }

  /**
   * Applies what one host link brings until it ends. Nothing is written to either service,
   * but the upload stays open: the link's heartbeats on it keep the host's idle timeout from
   * ending the link.
   *
   * @param {'board' | 'presence'} service
   * @param {HostLink} link
   */
  async #read(service, link) {
    let served = false;
    let terminal = false;
    for await (const event of link.readable) {
      if (service === 'board') this.applyBoard(event);
      else if (event.type.startsWith('presence.')) {
        if (this.presence.apply(event)) this.#bump('presence');
      }
      if (event.type === 'link.error') {
        this.#error(service, event);
        terminal ||= /** @type {{reconnect?: boolean}} */ (event.data ?? {}).reconnect === false;
      } else {
        served = true;
      }
    }
    return { served, terminal };
  }

  /**
   * Applies one event of tasks-read's `board` stream.
   *
   * @param {Event} event
   */
  applyBoard(event) {
    const data = /** @type {Record<string, unknown>} */ (event.data && typeof event.data === 'object' ? event.data : {});
    if (event.type === 'board.snapshot' || event.type === 'board.snapshot.more') {
      if (event.type === 'board.snapshot') this.#partial = { tasks: [], seq: event.seq };
      if (!this.#partial) return;
      if (Array.isArray(data.tasks)) this.#partial.tasks.push(...data.tasks);
      if (data.complete === false) return;
      this.state = new BoardState(this.#partial.tasks);
      this.seq = this.#partial.seq;
      this.#partial = undefined;
      this.epoch++;
      this.historyStart += this.history.length;
      this.history = [];
      this.#wake();
    } else if (event.type.startsWith('task.') && this.epoch > 0) {
      this.state.apply(event.type, data);
      if (typeof event.seq === 'number') this.seq = event.seq;
      this.history.push({ type: event.type, id: event.id, data: { ...data, seq: event.seq } });
      if (this.history.length > this.#historyLimit) {
        this.history.shift();
        this.historyStart++;
      }
      this.#wake();
    }
  }

  /**
   * A tab's feed: the whole board first (once there is one), then changes, presence,
   * status and errors as they come. Pull-based: nothing is queued for a tab that does not
   * read; it is sent the whole board again if it falls out of the history.
   *
   * @param {AbortSignal} [signal] ends the feed
   * @returns {ReadableStream<Event>}
   */
  feed(signal) {
    let epoch = 0;
    let pos = 0;
    let statusVersion = -1;
    let presenceVersion = 0;
    let errorsSeen = this.errorCount;
    return new ReadableStream(
      {
        pull: async (controller) => {
          for (;;) {
            if (this.#closed || signal?.aborted) {
              controller.close();
              return;
            }
            if (statusVersion !== this.statusVersion) {
              statusVersion = this.statusVersion;
              controller.enqueue({ type: 'board.status', data: { ...this.status } });
              return;
            }
            if (this.epoch > 0 && (epoch !== this.epoch || pos < this.historyStart)) {
              epoch = this.epoch;
              pos = this.historyStart + this.history.length;
              controller.enqueue({ type: 'board.state', data: { board: this.board, seq: this.seq, tasks: this.state.tasks() } });
              return;
            }
            if (epoch > 0 && pos < this.historyStart + this.history.length) {
              controller.enqueue(this.history[pos++ - this.historyStart]);
              return;
            }
            if (presenceVersion !== this.presenceVersion) {
              presenceVersion = this.presenceVersion;
              controller.enqueue({
                type: 'presence.state',
                data: { board: this.board, viewers: this.presence.list(), you: this.presence.you },
              });
              return;
            }
            if (errorsSeen < this.errorCount) {
              errorsSeen = Math.max(errorsSeen, this.errorCount - this.errors.length);
              controller.enqueue(this.errors[errorsSeen - (this.errorCount - this.errors.length)]);
              errorsSeen++;
              return;
            }
            await new Promise((resolve) => {
              const wake = () => {
                this.#waiters.delete(wake);
                signal?.removeEventListener('abort', wake);
                resolve(undefined);
              };
              this.#waiters.add(wake);
              signal?.addEventListener('abort', wake, { once: true });
            });
          }
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** Closes the host links and ends every feed. */
  close() {
    this.#closed = true;
    for (const stop of this.#stops) stop('no tab shows this board');
    this.#wake();
  }

  /** @param {'presence'} what */
  #bump(what) {
    if (what === 'presence') this.presenceVersion++;
    this.#wake();
  }

  /**
   * @param {string} link
   * @param {Event} event
   */
  #error(link, event) {
    const data = /** @type {Record<string, unknown>} */ (event.data ?? {});
    this.errors.push({ type: 'board.error', data: { ...data, link } });
    if (this.errors.length > this.#errorLimit) this.errors.shift();
    this.errorCount++;
    this.#wake();
  }

  #wake() {
    for (const wake of [...this.#waiters]) wake();
  }
}
