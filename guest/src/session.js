// The window's side of one conversation with a guest service in the worker, kept alive
// across worker restarts.
//
// A bridge (bridge.js) dies with the worker realm that answered it, silently: Chromium stops
// a service worker ~30 s after its last event and the window's reads just never settle. So
// the session holds what it needs to rebuild: every write with an `id` until the guest
// service acknowledges it, and the last `seq` the view has seen. When the worker watch
// reports another instance (or none), the session drops the dead bridge, opens a new one
// with `hello: {resumeAfter}`, and sends the held writes again. The view sees one stream:
// nothing lost, nothing twice (replays are dropped by `seq`), and a `link.error` event for
// each break.

import { openBridge } from './bridge.js';
import { defaultAckMatcher } from './gateway-link.js';
import { linkError } from './event.js';
import { GuestWorker } from './worker-watch.js';
import { HeldWrites } from './held-writes.js';
import { chunkGate } from './pacing.js';
import { Backoff, BACKOFF_INITIAL_MS, BACKOFF_MAX_MS } from './backoff.js';
import { CheckedWritable } from './checked-writable.js';

/** @typedef {import('./event.js').Event} Event */
/** @typedef {import('./bridge.js').PostTarget} PostTarget */
/** @typedef {import('./gateway-link.js').LinkStatus} LinkStatus */

/**
 * What a view can show: the bridge to the worker, and each of the guest service's links to
 * host services (from the `link.status` events the worker runtime sends).
 *
 * @typedef {object} SessionStatus
 * @property {LinkStatus} bridge
 * @property {Record<string, LinkStatus>} links by the guest service's local link name
 * @property {Record<string, string>} uploads how each link sends: `stream` or `batch`
 */

/**
 * @typedef {object} SessionOptions
 * @property {GuestWorker | PostTarget} worker a watched worker; a bare PostTarget (a Worker,
 *   a MessagePort) gets no liveness check
 * @property {string} service the guest service to talk to
 * @property {import('./bridge.js').BridgeMode} [mode] how streams cross (default `auto`)
 * @property {Record<string, unknown>} [params] structured-clonable; given to each run of the
 *   guest service as `ctx.params`
 * @property {(event: Event) => string | undefined} [ackMatcher] the write id an event from the
 *   worker acknowledges; default {@link defaultAckMatcher}
 * @property {number} [maxPending] writes held, sent or not (default 1024); a write waits for room
 * @property {number} [highWaterMark] events the readable holds before reading pauses (default 16)
 * @property {number} [connectTimeoutMs] for the worker's answer to a connect (default 10 s)
 * @property {number} [stallMs] writes unanswered this long make the session ping the worker
 *   (default 5 s)
 * @property {number} [backoffInitialMs] first delay before reconnecting again (default 250 ms)
 * @property {number} [backoffMaxMs] cap on that delay (default 30 s)
 * @property {() => number} [random] in [0, 1), for backoff jitter; default Math.random
 * @property {(status: SessionStatus) => void} [onStatus] called on every change
 */

/**
 * @typedef {object} Held a write of the view, held until acknowledged (if it has an `id`)
 * @property {Event} event
 * @property {string | undefined} id
 * @property {number} size 0: a session bounds its writes by count only
 * @property {'no' | 'inflight' | 'yes'} sent whether it went over the current bridge ('inflight' unused)
 */

const MAX_NOTICES = 64;
/**
 * Events per array sent to the worker. A transferred stream carries one array at a time
 * (the next waits for the worker to ask), so this caps what one trip over the bridge moves.
 */
const MAX_FRAME = 256;

/**
 * One conversation between a view and a guest service, surviving worker restarts.
 *
 * `readable`: the guest service's events, plus `link.error` events for the breaks the
 * session met (`worker_lost` and `worker_unresponsive` with `reconnect: true`; `service_failed`
 * and `service_refused`, fatal). `link.status` events are consumed into {@link status}. An
 * event whose `seq` is not above the last one seen is a replay and is dropped.
 *
 * `writable`: the view's events. A bad event fails its own write (a TypeError; through a
 * pipe: skipped, with a non-fatal `link.error`) and the session goes on. A write resolves
 * once queued; at most `maxPending` are held
 * (backpressure). A write with an `id` is held until an event acknowledges it (`ackMatcher`)
 * and is sent again over each new bridge until then; one without is sent at most once.
 * Closing `writable` resolves once every held write is acknowledged, then ends the worker's
 * input.
 *
 * Ends when the guest service ends its output (`readable` completes), when it fails or
 * refuses the connection (a fatal `link.error`, then `readable` completes), or on
 * {@link close} / cancelling `readable`. The bridge is cancelled then, which ends the run of
 * the guest service and its links.
 */
export class ViewSession {
  /** @type {ReadableStream<Event>} */
  readable;
  /** @type {WritableStream<Event>} */
  writable;
  /** @type {Promise<void>} settles when the first bridge is open, or fails if it is refused */
  opened;

  #o;
  /** @type {GuestWorker | undefined} */
  #watch;
  /** @type {() => Promise<PostTarget>} */
  #target;
  /** @type {() => void} */
  #unwatch = () => {};
  /** @type {HeldWrites<Held>} */
  #outbox = new HeldWrites();
  /** @type {Event[]} */
  #notices = [];
  /** events of an array (frames.js) that came over a bridge and are not yet given to the view */
  /** @type {Event[]} */
  #inbox = [];
  #droppedNotices = 0;
  /** @type {number | undefined} */
  #lastSeq;
  /** @type {Epoch | undefined} */
  #epoch;
  /** @type {SessionStatus} */
  #status = { bridge: 'connecting', links: {}, uploads: {} };
  #closed = false;
  #writerClosed = false;
  #lastActivity = Date.now();
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #stallTimer;
  /** @type {Set<() => void>} */
  #waiters = new Set();
  /** @type {WritableStreamDefaultController | undefined} */
  #writeController;
  /** @type {(error?: unknown) => void} */
  #settleOpened = () => {};

  /** @param {SessionOptions} options */
  constructor(options) {
    this.#o = {
      mode: /** @type {import('./bridge.js').BridgeMode} */ ('auto'),
      ackMatcher: defaultAckMatcher,
      maxPending: 1024,
      highWaterMark: 16,
      connectTimeoutMs: 10_000,
      stallMs: 5_000,
      backoffInitialMs: BACKOFF_INITIAL_MS,
      backoffMaxMs: BACKOFF_MAX_MS,
      ...options,
    };
    const worker = options.worker;
    if (worker instanceof GuestWorker) {
      this.#watch = worker;
      this.#target = () => worker.target();
      this.#unwatch = worker.watch((instance) => this.#onPing(instance));
    } else {
      this.#target = async () => worker;
    }
    this.opened = new Promise((resolve, reject) => {
      this.#settleOpened = (error) => (error === undefined ? resolve() : reject(error));
    });
    // A caller that never looks at `opened` must not see an unhandled rejection.
    this.opened.catch(() => {});

    this.readable = new ReadableStream(
      { pull: (controller) => this.#pull(controller), cancel: (reason) => this.close(reason) },
      { highWaterMark: this.#o.highWaterMark },
    );
    this.writable = new CheckedWritable(
      {
        start: (controller) => {
          this.#writeController = controller;
        },
        write: (event) => this.#write(event),
        close: () => this.#drain(),
        abort: (reason) => this.close(reason),
      },
      (problem) => this.#notify(linkError(problem.reason, problem.message, problem.id === undefined ? {} : { event: problem.id })),
      { highWaterMark: 1 },
    );
    if (this.#watch) {
      const every = Math.max(50, Math.floor(this.#o.stallMs / 2));
      this.#stallTimer = setInterval(() => this.#checkStall(), every);
    }
    this.#o.onStatus?.(this.status);
    void this.#run();
  }

  /** @returns {SessionStatus} a copy */
  get status() {
    return { bridge: this.#status.bridge, links: { ...this.#status.links }, uploads: { ...this.#status.uploads } };
  }

  /** @returns {number | undefined} the last `seq` the view was given */
  get lastSeq() {
    return this.#lastSeq;
  }

  /** @returns {number} writes with an `id` not yet acknowledged */
  get unacknowledged() {
    return this.#outbox.identified();
  }

  /** @returns {string | undefined} the worker realm the current bridge runs to */
  get instance() {
    return this.#epoch?.instance;
  }

  /**
   * Ends the session: the bridge is cancelled (ending the guest service's run), held writes
   * are dropped, `writable` errors with `reason`, `readable` ends after what it holds.
   * Calling it again has no effect.
   *
   * @param {unknown} [reason]
   * @returns {Promise<void>}
   */
  async close(reason) {
    if (this.#closed) return;
    this.#closed = true;
    this.#epoch?.end('closed', reason);
    this.#outbox.clear();
    this.#unwatch();
    clearInterval(this.#stallTimer);
    try {
      this.#writeController?.error(reason ?? new Error('session closed'));
    } catch {
      // already errored or closed
    }
    this.#settleOpened(reason ?? new Error('session closed'));
    this.#setBridge('closed');
    this.#wake();
  }

  // --- the view's side ------------------------------------------------------------------

  /** @param {Event} event checked by {@link CheckedWritable}: a valid envelope */
  async #write(event) {
    while (this.#outbox.full(0, this.#o.maxPending) && !this.#closed) await this.#changed();
    if (this.#closed) throw new Error('session closed');
    this.#outbox.add({ event, id: typeof event.id === 'string' ? event.id : undefined, size: 0, sent: 'no' });
    this.#wake();
  }

  async #drain() {
    this.#writerClosed = true;
    this.#wake();
    while (this.#outbox.length > 0 && !this.#closed) await this.#changed();
    if (this.#closed) throw new Error('session closed before every write was acknowledged');
  }

  /** @param {ReadableStreamDefaultController<Event>} controller */
  async #pull(controller) {
    for (;;) {
      const notice = this.#notices.shift();
      if (notice) {
        controller.enqueue(notice);
        return;
      }
      if (this.#droppedNotices > 0) {
        controller.enqueue(linkError('notices_dropped', `${this.#droppedNotices} notices were dropped while nobody read`));
        this.#droppedNotices = 0;
        return;
      }
      // What arrived is delivered even if its bridge has died since: it is real, and the
      // resume point (lastSeq) moves only as events are delivered.
      const next = this.#inbox.shift();
      if (next !== undefined) {
        const event = this.#accept(next);
        if (event) {
          controller.enqueue(event);
          return;
        }
        continue;
      }
      if (this.#closed) {
        controller.close();
        return;
      }
      const epoch = this.#epoch;
      if (!epoch?.reader || epoch.outcome) {
        await this.#changed();
        continue;
      }
      // The read outlives a wake-up; it is kept on the epoch so no event is lost.
      epoch.pendingRead ??= epoch.reader.read().then(
        (result) => ({ result }),
        (error) => ({ error }),
      );
      const change = this.#subscribe();
      const read = await Promise.race([epoch.pendingRead, change.promise.then(() => undefined)]);
      change.cancel();
      if (read === undefined) continue;
      epoch.pendingRead = undefined;
      if (epoch.outcome) continue;
      if ('error' in read) {
        epoch.end('failed', read.error);
        continue;
      }
      if (read.result.done) {
        epoch.end('complete');
        continue;
      }
      const chunk = /** @type {Event | Event[]} */ (read.result.value);
      if (Array.isArray(chunk)) {
        // This worker speaks frames: from now on the writes go to it in arrays too.
        epoch.frames = true;
        this.#wake();
        this.#inbox.push(...chunk);
        continue;
      }
      const event = this.#accept(chunk);
      if (event) {
        controller.enqueue(event);
        return;
      }
    }
  }

  /**
   * @param {Event} event
   * @returns {Event | undefined} what the view gets
   */
  #accept(event) {
    this.#lastActivity = Date.now();
    if (event?.type === 'link.status') {
      const data = /** @type {{link?: unknown, status?: unknown, upload?: unknown}} */ (event.data ?? {});
      if (typeof data.link === 'string' && typeof data.status === 'string') {
        this.#status.links[data.link] = /** @type {LinkStatus} */ (data.status);
        if (typeof data.upload === 'string') this.#status.uploads[data.link] = data.upload;
        this.#emitStatus();
      }
      return undefined;
    }
    // An ack counts even on a replay: either way the write was applied.
    const acked = this.#o.ackMatcher(event);
    if (acked !== undefined && this.#outbox.settle(acked)) this.#wake();
    if (typeof event?.seq === 'number') {
      if (this.#lastSeq !== undefined && event.seq <= this.#lastSeq) return undefined;
      this.#lastSeq = event.seq;
    }
    return event;
  }

  // --- bridges ----------------------------------------------------------------------------

  async #run() {
    const backoff = new Backoff({ initialMs: this.#o.backoffInitialMs, maxMs: this.#o.backoffMaxMs, random: this.#o.random });
    let attempts = 0;
    while (!this.#closed) {
      this.#setBridge(attempts++ === 0 ? 'connecting' : 'reconnecting');
      // Whatever went over a dead bridge and was not acknowledged goes again.
      this.#outbox.resendSent();
      const epoch = new Epoch();
      this.#epoch = epoch;
      this.#wake();
      let bridge;
      try {
        bridge = await openBridge(await this.#target(), this.#upstream(epoch), {
          name: this.#o.service,
          mode: this.#o.mode,
          timeoutMs: this.#o.connectTimeoutMs,
          hello: { resumeAfter: this.#lastSeq, params: this.#o.params, frames: 'batch' },
        });
      } catch (error) {
        if (this.#closed) break;
        epoch.end('closed');
        if (/** @type {{code?: string}} */ (error)?.code !== 'worker_timeout') {
          // The worker answered, and said no: asking again would get the same answer.
          this.#notify(linkError('service_refused', errorMessage(error), { fatal: true }));
          this.#settleOpened(error);
          await this.close(error);
          break;
        }
        this.#setBridge('reconnecting');
        const delay = backoff.next();
        this.#notify(
          linkError('worker_unresponsive', errorMessage(error), { fatal: true, reconnect: true, retryInMs: Math.round(delay) }),
        );
        await this.#sleep(delay);
        continue;
      }
      if (this.#closed) {
        bridge.readable.cancel('session closed').catch(() => {});
        break;
      }
      epoch.reader = bridge.readable.getReader();
      epoch.instance = bridge.instance;
      this.#lastActivity = Date.now();
      this.#setBridge('open');
      this.#settleOpened();
      this.#wake();
      const { kind, reason } = await epoch.ended;
      if (this.#closed) break;
      if (kind === 'complete') {
        // The guest service ended its output: the conversation is over.
        await this.close();
        break;
      }
      if (kind === 'failed') {
        // A read failed. A stopped worker does not fail reads (they hang), so this is the
        // service failing, unless the worker turns out to be another one now.
        const now = this.#watch ? await this.#watch.check() : epoch.instance;
        if (now === epoch.instance) {
          this.#notify(linkError('service_failed', errorMessage(reason), { fatal: true }));
          await this.close(reason);
          break;
        }
      }
      // The links went with the worker; the new run reports its own.
      for (const name of Object.keys(this.#status.links)) this.#status.links[name] = 'reconnecting';
      this.#setBridge('reconnecting');
      if (epoch.healthy) backoff.reset();
      const delay = backoff.next();
      this.#notify(
        linkError('worker_lost', `the worker running ${this.#o.service} was stopped; reconnecting`, {
          fatal: true,
          reconnect: true,
          retryInMs: Math.round(delay),
        }),
      );
      await this.#sleep(delay);
    }
  }

  /**
   * The stream the worker reads from over one bridge: the held writes not yet sent over it,
   * in order, an array of them (or one, see frames.js) per pull, so it takes them only as
   * fast as the worker reads.
   *
   * @param {Epoch} epoch
   * @returns {ReadableStream<Event | Event[]>}
   */
  #upstream(epoch) {
    const gate = chunkGate();
    return new ReadableStream(
      {
        pull: async (controller) => {
          // The bridge asks again right after each array: after the first in a task, the
          // next waits for the task to end and carries everything the view wrote in it
          // (pacing.js).
          await gate.ready();
          for (;;) {
            if (epoch.outcome || this.#closed) return;
            // One array of everything not yet sent over this bridge (frames.js), or one event
            // while the worker has not shown it reads arrays.
            const max = epoch.frames ? MAX_FRAME : 1;
            const held = this.#outbox.takeUnsent(max);
            if (held.length > 0) {
              for (const h of held) h.sent = 'yes';
              // Without an id it cannot be acknowledged, so it is not held once sent.
              this.#outbox.forgetUnidentified(held);
              const batch = held.map((h) => h.event);
              this.#lastActivity = Date.now();
              controller.enqueue(/** @type {any} */ (epoch.frames ? batch : batch[0]));
              gate.sent();
              this.#wake();
              return;
            }
            if (this.#writerClosed) {
              controller.close();
              return;
            }
            await this.#changed();
          }
        },
        cancel: (reason) => {
          // The guest service stopped reading the view: on a live bridge that is its
          // answer to the view's writes, which now have nowhere to go.
          if (epoch.outcome || this.#closed) return;
          try {
            this.#writeController?.error(reason ?? new Error('the guest service stopped reading'));
          } catch {
            // already errored
          }
          this.#outbox.retain((h) => h.sent !== 'no');
          this.#wake();
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** @param {string | undefined} instance what answered the watch's ping */
  #onPing(instance) {
    const epoch = this.#epoch;
    if (!epoch?.instance || epoch.outcome) return;
    if (instance !== epoch.instance) epoch.end('lost');
  }

  #checkStall() {
    const epoch = this.#epoch;
    if (!epoch?.instance || epoch.outcome || !this.#watch) return;
    const waiting = this.#outbox.anySent();
    if (waiting && Date.now() - this.#lastActivity > this.#o.stallMs) {
      this.#lastActivity = Date.now();
      void this.#watch.check();
    }
  }

  // --- helpers ----------------------------------------------------------------------------

  /** @param {Event} notice */
  #notify(notice) {
    if (this.#notices.length >= MAX_NOTICES) this.#droppedNotices++;
    else this.#notices.push(notice);
    this.#wake();
  }

  /** @param {LinkStatus} bridge */
  #setBridge(bridge) {
    if (this.#status.bridge === bridge || this.#status.bridge === 'closed') return;
    this.#status.bridge = bridge;
    this.#emitStatus();
  }

  #emitStatus() {
    try {
      this.#o.onStatus?.(this.status);
    } catch (error) {
      this.#notify(linkError('status_callback_failed', errorMessage(error)));
    }
  }

  /**
   * @param {number} ms
   * @returns {Promise<void>} after `ms`, or at once when the session closes
   */
  async #sleep(ms) {
    const end = Date.now() + ms;
    while (!this.#closed && Date.now() < end) {
      const change = this.#subscribe();
      const timer = setTimeout(() => this.#wake(), end - Date.now());
      await change.promise;
      clearTimeout(timer);
    }
  }

  #wake() {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w();
  }

  /** @returns {{promise: Promise<void>, cancel: () => void}} */
  #subscribe() {
    /** @type {() => void} */
    let wake = () => {};
    const promise = new Promise((resolve) => {
      wake = () => resolve(undefined);
    });
    this.#waiters.add(wake);
    return { promise, cancel: () => this.#waiters.delete(wake) };
  }

  /** @returns {Promise<void>} */
  #changed() {
    return this.#subscribe().promise;
  }
}

/**
 * @typedef {'complete' | 'failed' | 'lost' | 'closed'} EpochEnd
 */

/** One bridge's life: ends once. */
class Epoch {
  /** @type {ReadableStreamDefaultReader<Event> | undefined} */
  reader;
  /** @type {string | undefined} */
  instance;
  /** the worker sent an array: it reads arrays too (frames.js) */
  frames = false;
  /** @type {{kind: EpochEnd, reason?: unknown} | undefined} */
  outcome;
  /** @type {Promise<{result: ReadableStreamReadResult<Event>} | {error: unknown}> | undefined} */
  pendingRead;
  /** @type {Promise<{kind: EpochEnd, reason?: unknown}>} */
  ended;
  /** @type {(outcome: {kind: EpochEnd, reason?: unknown}) => void} */
  #resolve = () => {};

  constructor() {
    this.ended = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** true once the bridge opened: the next reconnect starts the backoff over */
  get healthy() {
    return this.instance !== undefined;
  }

  /**
   * @param {EpochEnd} kind
   * @param {unknown} [reason]
   */
  end(kind, reason) {
    if (this.outcome) return;
    this.outcome = { kind, reason };
    // On a dead worker this never settles; on a live one it ends the guest service's run.
    this.reader?.cancel(reason ?? kind).catch(() => {});
    this.#resolve(this.outcome);
  }
}

/** @param {unknown} error */
function errorMessage(error) {
  if (error instanceof Error) return error.message;
  return String(error);
}
