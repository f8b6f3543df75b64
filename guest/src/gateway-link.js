// gateway-guest-run's link to one host service, through the gateway (PROTOCOL.md section 5).
//
// A browser streams a request body one way per fetch, so a link is a pair: an upload
// (streaming request body, guest -> host) and a download (streaming response, host ->
// guest), tied by the guest id. Either request can fail on its own, the gateway refuses a
// download whose upload it has not seen, and the service worker running this can be stopped
// at any time; so the link reopens the pair with backoff, resumes the download from the last
// `seq` seen, and sends again every write (event with an `id`) the host has not
// acknowledged. Where the browser cannot stream an upload, batched POSTs replace it.

import { MAX_EVENT_BYTES, linkError } from './event.js';
import { lineDecoder, utf8Length } from './ndjson.js';
import { HeldWrites } from './held-writes.js';
import { chunkGate } from './pacing.js';
import { Backoff, BACKOFF_INITIAL_MS, BACKOFF_MAX_MS } from './backoff.js';
import { CheckedWritable } from './checked-writable.js';

/** @typedef {import('./event.js').Event} Event */

/** @typedef {'connecting' | 'open' | 'reconnecting' | 'closed'} LinkStatus */

/**
 * @callback FetchLike
 * @param {string} url
 * @param {RequestInit & {duplex?: 'half'}} init
 * @returns {Promise<Response>}
 */

/**
 * @typedef {object} Timers
 * @property {(callback: () => void, ms: number) => unknown} setTimeout
 * @property {(handle: any) => void} clearTimeout
 */

/**
 * @typedef {object} GatewayLinkOptions
 * @property {string} baseUrl the gateway's origin (and path prefix, if any)
 * @property {string} service host service to link to
 * @property {string} link this guest's name for the link: `[A-Za-z0-9_-]{1,64}`
 * @property {GuestIdentity} [guest] share one between the links of a guest; default: its own
 * @property {number} [resumeAfter] the last `seq` already seen (by an earlier run of this
 *   link, e.g. before the worker was restarted): the first download resumes after it, and
 *   events up to it are dropped as replays
 * @property {Record<string, string>} [params] query parameters for the download, handed to
 *   the host service as link parameters (`mode` and `after` are the runtime's)
 * @property {FetchLike} [fetch] default: the global fetch
 * @property {Timers} [timers] default: the global setTimeout/clearTimeout
 * @property {() => number} [random] in [0, 1), for backoff jitter; default Math.random
 * @property {'auto' | 'stream' | 'batch'} [uploadMode] default `auto` ({@link supportsRequestStreams})
 * @property {(event: Event) => string | undefined} [ackMatcher] the write id an event
 *   acknowledges, if any; default {@link defaultAckMatcher}
 * @property {(status: LinkStatus) => void} [onStatus] called on each change of {@link GatewayLink#status}
 * @property {number} [idleTimeoutMs] reopen when the download carries no bytes this long
 *   while the app is reading (default 45 s; the gateway sends heartbeats every 15 s)
 * @property {number} [heartbeatMs] heartbeat on an upload idle this long (default 15 s)
 * @property {number} [backoffInitialMs] first reopen delay (default 250 ms)
 * @property {number} [backoffMaxMs] cap on the reopen delay (default 30 s)
 * @property {number} [maxPending] writes held: unsent plus unacknowledged (default 1024).
 *   This is the link's window: a pipelined writer keeps at most this many events in flight,
 *   so it must cover what a busy path holds in its queues (round trip x rate: at 40k events/s
 *   and a loaded 25 ms, 1,000)
 * @property {number} [maxPendingBytes] bytes of the writes held, encoded (default 1 MiB): a
 *   write waits while more are held, unless nothing is (so one event up to maxEventBytes
 *   always goes)
 * @property {number} [maxEventBytes] refuse bigger events locally (default 64 KiB)
 * @property {number} [maxBatchEvents] events per upload chunk or batch POST (default 128)
 * @property {number} [maxBatchBytes] bytes per upload chunk or batch POST (default 64 KiB)
 * @property {number} [highWaterMark] events the readable holds before reading pauses (default 16)
 */

/**
 * The default ack matcher: an event acknowledges write `x` when its `data.ack` is `x`, or
 * when its type is `ack` and its `id` is `x`.
 *
 * @param {Event} event
 * @returns {string | undefined}
 */
export function defaultAckMatcher(event) {
  const data = /** @type {{ack?: unknown} | null | undefined} */ (event.data);
  if (data && typeof data === 'object' && typeof data.ack === 'string') return data.ack;
  if (event.type === 'ack' && typeof event.id === 'string') return event.id;
  return undefined;
}

/**
 * Whether fetch can stream a request body here: the test from the Chrome article
 * "Streaming requests with the fetch API". A browser that knows `duplex` reads it; one that
 * does not stream bodies turns the stream into the string "[object ReadableStream]" and
 * sets a text content-type. Chromium passes this but streams only over HTTP/2, which the
 * link also notices at run time (see {@link GatewayLink}).
 *
 * @param {typeof Request} [RequestClass]
 * @returns {boolean}
 */
export function supportsRequestStreams(RequestClass = globalThis.Request) {
  if (typeof RequestClass !== 'function' || typeof ReadableStream !== 'function') return false;
  let duplexRead = false;
  try {
    const hasContentType = new RequestClass('http://localhost/', {
      body: new ReadableStream(),
      method: 'POST',
      // @ts-ignore: `duplex` is not in every RequestInit type yet
      get duplex() {
        duplexRead = true;
        return 'half';
      },
    }).headers.has('Content-Type');
    return duplexRead && !hasContentType;
  } catch {
    return false;
  }
}

/**
 * The guest id every request of a guest carries: issued by the gateway (`POST /guest`),
 * fetched once and kept. Share one instance between the links of a guest.
 */
export class GuestIdentity {
  /** @type {string} */
  #baseUrl;
  /** @type {FetchLike} */
  #fetch;
  /** @type {string | undefined} */
  #id;
  /** @type {Promise<string> | undefined} */
  #pending;

  /**
   * @param {{baseUrl: string, fetch?: FetchLike, id?: string}} options `id`: one kept from earlier
   */
  constructor({ baseUrl, fetch = defaultFetch(), id }) {
    this.#baseUrl = baseUrl;
    this.#fetch = fetch;
    this.#id = id;
  }

  /** @returns {string | undefined} the id, once known */
  get id() {
    return this.#id;
  }

  /**
   * The guest id, asking the gateway for one the first time (one request however many
   * callers wait). Fails when the gateway cannot be reached or answers badly.
   *
   * @returns {Promise<string>}
   */
  get() {
    if (this.#id !== undefined) return Promise.resolve(this.#id);
    this.#pending ??= this.#fetch(resolveUrl(this.#baseUrl, 'guest'), { method: 'POST' })
      .then(async (response) => {
        if (!response.ok) {
          const refusal = await readRefusal(response);
          // The reason only: a server's message is not for the app's people (GatewayLink#serverNotice).
          const reason = REASON.test(refusal.error) ? refusal.error : 'an unexpected body';
          throw new Error(`POST /guest answered ${response.status} with ${reason}`);
        }
        const body = await response.json();
        if (typeof body?.guest !== 'string') throw new Error('POST /guest answered without "guest"');
        this.#id = body.guest;
        return body.guest;
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }

  /**
   * Forgets `id` (the gateway refused it), so the next {@link get} asks for a new one.
   *
   * @param {string} id
   */
  invalidate(id) {
    if (this.#id === id) this.#id = undefined;
  }
}

/**
 * @typedef {object} Outcome how one attempt at the pair of requests ended
 * @property {'retry' | 'complete' | 'terminal'} kind
 * @property {Event} [notice] the link.error to surface
 */

/**
 * @typedef {object} Pending a write held until sent (and, with an `id`, acknowledged)
 * @property {Event} event
 * @property {string} line its NDJSON line; encoded with the others of its chunk, once
 * @property {number} size the line's length in UTF-8
 * @property {string | undefined} id
 * @property {'no' | 'inflight' | 'yes'} sent
 */

const LINK_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * Refusals and fatal `link.error` reasons that the same request would get again however often
 * it is retried: the link ends on them (PROTOCOL.md sections 2, 3 and 5, gateway/README.md).
 * The download's HTTP refusals 400, 403, 404, 405 and 505 are terminal whatever their reason.
 */
const TERMINAL = new Set([
  'unknown_service',
  'forbidden_service',
  'bad_link_name',
  'bad_params',
  'bad_param',
  'http2_required',
  'method_not_allowed',
]);
const TERMINAL_STATUS = new Set([400, 403, 404, 405, 505]);
/** A reason is a code the app can switch on; anything else from a server is not one. */
const REASON = /^[a-z][a-z0-9_]{0,63}$/;
/** How much of a server's own message a notice keeps, as `detail`. */
const MAX_DETAIL_CHARS = 200;
const MAX_NOTICES = 64;
const utf8 = new TextEncoder();

/**
 * One guest link to a host service through the gateway.
 *
 * `readable` carries the host's events to the app, plus a `link.error` event for every
 * error met on the way (refusals, dropped connections, idle timeouts, events refused
 * locally): nothing is swallowed. Each `link.error` the link makes itself has
 * `data.reconnect` set when the link goes on by reopening. `link.heartbeat` and
 * `link.ready` are consumed. An event whose `seq` is not above the last one seen is a
 * replay after a resume and is dropped.
 *
 * `writable` takes the app's events for the host. A write resolves once the event is
 * queued; a write with an `id` stays held until the host acknowledges it (see `ackMatcher`)
 * and is sent again on every reopen until then, so the host must apply writes by `id`
 * once. At most `maxPending` writes (of at most `maxPendingBytes`) are held; a write waits
 * for room (backpressure). An event that is not a valid envelope fails its own write (a
 * TypeError; through a pipe: skipped, with a non-fatal `link.error`), and the writes after
 * it go on; an event over `maxEventBytes` is refused with a non-fatal `link.error` (reason
 * `event_too_large`) and skipped. Closing `writable` resolves once every held write is sent and acknowledged, and
 * ends the upload.
 *
 * Completion: when the download ends without a fatal `link.error`, the host service has
 * finished: the link closes and `readable` ends. Refusals that retrying cannot fix
 * (`forbidden_service`, `unknown_service`, ...: see TERMINAL) close it too, after their
 * `link.error`, and writes then fail with that reason. Every other failure is retried with a
 * backoff that starts over only once the host service has said `link.ready`; `status` is
 * `reconnecting` meanwhile. Cancelling `readable` or calling {@link close} closes it;
 * held writes are dropped and `writable` errors.
 */
export class GatewayLink {
  /** @type {ReadableStream<Event>} */
  readable;
  /** @type {WritableStream<Event>} */
  writable;

  #o;
  /** @type {Required<Pick<GatewayLinkOptions, 'fetch' | 'timers' | 'random' | 'ackMatcher'>>} */
  #deps;
  /** @type {GuestIdentity} */
  #guest;
  /** @type {'stream' | 'batch'} */
  #mode;
  /** @type {LinkStatus} */
  #status = 'connecting';
  /** @type {HeldWrites<Pending>} */
  #outbox = new HeldWrites();
  /** @type {Event[]} */
  #notices = [];
  #droppedNotices = 0;
  /** @type {number | undefined} */
  #lastSeq;
  /** @type {Attempt | undefined} */
  #attempt;
  #everOpen = false;
  #closed = false;
  #writerClosed = false;
  #batchesRunning = false;
  #uploadFailures = 0;
  /** set when a batch-mode download opens: the gateway may number batches from 0 again */
  #batchPairRenewed = false;
  /** counts attempts: a batch posted during one attempt may have gone to a pair now gone */
  #attemptCount = 0;
  /** @type {Set<() => void>} */
  #waiters = new Set();
  /** @type {Set<() => void>} */
  #sleepers = new Set();
  /** @type {WritableStreamDefaultController | undefined} */
  #writeController;

  /** @param {GatewayLinkOptions} options */
  constructor(options) {
    if (!LINK_NAME.test(options.link)) throw new TypeError(`bad link name: ${options.link}`);
    if (!options.service) throw new TypeError('a service name is required');
    this.#o = {
      idleTimeoutMs: 45_000,
      heartbeatMs: 15_000,
      backoffInitialMs: BACKOFF_INITIAL_MS,
      backoffMaxMs: BACKOFF_MAX_MS,
      maxPending: 1024,
      maxPendingBytes: 1024 * 1024,
      maxEventBytes: MAX_EVENT_BYTES,
      maxBatchEvents: 128,
      maxBatchBytes: 64 * 1024,
      highWaterMark: 16,
      ...options,
    };
    const fetch = options.fetch ?? defaultFetch();
    this.#deps = {
      fetch,
      timers: options.timers ?? { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h) },
      random: options.random ?? Math.random,
      ackMatcher: options.ackMatcher ?? defaultAckMatcher,
    };
    this.#guest = options.guest ?? new GuestIdentity({ baseUrl: options.baseUrl, fetch });
    if (options.resumeAfter !== undefined) {
      if (!(Number.isSafeInteger(options.resumeAfter) && options.resumeAfter >= 0)) {
        throw new TypeError(`resumeAfter must be a non-negative integer: ${options.resumeAfter}`);
      }
      this.#lastSeq = options.resumeAfter;
    }
    const mode = options.uploadMode ?? 'auto';
    this.#mode = mode === 'auto' ? (supportsRequestStreams() ? 'stream' : 'batch') : mode;

    this.readable = new ReadableStream(
      {
        pull: (controller) => this.#pull(controller),
        cancel: (reason) => this.close(reason),
      },
      { highWaterMark: this.#o.highWaterMark },
    );
    this.writable = new CheckedWritable(
      {
        start: (controller) => {
          this.#writeController = controller;
        },
        write: (event) => this.#write(event),
        close: () => this.#drain(),
        abort: () => {
          this.#writerClosed = true;
          this.#wake();
        },
      },
      (problem) => this.#notify(linkError(problem.reason, problem.message, problem.id === undefined ? {} : { event: problem.id })),
      { highWaterMark: 1 },
    );
    this.#o.onStatus?.(this.#status);
    if (this.#mode === 'batch') void this.#runBatches();
    void this.#run();
  }

  /** @returns {LinkStatus} */
  get status() {
    return this.#status;
  }

  /** @returns {number} writes with an `id` not yet acknowledged by the host (sent or not) */
  get unacknowledged() {
    return this.#outbox.identified();
  }

  /** @returns {number | undefined} the last `seq` received: the download resumes after it */
  get lastSeq() {
    return this.#lastSeq;
  }

  /** @returns {'stream' | 'batch'} how events go up: a streaming upload, or batched POSTs */
  get uploadMode() {
    return this.#mode;
  }

  /**
   * Closes the link: both requests are aborted, held writes are dropped, `writable` errors
   * with `reason`, and `readable` ends after the events it already holds. Calling it again
   * has no effect.
   *
   * @param {unknown} [reason]
   * @returns {Promise<void>}
   */
  async close(reason) {
    if (this.#closed) return;
    this.#closed = true;
    this.#attempt?.end({ kind: 'terminal' });
    this.#outbox.clear();
    try {
      this.#writeController?.error(reason ?? new Error('link closed'));
    } catch {
      // already errored or closed
    }
    this.#setStatus('closed');
    for (const wake of [...this.#sleepers]) wake();
    this.#wake();
  }

  // --- the app's side -----------------------------------------------------------------

  /** @param {ReadableStreamDefaultController<Event>} controller */
  async #pull(controller) {
    for (;;) {
      const notice = this.#notices.shift();
      if (notice) {
        controller.enqueue(notice);
        return;
      }
      if (this.#droppedNotices > 0) {
        controller.enqueue(
          linkError('notices_dropped', `${this.#droppedNotices} link errors were dropped while nobody read`, {
            count: this.#droppedNotices,
          }),
        );
        this.#droppedNotices = 0;
        return;
      }
      if (this.#closed) {
        controller.close();
        return;
      }
      const attempt = this.#attempt;
      if (!attempt?.reader || attempt.outcome) {
        await this.#changed();
        continue;
      }
      // The events of a chunk already read go first, one per pull.
      const decoded = attempt.takeEvent();
      if (decoded) {
        const accepted = this.#accept(decoded, attempt);
        if (accepted) {
          controller.enqueue(accepted);
          return;
        }
        continue;
      }
      if (attempt.downloadDone) {
        attempt.end(attempt.fatal ?? { kind: 'complete' });
        continue;
      }
      // The read outlives a wake-up (a notice to deliver, an ack): it is kept on the attempt
      // and awaited again, so no byte is lost, and the idle clock runs from its start.
      if (!attempt.pendingRead) {
        attempt.pendingRead = attempt.reader.read().then(
          (result) => ({ result }),
          (error) => ({ error }),
        );
        attempt.reading(true);
      }
      const change = this.#subscribe();
      const read = await Promise.race([attempt.pendingRead, change.promise.then(() => undefined)]);
      change.cancel();
      if (read === undefined) continue;
      attempt.pendingRead = undefined;
      attempt.reading(false);
      // Once an attempt has ended, what its reader yields (done on cancel, abort errors)
      // means nothing: the events after lastSeq come again on the next download.
      if (attempt.outcome) continue;
      if (read.error !== undefined || !read.result) {
        // After a fatal link.error the body was ending anyway: that error says why.
        attempt.end(attempt.fatal ?? retry('connection_lost', `download: ${errorMessage(read.error)}`));
        continue;
      }
      if (read.result.done) attempt.endOfDownload();
      else attempt.decode(read.result.value);
    }
  }

  /** @param {Event} event checked by {@link CheckedWritable}: a valid envelope */
  async #write(event) {
    const named = event.id === undefined ? {} : { event: event.id };
    let line;
    try {
      line = JSON.stringify(event) + '\n';
    } catch (error) {
      // A BigInt or a cycle in `data`: this event cannot be sent, the next ones can.
      this.#notify(linkError('malformed_event', `an event that is not JSON was not sent: ${errorMessage(error)}`, named));
      return;
    }
    const size = utf8Length(line);
    if (size > this.#o.maxEventBytes) {
      this.#notify(linkError('event_too_large', `an event of ${size} bytes was not sent`, named));
      return;
    }
    while (!this.#closed && this.#outbox.full(size, this.#o.maxPending, this.#o.maxPendingBytes)) await this.#changed();
    if (this.#closed) throw new Error('link closed');
    this.#outbox.add({ event, line, size, id: event.id, sent: 'no' });
    this.#wake();
  }

  async #drain() {
    this.#writerClosed = true;
    this.#wake();
    while (this.#outbox.length > 0 && !this.#closed) await this.#changed();
    if (this.#closed) throw new Error('link closed before every write was acknowledged');
  }

  // --- the pair of requests -------------------------------------------------------------

  async #run() {
    const backoff = this.#newBackoff();
    while (!this.#closed) {
      const attempt = new Attempt(this.#deps.timers);
      this.#attempt = attempt;
      // Whatever the last attempt sent and the host has not acknowledged goes again.
      this.#attemptCount++;
      this.#outbox.resendSent();
      this.#wake();
      try {
        await this.#connect(attempt);
      } catch (error) {
        attempt.end(retry('connect_failed', errorMessage(error)));
      }
      const outcome = /** @type {Outcome} */ (attempt.outcome);
      this.#attempt = undefined;
      // Only the host service's own link.ready counts as a success: a gateway that answers
      // and then reports connect_failed has not connected anything.
      if (attempt.healthy) backoff.reset();
      // A host that says when to come back (`busy`'s retryAfter) is waited for at least that long.
      const delay = outcome.kind === 'retry' && !this.#closed ? Math.max(backoff.next(), hintedWaitMs(outcome.notice)) : undefined;
      if (delay !== undefined) this.#setStatus('reconnecting');
      let notice = outcome.notice;
      if (notice) notice = delay !== undefined ? retrying(notice, delay) : outcome.kind === 'terminal' ? final(notice) : notice;
      if (notice) this.#notify(notice);
      this.#wake();
      if (this.#closed) break;
      if (delay === undefined) {
        await this.close(notice && outcome.kind === 'terminal' ? linkFailure(notice) : undefined);
        break;
      }
      await this.#sleep(delay);
    }
  }

  /**
   * Opens the upload, then the download, and returns when the attempt has ended.
   *
   * @param {Attempt} attempt
   */
  async #connect(attempt) {
    const guest = await this.#guest.get();
    const headers = { 'eventpaths-guest': guest };
    const signal = attempt.controller.signal;
    const mode = this.#mode;
    if (mode === 'stream') {
      this.#deps
        .fetch(this.#url('up'), {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/x-ndjson' },
          body: this.#uploadBody(attempt),
          duplex: 'half',
          signal,
        })
        .then(
          (response) =>
            this.#uploadAnswered(attempt, response, guest).catch((error) =>
              attempt.end(retry('connection_lost', `upload: ${errorMessage(error)}`)),
            ),
          (error) => {
            if (attempt.outcome) return;
            // Before the download is open this may be a browser that cannot stream an
            // upload (Chromium over HTTP/1.1): the download's answer tells which.
            if (!attempt.open) attempt.uploadError = error;
            else attempt.end(retry('connection_lost', `upload: ${errorMessage(error)}`));
          },
        );
    }
    /** @type {Record<string, string>} */
    const query = { ...this.#o.params };
    delete query.mode;
    delete query.after;
    if (this.#lastSeq !== undefined) query.after = String(this.#lastSeq);
    if (mode === 'batch') query.mode = 'batch';
    let response;
    try {
      response = await this.#deps.fetch(this.#url('down', query), {
        method: 'GET',
        headers: { ...headers, accept: 'application/x-ndjson' },
        signal,
      });
    } catch (error) {
      attempt.end(retry('connect_failed', `download: ${errorMessage(error)}`));
      return;
    }
    if (attempt.uploadError !== undefined) {
      response.body?.cancel().catch(() => {});
      this.#uploadFailed(attempt, response.status);
      return;
    }
    if (!response.ok || !response.body) {
      const refusal = await readRefusal(response);
      if (response.status === 401) this.#guest.invalidate(guest);
      const terminal = TERMINAL_STATUS.has(response.status) || TERMINAL.has(refusal.error);
      attempt.end({
        kind: terminal ? 'terminal' : 'retry',
        notice: this.#serverNotice(refusal.error, refusal.message, {
          fatal: true,
          reconnect: !terminal,
          status: response.status,
        }),
      });
      return;
    }
    if (attempt.outcome) {
      response.body.cancel().catch(() => {});
      return;
    }
    // Read here and decoded here, with no stream between: each enqueue into a stream cost
    // Chromium more than parsing the line (guest/README.md, "Browser bench").
    attempt.reader = response.body.getReader();
    attempt.lines = lineDecoder({ maxEventBytes: this.#o.maxEventBytes });
    attempt.startIdle(this.#o.idleTimeoutMs, () =>
      attempt.end(retry('idle_timeout', `nothing from the gateway for ${this.#o.idleTimeoutMs} ms`)),
    );
    attempt.open = true;
    if (mode === 'batch' && this.#everOpen) this.#batchPairRenewed = true;
    this.#everOpen = true;
    this.#uploadFailures = 0;
    // 'open' waits for the host service's link.ready (#accept): the gateway answering is not
    // the service answering.
    this.#wake();
    await attempt.ended;
  }

  /**
   * @param {Attempt} attempt
   * @param {number} downloadStatus
   */
  #uploadFailed(attempt, downloadStatus) {
    // The gateway answered the download, so it is reachable: the upload itself could not
    // be sent. Twice in a row means this browser cannot stream it here: go to batches.
    this.#uploadFailures++;
    const message = `upload: ${errorMessage(attempt.uploadError)} (download answered ${downloadStatus})`;
    if (this.#uploadFailures >= 2 && this.#mode === 'stream') {
      this.#mode = 'batch';
      void this.#runBatches();
      attempt.end(retry('upload_streaming_unavailable', `${message}; using batched POSTs`));
    } else {
      attempt.end(retry('connection_lost', message));
    }
  }

  /**
   * @param {Attempt} attempt
   * @param {Response} response
   * @param {string} guest
   */
  async #uploadAnswered(attempt, response, guest) {
    if (attempt.outcome) return;
    // A 200 is a normal end: either this link ended the body (its writer closed), or the
    // gateway ended the pair (its host link finished or failed) and answered the upload
    // at once. The download then still holds what the host sent last, and its own end (or
    // its link.error) says what comes next, so nothing is decided here.
    if (response.ok) return;
    const refusal = await readRefusal(response);
    if (attempt.outcome) return;
    if (response.status === 401) this.#guest.invalidate(guest);
    if (response.status === 505 && this.#mode === 'stream') {
      // No streaming upload on this path: batches may still go (the download decides).
      this.#mode = 'batch';
      void this.#runBatches();
    }
    // The gateway refuses a link's upload for the same reasons as its download, and either
    // answer can come first.
    const terminal =
      response.status !== 505 && (TERMINAL_STATUS.has(response.status) || TERMINAL.has(refusal.error));
    attempt.end({
      kind: terminal ? 'terminal' : 'retry',
      notice: this.#serverNotice(refusal.error, refusal.message, {
        fatal: true,
        reconnect: !terminal,
        status: response.status,
      }),
    });
  }

  /**
   * The upload's body: pulled by fetch, so it takes held writes only as fast as the
   * network takes them, several per chunk when several are waiting.
   *
   * @param {Attempt} attempt
   * @returns {ReadableStream<Uint8Array>}
   */
  #uploadBody(attempt) {
    const heartbeat = () =>
      attempt.armHeartbeat(this.#o.heartbeatMs, () => {
        attempt.heartbeatDue = true;
        this.#wake();
      });
    // Something to send at once: some fetch implementations (Node's over HTTP/1.1) send no
    // request at all until the body yields its first chunk, and the gateway cannot pair
    // an upload it has not seen.
    attempt.heartbeatDue = true;
    const gate = chunkGate();
    return new ReadableStream(
      {
        start: heartbeat,
        pull: async (controller) => {
          // Fetch asks again right after each chunk: after the first in a task, wait for the
          // task to end and send everything written in it as one chunk (pacing.js).
          await gate.ready();
          for (;;) {
            if (attempt.outcome || this.#closed) return;
            const batch = this.#takeBatch();
            if (batch.length > 0) {
              for (const p of batch) p.sent = 'yes';
              this.#outbox.forgetUnidentified(batch);
              controller.enqueue(encodeLines(batch));
              gate.sent();
              heartbeat();
              this.#wake();
              return;
            }
            if (this.#writerClosed) {
              attempt.armHeartbeat(0, undefined);
              controller.close();
              return;
            }
            if (attempt.heartbeatDue) {
              // Without it the gateway's idle timeout, or a proxy's, ends a quiet upload.
              attempt.heartbeatDue = false;
              controller.enqueue(utf8.encode('{"type":"link.heartbeat","data":{}}\n'));
              heartbeat();
              return;
            }
            await this.#changed();
          }
        },
      },
      { highWaterMark: 0 },
    );
  }

  /**
   * @param {Event} event
   * @param {Attempt} attempt
   * @returns {Event | undefined} what the app gets, if anything
   */
  #accept(event, attempt) {
    if (event.type === 'link.ready') {
      // The host service answered: the link is open, and the next reconnect starts the
      // backoff over.
      attempt.healthy = true;
      this.#setStatus('open');
      return undefined;
    }
    if (event.type === 'link.heartbeat') return undefined;
    // An ack counts even on a replay: either way the host has applied that write.
    const acked = this.#deps.ackMatcher(event);
    if (acked !== undefined) this.#acknowledge(acked);
    if (typeof event.seq === 'number') {
      if (this.#lastSeq !== undefined && event.seq <= this.#lastSeq) return undefined;
      this.#lastSeq = event.seq;
    }
    if (event.type === 'link.error') {
      const data = /** @type {Partial<import('./event.js').LinkErrorData>} */ (event.data ?? {});
      if (data.fatal) {
        // The pair is ending (the body ends next). The notice goes to the app once the
        // attempt is over, with what the link does about it (#run).
        const reason = String(data.reason);
        const terminal = TERMINAL.has(reason);
        attempt.fatal = {
          kind: terminal ? 'terminal' : 'retry',
          notice: this.#serverNotice(reason, data.message, {
            fatal: true,
            reconnect: !terminal,
            ...(typeof data.retryAfter === 'number' ? { retryAfter: data.retryAfter } : {}),
          }),
        };
        return undefined;
      }
      // A refused write is final: sending it again would be refused again.
      if (typeof data.event === 'string') this.#acknowledge(data.event);
    }
    return event;
  }

  /** @param {string} id */
  #acknowledge(id) {
    if (this.#outbox.settle(id)) this.#wake();
  }

  // --- batched-POST fallback ------------------------------------------------------------

  async #runBatches() {
    if (this.#batchesRunning) return;
    this.#batchesRunning = true;
    let k = 0;
    while (!this.#closed) {
      const batch = this.#takeBatch();
      if (batch.length === 0) {
        await this.#changed();
        continue;
      }
      for (const p of batch) p.sent = 'inflight';
      // The same k always carries the same bytes: that is what makes a retry safe.
      const body = encodeLines(batch);
      const formedIn = this.#attemptCount;
      const backoff = this.#newBackoff();
      let applied = false;
      for (;;) {
        if (this.#closed) return;
        // A new attempt (a new pair) began: writes sent before it went to a pair that may
        // have died with them, and are being sent again from the oldest. This batch must
        // not go ahead of them (the host would answer out of order, and the older answers
        // would then look like replays), so it is formed again, in order, behind them.
        if (this.#attemptCount !== formedIn) break;
        const result = await this.#postBatch(k, body);
        if (result.done) {
          applied = true;
          this.#batchPairRenewed = false;
          break;
        }
        if (result.notice) this.#notify(result.notice);
        if (result.expected !== undefined) k = result.expected;
        if (result.refused) {
          // The gateway will never take these: drop them, like a refused streamed write.
          for (const p of batch) p.sent = 'yes';
          this.#outbox.retain((p) => !batch.includes(p));
          this.#wake();
          break;
        }
        await this.#sleep(result.retryAfterMs ?? backoff.next());
      }
      if (applied) k++;
      // Applied during the attempt it was formed in: sent. Otherwise (not applied, or
      // applied by a pair that has since been replaced) it goes again with the others.
      const sent = applied && this.#attemptCount === formedIn;
      for (const p of batch) if (p.sent === 'inflight') p.sent = sent ? 'yes' : 'no';
      if (!sent) this.#outbox.mayHaveUnsent();
      this.#outbox.forgetUnidentified(batch);
      this.#wake();
    }
  }

  /**
   * @param {number} k
   * @param {Uint8Array} body
   * @returns {Promise<{done?: boolean, refused?: boolean, notice?: Event, expected?: number, retryAfterMs?: number}>}
   */
  async #postBatch(k, body) {
    let guest;
    try {
      guest = await this.#guest.get();
    } catch (error) {
      return { notice: linkError('connect_failed', errorMessage(error), { reconnect: true }) };
    }
    let response;
    try {
      response = await this.#deps.fetch(this.#url('batch', { n: String(k) }), {
        method: 'POST',
        headers: { 'eventpaths-guest': guest, 'content-type': 'application/x-ndjson' },
        // Always a plain ArrayBuffer-backed array; the cast only settles TS's generic typing.
        body: /** @type {BodyInit} */ (/** @type {unknown} */ (body)),
      });
    } catch (error) {
      return { notice: linkError('connect_failed', `batch ${k}: ${errorMessage(error)}`, { reconnect: true }) };
    }
    if (response.ok) {
      // 200 {"duplicate": true} is a retry of a batch already applied: done as well.
      response.body?.cancel().catch(() => {});
      return { done: true };
    }
    const refusal = await readRefusal(response);
    // Flow control, not an error: the gateway asks us to wait and send the same batch.
    if (response.status === 429) return { retryAfterMs: retryAfterMs(response) ?? undefined };
    if (response.status === 401) this.#guest.invalidate(guest);
    const notice = this.#serverNotice(refusal.error, refusal.message, { status: response.status, batch: k, reconnect: true });
    if (response.status === 409 && refusal.error === 'batch_gap' && Number.isSafeInteger(refusal.expected)) {
      const expected = /** @type {number} */ (refusal.expected);
      // A gateway numbers batches per pair, and a reopened download is a new pair: starting
      // again from its `expected` is the normal case then, not an error.
      const quiet = this.#batchPairRenewed && expected < k;
      return { notice: quiet ? undefined : notice, expected, retryAfterMs: 0 };
    }
    // 404 no_link: the download (which the batches belong to) is being reopened.
    const retryable =
      response.status >= 500 || refusal.action === 'reopen' || [401, 404, 408, 409, 425].includes(response.status);
    return retryable ? { notice } : { notice: { ...notice, data: { ...notice.data, reconnect: false } }, refused: true };
  }

  // --- helpers ----------------------------------------------------------------------------

  /** @returns {Pending[]} the next unsent writes, in order, within the batch limits */
  #takeBatch() {
    return this.#outbox.takeUnsent(this.#o.maxBatchEvents, this.#o.maxBatchBytes);
  }

  /** @param {Event} notice */
  #notify(notice) {
    if (this.#notices.length >= MAX_NOTICES) this.#droppedNotices++;
    else this.#notices.push(notice);
    this.#wake();
  }

  /** @param {LinkStatus} status */
  #setStatus(status) {
    if (this.#status === status) return;
    if (this.#status === 'closed') return;
    this.#status = status;
    try {
      this.#o.onStatus?.(status);
    } catch (error) {
      this.#notify(linkError('status_callback_failed', errorMessage(error)));
    }
  }

  #newBackoff() {
    return new Backoff({ initialMs: this.#o.backoffInitialMs, maxMs: this.#o.backoffMaxMs, random: this.#deps.random });
  }

  /**
   * A `link.error` for what a server said (a refusal, a fatal link.error): its `message` is
   * this runtime's own words, since the server's text may be internal (an upstream's URL,
   * an exception) and apps show `message` to people; the server's text goes in `detail`,
   * cut short, for a developer's console.
   *
   * @param {unknown} reason
   * @param {unknown} serverMessage
   * @param {Record<string, unknown> & {status?: number}} extra
   */
  #serverNotice(reason, serverMessage, extra) {
    const fallback = extra.status === undefined ? 'unknown_reason' : `http_${extra.status}`;
    const code = typeof reason === 'string' && REASON.test(reason) ? reason : fallback;
    const detail = typeof serverMessage === 'string' && serverMessage !== '' ? { detail: serverMessage.slice(0, MAX_DETAIL_CHARS) } : {};
    return linkError(code, explain(code, this.#o.service, this.#o.link, extra.status), { ...extra, ...detail });
  }

  /** Wakes everything waiting in {@link #changed}. */
  #wake() {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w();
  }

  /**
   * A wake-up to wait for: something changed (a write, an ack, a notice, a connection, a
   * close). `cancel` unregisters it, so a waiter that lost a race does not linger.
   *
   * @returns {{promise: Promise<void>, cancel: () => void}}
   */
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

  /**
   * @param {number} ms
   * @returns {Promise<void>} after `ms`, or at once when the link closes
   */
  #sleep(ms) {
    return new Promise((resolve) => {
      const { timers } = this.#deps;
      const done = () => {
        timers.clearTimeout(handle);
        this.#sleepers.delete(done);
        resolve();
      };
      const handle = timers.setTimeout(done, ms);
      this.#sleepers.add(done);
      if (this.#closed) done();
    });
  }

  /**
   * @param {'up' | 'down' | 'batch'} kind
   * @param {Record<string, string>} [query]
   */
  #url(kind, query = {}) {
    const path = `g/${encodeURIComponent(this.#o.service)}/${encodeURIComponent(this.#o.link)}/${kind}`;
    const url = new URL(resolveUrl(this.#o.baseUrl, path));
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    return url.href;
  }
}

/** One try at the pair of requests: ends once, with an {@link Outcome}. */
class Attempt {
  controller = new AbortController();
  /** @type {ReadableStreamDefaultReader<Uint8Array> | undefined} the download's bytes */
  reader;
  /** @type {ReturnType<typeof lineDecoder> | undefined} */
  lines;
  /** @type {Outcome | undefined} */
  outcome;
  open = false;
  /** true once the host service said link.ready: the next reopen starts the backoff over */
  healthy = false;
  /** @type {Outcome | undefined} set by a fatal link.error on the download: the body ends next */
  fatal;
  /** @type {unknown} */
  uploadError;
  /** the download's bytes have ended: once its last events are taken, the attempt ends */
  downloadDone = false;
  /** @type {Promise<Outcome>} */
  ended;
  /** @type {(outcome: Outcome) => void} */
  #resolve = () => {};
  #timers;
  /** @type {Event[]} events of the chunks read, not yet taken: at most one chunk's worth */
  #events = [];
  #nextEvent = 0;
  #pushEvent = (/** @type {Event} */ event) => void this.#events.push(event);
  /** @type {QuietTimer | undefined} no byte of the download while a read waits */
  #idle;
  #isReading = false;
  /** @type {QuietTimer | undefined} nothing sent on the upload */
  #heartbeat;
  heartbeatDue = false;
  /** @type {Promise<{result?: ReadableStreamReadResult<Uint8Array>, error?: unknown}> | undefined} */
  pendingRead;

  /** @param {Timers} timers */
  constructor(timers) {
    this.#timers = timers;
    this.ended = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** @param {Outcome} outcome the first one counts */
  end(outcome) {
    if (this.outcome) return;
    this.outcome = outcome;
    this.stopIdle();
    this.armHeartbeat(0, undefined);
    this.controller.abort();
    this.reader?.cancel().catch(() => {});
    this.#events = [];
    this.#resolve(outcome);
  }

  /** @param {Uint8Array} chunk bytes of the download: the peer is alive */
  decode(chunk) {
    this.#idle?.touch();
    this.lines?.push(chunk, this.#pushEvent);
  }

  endOfDownload() {
    this.lines?.end(this.#pushEvent);
    this.downloadDone = true;
  }

  /** @returns {Event | undefined} the next decoded event, if one is waiting */
  takeEvent() {
    if (this.#nextEvent >= this.#events.length) return undefined;
    const event = this.#events[this.#nextEvent++];
    if (this.#nextEvent === this.#events.length) {
      this.#events = [];
      this.#nextEvent = 0;
    }
    return event;
  }

  /**
   * Starts the idle watch: `onIdle` runs once a read of the download has waited `ms` with no
   * byte. Only a pending read counts: while the app reads nothing, the link is not idle.
   *
   * @param {number} ms
   * @param {() => void} onIdle
   */
  startIdle(ms, onIdle) {
    this.#idle?.stop();
    this.#idle = new QuietTimer(this.#timers, ms, () => {
      if (!this.outcome) onIdle();
    }, () => !this.#isReading);
  }

  /** @param {boolean} reading a read of the download is (true) or is no longer (false) pending */
  reading(reading) {
    this.#isReading = reading;
    // The quiet time is counted from the read's start.
    if (reading) this.#idle?.touch();
  }

  stopIdle() {
    this.#idle?.stop();
    this.#idle = undefined;
  }

  /**
   * Something went up (or the upload starts): `onDue` runs once `ms` pass with nothing sent.
   * `onDue` undefined stops the heartbeat.
   *
   * @param {number} ms
   * @param {(() => void) | undefined} onDue
   */
  armHeartbeat(ms, onDue) {
    if (!onDue || this.outcome) {
      this.#heartbeat?.stop();
      this.#heartbeat = undefined;
    } else if (this.#heartbeat?.running && this.#heartbeat.ms === ms) {
      this.#heartbeat.onDue = onDue;
      this.#heartbeat.touch();
    } else {
      this.#heartbeat?.stop();
      this.#heartbeat = new QuietTimer(this.#timers, ms, onDue);
    }
  }
}

/**
 * Runs `onDue` once `ms` have passed since the last `touch()` (or its start), then stops. It is
 * not re-armed per touch (a browser's setTimeout and clearTimeout were a tenth of a busy link's
 * main-thread time): one timer runs per period and, when it fires, looks at how long ago the
 * last touch was, then fires or waits the rest. While `paused()` says so, it waits whole periods.
 */
class QuietTimer {
  #timers;
  /** @type {unknown} */
  #handle;
  #last = performance.now();
  #paused;

  /**
   * @param {Timers} timers
   * @param {number} ms
   * @param {() => void} onDue
   * @param {() => boolean} [paused]
   */
  constructor(timers, ms, onDue, paused = () => false) {
    this.#timers = timers;
    this.ms = ms;
    this.onDue = onDue;
    this.#paused = paused;
    this.#arm(ms);
  }

  get running() {
    return this.#handle !== undefined;
  }

  touch() {
    this.#last = performance.now();
  }

  stop() {
    if (this.#handle !== undefined) this.#timers.clearTimeout(this.#handle);
    this.#handle = undefined;
  }

  /** @param {number} ms */
  #arm(ms) {
    this.#handle = this.#timers.setTimeout(() => {
      this.#handle = undefined;
      const quiet = performance.now() - this.#last;
      if (this.#paused()) this.#arm(this.ms);
      else if (quiet >= this.ms) this.onDue();
      else this.#arm(this.ms - quiet);
    }, ms);
  }
}

/**
 * @param {string} reason
 * @param {string} message
 * @param {Record<string, unknown>} [extra]
 * @returns {Outcome}
 */
function retry(reason, message, extra = {}) {
  return { kind: 'retry', notice: linkError(reason, message, { fatal: true, reconnect: true, ...extra }) };
}

/**
 * The notice of a failed attempt, saying when the link tries again.
 *
 * @param {Event} notice
 * @param {number} delayMs
 * @returns {Event}
 */
function retrying(notice, delayMs) {
  const data = /** @type {import('./event.js').LinkErrorData} */ (notice.data);
  const retryInMs = Math.round(delayMs);
  return { ...notice, data: { ...data, reconnect: true, retryInMs, message: `${data.message}; retrying in ${seconds(retryInMs)}` } };
}

/**
 * The notice of a refusal the link ends on.
 *
 * @param {Event} notice
 * @returns {Event}
 */
function final(notice) {
  const data = /** @type {import('./event.js').LinkErrorData} */ (notice.data);
  return { ...notice, data: { ...data, reconnect: false, message: `${data.message}; not retrying` } };
}

/** The most a server's `retryAfter` hint (seconds) may make the link wait. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * The wait a fatal `link.error` asks for in its `retryAfter` (seconds), in ms; 0 without one.
 *
 * @param {Event | undefined} notice
 */
function hintedWaitMs(notice) {
  const hint = /** @type {{retryAfter?: unknown}} */ (notice?.data ?? {}).retryAfter;
  return typeof hint === 'number' && hint > 0 ? Math.min(hint * 1000, MAX_RETRY_AFTER_MS) : 0;
}

/** @param {number} ms */
function seconds(ms) {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * What a terminal refusal makes the link's writes fail with: an Error an app can catch and
 * switch on (`reason`), carrying the same words as its `link.error`.
 *
 * @param {Event} notice
 * @returns {Error & {reason: string}}
 */
function linkFailure(notice) {
  const data = /** @type {import('./event.js').LinkErrorData} */ (notice.data);
  const error = /** @type {Error & {reason: string}} */ (new Error(`link ended: ${data.message}`));
  error.name = 'LinkError';
  error.reason = data.reason;
  return error;
}

/**
 * This runtime's words for a reason a server gave (see GatewayLink#serverNotice).
 *
 * @param {string} reason
 * @param {string} service
 * @param {string} link
 * @param {number} [status]
 */
function explain(reason, service, link, status) {
  const s = JSON.stringify(service);
  switch (reason) {
    case 'connect_failed':
      return `the gateway could not reach the host service ${s}`;
    case 'unknown_service':
      return `the gateway offers no service ${s} to guests`;
    case 'forbidden_service':
      return `guests may not link to ${s}`;
    case 'bad_link_name':
      return `the gateway refused the link name ${JSON.stringify(link)}`;
    case 'bad_params':
      return `the gateway refused the link's parameters (at most 16; names up to 32, values up to 256 characters)`;
    case 'bad_param':
      return `the host service ${s} refused the link's parameters`;
    case 'http2_required':
      return `the gateway streams guest links over HTTP/2 only, and this connection is not`;
    case 'method_not_allowed':
      return `the gateway refused the request's method`;
    case 'service_failed':
      return `the host service ${s} failed`;
    case 'shutting_down':
      return 'the gateway is stopping';
    case 'bad_guest':
      return 'the gateway did not accept the guest id; asking for a new one';
    case 'unpaired':
    case 'superseded':
    case 'duplicate_stream':
    case 'pairing_timeout':
      return `the gateway could not pair this link's two requests (${reason})`;
    case 'too_many_links':
    case 'too_many_streams':
      return `the gateway holds too many links for this guest (${reason})`;
    default:
      return status === undefined
        ? `the link to ${s} ended (${reason})`
        : `the gateway answered ${status} (${reason})`;
  }
}

/**
 * Reads a refusal's JSON body (`{"error": ..., "message": ...}`), tolerating any other body.
 *
 * @param {Response} response
 * @returns {Promise<{error: string, message?: string, [key: string]: unknown}>}
 */
async function readRefusal(response) {
  const fallback = { error: `http_${response.status}` };
  try {
    const text = await response.text();
    const body = JSON.parse(text);
    if (body && typeof body === 'object' && typeof body.error === 'string') return body;
    return fallback;
  } catch {
    return fallback;
  }
}

/** @param {Response} response */
function retryAfterMs(response) {
  const value = response.headers.get('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * @param {Pending[]} batch
 * @returns {Uint8Array} the batch's lines as one NDJSON chunk
 */
function encodeLines(batch) {
  let text = '';
  for (const p of batch) text += p.line;
  return utf8.encode(text);
}

/** @param {unknown} error */
function errorMessage(error) {
  if (error instanceof Error) {
    const cause = /** @type {{cause?: {message?: string, code?: string}}} */ (error).cause;
    return cause?.code || cause?.message ? `${error.message} (${cause.code ?? cause.message})` : error.message;
  }
  return String(error);
}

/**
 * @param {string} base
 * @param {string} path relative, no leading slash
 */
function resolveUrl(base, path) {
  const root = new URL(base, /** @type {any} */ (globalThis).location?.href);
  if (!root.pathname.endsWith('/')) root.pathname += '/';
  return new URL(path, root).href;
}

/** @returns {FetchLike} */
function defaultFetch() {
  // Bound: browsers refuse a fetch called as a method of another object.
  return (url, init) => globalThis.fetch(url, init);
}
